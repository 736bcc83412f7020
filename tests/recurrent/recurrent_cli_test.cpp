// Recurrent runs end to end through `gradlab train`: exploding gradients as a
// run result and clipping through BPTT, success rates and error-flow curves in
// the summary, and bad input as one line with exit code 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "test_support.hpp"

using namespace gradlab;

namespace {

// An Elman relu net whose recurrent weights (N(0, 0.25^2), 32 units: spectral
// radius about 1.4) make the gradient through 20-22 steps explode: plain SGD
// at lr 0.05 turns the weights to NaN within two steps.
const char* exploding_spec = R"(
data: {name: adding, length: 20, train: 1000, test: 200}
model:
  layers:
    - {type: rnn, units: 32, activation: relu, sequence: last, recurrent_init: {name: normal, std: 0.25}}
    - {type: dense, units: 1}
init: {name: glorot_uniform}
optimizer: {name: sgd, lr: 0.05}
training: {epochs: 10, batch_size: 32, seed: 1}
probes: {every: 10, batch: 64}
)";

nlohmann::json train(const test::TempDir& dir, const std::vector<std::string>& sets) {
  test::write_text(dir / "spec.yaml", exploding_spec);
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string(), "-q"};
  for (const auto& s : sets) args.insert(args.end(), {"--set", s});
  auto r = test::run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(test::read_text(dir / "out.json"));
}

}  // namespace

// Without clipping the run explodes: `diverged` with its epoch, exit 0, the
// epoch-0 record kept. Clipping by norm, or by value, through BPTT trains the
// same net: status ok and a loss a thousand times below its start.
TEST(RecurrentExploding, DivergesWithoutClippingAndTrainsWithIt) {
  test::TempDir dir;
  const auto plain = train(dir, {});
  EXPECT_EQ(plain["status"], "diverged");
  EXPECT_EQ(plain["diverged_epoch"], 1);
  ASSERT_GE(plain["epochs"].size(), 1u);
  const double start = plain["epochs"][0]["train_loss"].get<double>();
  EXPECT_GT(start, 100.0);  // the exploded forward pass at initialization
  for (const std::string clip : {"optimizer.clip_norm=1", "optimizer.clip_value=0.05"}) {
    const auto clipped = train(dir, {clip});
    EXPECT_EQ(clipped["status"], "ok") << clip;
    EXPECT_EQ(clipped["epochs"][0]["train_loss"].get<double>(), start) << clip;  // the same net
    EXPECT_LT(clipped["final"]["train_loss"].get<double>(), start / 1000) << clip;
    EXPECT_LT(clipped["final"]["train_loss"].get<double>(), 0.05) << clip;
    // A task with its own criterion reports it; the recurrent layer its error flow.
    EXPECT_TRUE(clipped["final"].contains("success_rate")) << clip;
    const auto& layer0 = clipped["epochs"][0]["layers"][0];
    EXPECT_EQ(layer0["type"], "rnn");
    EXPECT_EQ(layer0["grad_by_lag"].size(), 22u);  // steps = T + T/10
    EXPECT_FALSE(layer0.contains("cell_grad_by_lag"));
  }
}

// Bad input: one line naming the problem and where it is, exit code 2, no file.
TEST(RecurrentBadInput, OneLineAndExitTwo) {
  test::TempDir dir;
  struct Case {
    std::string spec, expect;
  };
  const std::vector<Case> cases{
      // A recurrent layer fed data with one step per example.
      {"data: {name: digits}\nmodel: {layers: [{type: lstm, units: 4}, {type: dense, units: 10}]}\n", "sequence"},
      // A dense layer after `sequence: all` while the targets are one per example.
      {"data: {name: adding, length: 20, train: 10, test: 10}\n"
       "model: {layers: [{type: rnn, units: 4, sequence: all}, {type: dense, units: 1}]}\n",
       "sequence: last"},
      // Impossible task parameters name the parameter.
      {"data: {name: adding, length: 1, train: 10, test: 10}\nmodel: {layers: [{type: lstm, units: 4}]}\n", "length"},
      {"data: {name: adding, length: 20, train: 10, test: 0}\nmodel: {layers: [{type: lstm, units: 4}]}\n", "test"},
      {"data: {name: temporal_order, classes: 0}\nmodel: {layers: [{type: lstm, units: 4}]}\n", "classes"},
      {"data: {name: noise_free_lag, p: -3}\nmodel: {layers: [{type: lstm, units: 4}]}\n", "'p'"},
  };
  for (const auto& c : cases) {
    test::write_text(dir / "bad.yaml", c.spec);
    auto r = test::run_cli({"train", (dir / "bad.yaml").string(), "--json", (dir / "bad.json").string(), "-q"});
    EXPECT_EQ(r.exit_code, 2) << c.spec << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.spec << r.err;
    EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;  // where
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
  }
}

