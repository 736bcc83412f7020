#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "compression.hpp"
#include "test_support.hpp"

using namespace gradlab;
using namespace gradlab::history_compressor;
using gradlab::test::lines_of;
using gradlab::test::run_cli;
using gradlab::test::TempDir;
using gradlab::test::write_text;

namespace {

// Two sequences of one-hot symbols over 3 units: example 0 has 5 steps, example 1 has 3 (padded to 5).
SequenceSet two_sequences() {
  SequenceSet s;
  s.features = 3;
  s.steps = 5;
  s.examples = 2;
  s.inputs = Matrix::Zero(3, 10);
  const int symbols0[] = {0, 1, 2, 0, 1}, symbols1[] = {2, 2, 1};
  for (int t = 0; t < 5; ++t) s.inputs(symbols0[t], t) = 1;
  for (int t = 0; t < 3; ++t) s.inputs(symbols1[t], 5 + t) = 1;
  s.lengths = {5, 3};
  s.origin = {0, 1, 2, 3, 4, 0, 1, 2, -1, -1};
  return s;
}

// A scripted predictor: at each step it predicts the true next input, except
// where `wrong` lists the (column) of the step whose prediction is off.
Matrix scripted(const SequenceSet& s, std::initializer_list<std::pair<Index, Scalar>> wrong) {
  Matrix p = Matrix::Zero(s.features, s.steps * s.examples);
  for (Index e = 0; e < s.examples; ++e)
    for (Index t = 0; t + 1 < s.length(e); ++t) p.col(e * s.steps + t) = s.inputs.col(e * s.steps + t + 1);
  for (auto [column, error] : wrong) p(0, column) += error;
  return p;
}

}  // namespace

TEST(HistoryCompressorCompression, OnlyUnpredictedInputsGoUpWithTheirStep) {
  const SequenceSet s = two_sequences();
  // Example 0: the prediction made at step 1 (of step 2) is off by 0.6, the one
  // made at step 3 (of step 4) by 0.2 (within the threshold 0.3). Example 1:
  // the prediction made at step 0 (of step 1) is off by 0.9.
  const Matrix p = scripted(s, {{1, Scalar(0.6)}, {3, Scalar(0.2)}, {5, Scalar(0.9)}});
  Index passed = 0;
  const SequenceSet up = compress(s, p, 0.3, 5, &passed);
  EXPECT_EQ(passed, 4);  // example 0: steps 0 and 2; example 1: steps 0 and 1
  EXPECT_TRUE(up.timed);
  EXPECT_EQ(up.features, 4);  // the 3 input units and the time unit
  EXPECT_EQ(up.steps, 2);     // shorter than the 5 below
  EXPECT_EQ(up.lengths, (std::vector<std::int32_t>{2, 2}));
  EXPECT_EQ(up.origin, (std::vector<std::int32_t>{0, 2, 0, 1}));
  auto expect_column = [&](Index column, Index from_column, Index bottom_step) {
    EXPECT_TRUE(up.inputs.col(column).head(3) == s.inputs.col(from_column)) << "column " << column;
    EXPECT_FLOAT_EQ(up.inputs(3, column), Scalar(bottom_step) / 5) << "column " << column;
  };
  expect_column(0, 0, 0);
  expect_column(1, 2, 2);
  expect_column(2, 5, 0);
  expect_column(3, 6, 1);
}

TEST(HistoryCompressorCompression, PerfectPredictionsLeaveOnlyTheFirstStep) {
  const SequenceSet s = two_sequences();
  Index passed = 0;
  const SequenceSet up = compress(s, scripted(s, {}), 0.3, 5, &passed);
  EXPECT_EQ(passed, 2);
  EXPECT_EQ(up.lengths, (std::vector<std::int32_t>{1, 1}));
  // A NaN prediction counts as a failure, not as a success.
  Matrix p = scripted(s, {});
  p(1, 2) = std::numeric_limits<Scalar>::quiet_NaN();
  EXPECT_EQ(compress(s, p, 0.3, 5, &passed).lengths, (std::vector<std::int32_t>{2, 1}));
  EXPECT_EQ(passed, 3);
}

TEST(HistoryCompressorCompression, ATimedLevelPassesItsInputsUpUnchanged) {
  const SequenceSet s = two_sequences();
  const SequenceSet level1 = compress(s, scripted(s, {{1, Scalar(0.6)}, {2, Scalar(0.7)}}), 0.3, 5);
  ASSERT_EQ(level1.lengths, (std::vector<std::int32_t>{3, 1}));  // steps 0, 2, 3 of example 0
  // Level 1 mispredicts its step 2 (bottom step 3) only.
  Matrix p = Matrix::Zero(level1.features, level1.steps * level1.examples);
  p.col(0) = level1.inputs.col(1);
  p.col(1) = level1.inputs.col(2);
  p(3, 1) += Scalar(0.5);  // the time unit is part of what is predicted
  const SequenceSet level2 = compress(level1, p, 0.3, 5);
  EXPECT_EQ(level2.features, level1.features);
  EXPECT_EQ(level2.lengths, (std::vector<std::int32_t>{2, 1}));
  EXPECT_EQ(level2.origin[1], 3);
  EXPECT_TRUE(level2.inputs.col(1) == level1.inputs.col(2));
  // The state at bottom step t is the one after the last input that came from a step <= t.
  EXPECT_EQ(step_at(level2, 0, 0), 0);
  EXPECT_EQ(step_at(level2, 0, 2), 0);
  EXPECT_EQ(step_at(level2, 0, 3), 1);
  EXPECT_EQ(step_at(level2, 0, 4), 1);
}

