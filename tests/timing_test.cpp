// Where a run's time goes (summary `timing`), and `training.eval_every`: which
// epochs are evaluated and recorded. Sums and counts only, never a timing bound.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;
using test::spec_from_yaml;

namespace {

std::string spec_text(const std::string& training, const std::string& extra = "") {
  return "data: {name: digits}\n"
         "model:\n"
         "  layers: [{type: dense, units: 32}, {type: sigmoid}, {type: dense, units: 10}]\n"
         "optimizer: {name: sgd, lr: 0.1}\n"
         "training: " +
         training + "\n" + extra;
}

std::vector<std::int64_t> recorded_epochs(const RunSummary& s) {
  std::vector<std::int64_t> out;
  for (const auto& e : s.epochs) out.push_back(e.epoch);
  return out;
}

std::vector<std::int64_t> probed_epochs(const RunSummary& s) {
  std::vector<std::int64_t> out;
  for (const auto& e : s.epochs)
    if (!e.layers.empty()) out.push_back(e.epoch);
  return out;
}

double sum_of_parts(const RunTiming& t) { return t.train_steps + t.evaluation + t.probes + t.pretraining + t.other; }

}  // namespace

TEST(Timing, PartsAddUpToTheRunsSeconds) {
  const auto spec = spec_from_yaml(spec_text("{epochs: 3, batch_size: 32}"));
  const auto result = train_run(spec, test::bundled_registry());
  const RunSummary& s = result.summary;
  ASSERT_EQ(s.status, RunStatus::ok) << s.message;
  const RunTiming& t = s.timing;
  EXPECT_GT(s.seconds, 0.0);
  EXPECT_NEAR(sum_of_parts(t), s.seconds, 0.05 * s.seconds);
  // Every part that ran is counted, none that did not.
  EXPECT_GT(t.train_steps, 0.0);
  EXPECT_GT(t.evaluation, 0.0);
  EXPECT_GT(t.probes, 0.0);
  EXPECT_EQ(t.pretraining, 0.0);
  EXPECT_GE(t.other, 0.0);

  const auto json = to_json(s);
  ASSERT_TRUE(json.contains("timing"));
  double json_sum = 0.0;
  for (const char* key : {"train_steps", "evaluation", "probes", "pretraining", "other"}) {
    ASSERT_TRUE(json["timing"].contains(key)) << key;
    json_sum += json["timing"][key].get<double>();
  }
  EXPECT_NEAR(json_sum, json["final"]["seconds"].get<double>(), 0.05 * s.seconds);
}

TEST(Timing, NoTrainingStepsWithoutEpochs) {
  const auto result = train_run(spec_from_yaml(spec_text("{epochs: 0}")), test::bundled_registry());
  EXPECT_EQ(result.summary.timing.train_steps, 0.0);
  EXPECT_GT(result.summary.timing.evaluation, 0.0);  // epoch 0 is evaluated
  EXPECT_NEAR(sum_of_parts(result.summary.timing), result.summary.seconds, 0.05 * result.summary.seconds);
}

TEST(EvalEvery, DefaultRecordsEveryEpoch) {
  const auto spec = spec_from_yaml(spec_text("{epochs: 4}"));
  EXPECT_EQ(spec.training.eval_every, 1);
  const auto result = train_run(spec, test::bundled_registry());
  EXPECT_EQ(recorded_epochs(result.summary), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST(EvalEvery, RecordsEveryNthEpochAndAlwaysTheFirstAndLast) {
  const auto spec = spec_from_yaml(spec_text("{epochs: 7, eval_every: 3}"));
  const auto result = train_run(spec, test::bundled_registry());
  const RunSummary& s = result.summary;
  ASSERT_EQ(s.status, RunStatus::ok) << s.message;
  EXPECT_EQ(recorded_epochs(s), (std::vector<std::int64_t>{0, 3, 6, 7}));
  EXPECT_EQ(s.epochs_run, 7);
  // The summary's final figures are the last epoch's.
  const auto json = to_json(s);
  EXPECT_EQ(json["final"]["epochs_run"], 7);
  EXPECT_EQ(json["final"]["train_loss"].get<double>(), s.epochs.back().train_loss);
  // Probes are taken on recorded epochs only (probes.every 1 here).
  EXPECT_EQ(probed_epochs(s), (std::vector<std::int64_t>{0, 3, 6, 7}));
}

TEST(EvalEvery, ProbesOnRecordedEpochsThatAreMultiplesOfProbesEvery) {
  const auto spec = spec_from_yaml(spec_text("{epochs: 8, eval_every: 2}", "probes: {every: 3}\n"));
  const auto result = train_run(spec, test::bundled_registry());
  EXPECT_EQ(recorded_epochs(result.summary), (std::vector<std::int64_t>{0, 2, 4, 6, 8}));
  EXPECT_EQ(probed_epochs(result.summary), (std::vector<std::int64_t>{0, 6, 8}));
}

// Evaluating less often trains the same weights: evaluation has no side effect
// on training (same random stream, same steps).
TEST(EvalEvery, DoesNotChangeTraining) {
  const auto every = train_run(spec_from_yaml(spec_text("{epochs: 4}")), test::bundled_registry());
  const auto rarely = train_run(spec_from_yaml(spec_text("{epochs: 4, eval_every: 4}")), test::bundled_registry());
  ASSERT_EQ(rarely.summary.epochs.size(), 2u);
  EXPECT_EQ(every.summary.epochs.back().train_loss, rarely.summary.epochs.back().train_loss);
  EXPECT_EQ(every.summary.epochs.back().test_accuracy, rarely.summary.epochs.back().test_accuracy);
  EXPECT_EQ(every.network->parameters(), rarely.network->parameters());
}

TEST(EvalEvery, MustBeAtLeastOne) {
  for (const std::string bad : {"0", "-2", "1.5", "often"}) {
    try {
      spec_from_yaml(spec_text("{epochs: 2, eval_every: " + bad + "}"));
      ADD_FAILURE() << "accepted eval_every: " << bad;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("eval_every"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(spec_from_yaml(spec_text("{epochs: 2}"), {"training.eval_every=2"}).training.eval_every, 2);
}

// Whole-split evaluation is one forward pass, read in place for one-step
// inputs: the same figures as a loss computed batch by batch over the split.
TEST(Evaluate, MatchesTheLossOfEachChunk) {
  const auto spec = spec_from_yaml(spec_text("{epochs: 0}"));
  auto result = train_run(spec, test::bundled_registry());
  Network& net = *result.network;
  auto data = load_dataset(spec, test::bundled_registry());
  const auto eval = net.evaluate(data->test);
  const Index chunk = net.reserved_batch();
  double sum = 0.0;
  for (Index first = 0; first < data->test.examples; first += chunk) {
    const Index count = std::min(chunk, data->test.examples - first);
    sum += net.loss(net.gather_range(data->test, first, count)) * double(count);
  }
  EXPECT_NEAR(eval.loss, sum / double(data->test.examples), 1e-6);
  EXPECT_EQ(eval.loss, result.summary.epochs[0].test_loss);
}