// A study of a generated data set: each run seed draws its own sequences
// (uses_run_seed), and every run equals `gradlab train` of its spec with its
// seed, success rate and error-flow curve included, bit for bit.
TEST(RecurrentStudy, EachSeedIsItsOwnTrialAndEqualsGradlabTrain) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml", R"(
study: lags
base:
  data: {name: adding, length: 12, train: 64, test: 32}
  model: {layers: [{type: lstm, units: 4, sequence: last}, {type: dense, units: 1}]}
  optimizer: {name: adam, lr: 0.01}
  training: {epochs: 2, batch_size: 16}
  probes: {every: 2, batch: 16}
seeds: 2
)");
  auto run = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto exported = test::run_cli({"export", (dir / "out").string(), "--format", "json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  auto lags = test::run_cli({"export", (dir / "out").string(), "--format", "json", "--table", "lags"});
  ASSERT_EQ(lags.exit_code, 0) << lags.err;
  const auto rows = nlohmann::json::parse(exported.out), lag_rows = nlohmann::json::parse(lags.out);
  std::map<std::int64_t, std::map<std::string, double>> final_by_seed;  // epoch 2 metrics per run seed
  for (const auto& r : rows)
    if (r["epoch"] == 2) final_by_seed[r["seed"].get<std::int64_t>()][r["metric"].get<std::string>()] = r["value"];
  ASSERT_EQ(final_by_seed.size(), 2u);
  std::set<double> epoch0_losses;
  for (const auto& r : rows)
    if (r["epoch"] == 0 && r["metric"] == "test_loss") epoch0_losses.insert(r["value"].get<double>());
  EXPECT_EQ(epoch0_losses.size(), 2u);  // two seeds, two trials (different data and weights)
  test::write_text(dir / "base.yaml", R"(
data: {name: adding, length: 12, train: 64, test: 32}
model: {layers: [{type: lstm, units: 4, sequence: last}, {type: dense, units: 1}]}
optimizer: {name: adam, lr: 0.01}
training: {epochs: 2, batch_size: 16}
probes: {every: 2, batch: 16}
)");
  for (const auto& [seed, metrics] : final_by_seed) {
    auto train = test::run_cli({"train", (dir / "base.yaml").string(), "--set", "training.seed=" + std::to_string(seed),
                                "--json", (dir / "run.json").string(), "-q"});
    ASSERT_EQ(train.exit_code, 0) << train.err;
    const auto s = nlohmann::json::parse(test::read_text(dir / "run.json"));
    EXPECT_EQ(metrics.at("success_rate"), s["final"]["success_rate"].get<double>());
    EXPECT_EQ(metrics.at("test_loss"), s["final"]["test_loss"].get<double>());
    std::vector<double> curve;
    for (const auto& r : lag_rows)
      if (r["seed"] == seed && r["epoch"] == 2 && r["probe"] == "grad_by_lag") curve.push_back(r["value"]);
    ASSERT_EQ(curve.size(), s["epochs"].back()["layers"][0]["grad_by_lag"].size());
    for (std::size_t k = 0; k < curve.size(); ++k)
      EXPECT_EQ(curve[k], s["epochs"].back()["layers"][0]["grad_by_lag"][k].get<double>()) << k;
  }
}