namespace {

nlohmann::json train_json(const TempDir& dir, const std::string& spec) {
  write_text(dir / "spec.yaml", spec);
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::ifstream in(dir / "out.json");
  return nlohmann::json::parse(in);
}

}  // namespace

// chunker_lag with lag 5: (a|x, b1, ..., b5). Without the targets only the
// first symbol of a sequence cannot be predicted, 1 of 6 inputs.
TEST(HistoryCompressorLowestLevel, LearnsThePredictablePartAndPassesUpOnlyTheRest) {
  TempDir dir;
  auto summary = train_json(dir, R"(data: {name: chunker_lag, lag: 5, train: 64, test: 8}
model:
  layers:
    - {type: rnn, units: 8, sequence: last}
    - {type: dense, units: 1}
init: {name: glorot_uniform}
pretrain: {name: history_compressor, levels: 1, targets: false, head: sigmoid, epochs: 20, lr: 0.03, batch_size: 8}
optimizer: {name: adam, lr: 0.01}
training: {epochs: 0, seed: 3}
)");
  ASSERT_TRUE(summary.contains("pretraining")) << summary.dump();
  const auto& p = summary["pretraining"];
  const auto errors = p.at("level0_error").get<std::vector<double>>();
  const auto passed = p.at("level0_passed").get<std::vector<double>>();
  ASSERT_EQ(errors.size(), 20u);
  ASSERT_EQ(passed.size(), 20u);
  EXPECT_LT(errors.back(), 0.01 * errors.front());
  // After one epoch (8 updates) most predictions still miss; at the end only
  // the first step of each sequence goes up: 64 of 384 inputs.
  EXPECT_GT(passed.front(), 0.8);
  EXPECT_NEAR(passed.back(), 1.0 / 6.0, 1e-9);
  EXPECT_EQ(p.at("sequences").get<std::vector<double>>(), std::vector<double>{20.0 * 64});
}

// Two levels and the collapse, with the targets: the target at the last step
// cannot be predicted from the b's, so level 1 gets 2 of 6 inputs (a or x,
// and b5 with its target) and learns to predict the second from the first;
// the run's recurrent layer learns to predict level 1's state at every step.
TEST(HistoryCompressorCollapse, TheRecurrentLayerLearnsTheUpperLevelsState) {
  TempDir dir;
  auto summary = train_json(dir, R"(data: {name: chunker_lag, lag: 5, train: 64, test: 8}
model:
  layers:
    - {type: rnn, units: 8, sequence: last}
    - {type: dense, units: 1}
init: {name: glorot_uniform}
pretrain: {name: history_compressor, levels: 2, units: 4, head: sigmoid, epochs: 20, collapse_epochs: 20, lr: 0.03,
           batch_size: 8}
optimizer: {name: adam, lr: 0.01}
training: {epochs: 0, seed: 3}
)");
  const auto& p = summary.at("pretraining");
  EXPECT_NEAR(p.at("level0_passed").get<std::vector<double>>().back(), 2.0 / 6.0, 1e-9);
  const auto level1 = p.at("level1_error").get<std::vector<double>>();
  ASSERT_EQ(level1.size(), 20u);
  EXPECT_LT(level1.back(), 0.1 * level1.front());
  const auto state = p.at("collapse_state_error").get<std::vector<double>>();
  ASSERT_EQ(state.size(), 20u);
  EXPECT_LT(state.back(), 0.1 * state.front());
  EXPECT_EQ(p.at("sequences").get<std::vector<double>>(), (std::vector<double>{20.0 * 64, 40.0 * 64, 60.0 * 64}));
}

TEST(HistoryCompressorCli, RefusesDataWithoutSequences) {
  TempDir dir;
  write_text(dir / "spec.yaml", R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]
pretrain: {name: history_compressor}
training: {epochs: 1}
)");
  auto r = run_cli({"train", (dir / "spec.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  const auto lines = lines_of(r.err);
  EXPECT_EQ(lines.size(), 1u) << "one line only:\n" << r.err;
  const std::string line = lines.empty() ? std::string() : lines.front();
  EXPECT_NE(line.find("pretrain"), std::string::npos) << line;
  EXPECT_NE(line.find("sequence data"), std::string::npos) << line;
  EXPECT_EQ(r.out.find("epoch"), std::string::npos) << "nothing trained:\n" << r.out;
}

TEST(HistoryCompressorCli, RefusesAModelWithoutARecurrentLayer) {
  TempDir dir;
  // embedded_reber has a target at every step, so a per-step dense model is a valid run without pretraining.
  write_text(dir / "spec.yaml", R"(data: {name: embedded_reber, train: 10, test: 10}
model:
  layers: [{type: dense, units: 7}]
pretrain: {name: history_compressor}
training: {epochs: 1}
)");
  auto r = run_cli({"train", (dir / "spec.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  const auto lines = lines_of(r.err);
  EXPECT_EQ(lines.size(), 1u) << "one line only:\n" << r.err;
  const std::string line = lines.empty() ? std::string() : lines.front();
  EXPECT_NE(line.find("pretrain"), std::string::npos) << line;
  EXPECT_NE(line.find("recurrent layer"), std::string::npos) << line;
}
