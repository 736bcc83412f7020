// Early stopping (training.early_stopping): the EarlyStopper state machine on
// scripted metric sequences, then real runs on digits: where they stop, that
// restore_best ends with the best epoch's model bit for bit (and without it
// the last epoch's), what the summary JSON says, cancellation through the API,
// and bad input through the CLI.
#include "gradlab/core/training/early_stopping.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>

#include "bad_input.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

constexpr double nan_value = std::numeric_limits<double>::quiet_NaN();

EarlyStopping options(std::string metric, std::int64_t patience, double min_delta = 0.0) {
  EarlyStopping o;
  o.metric = std::move(metric);
  o.patience = patience;
  o.min_delta = min_delta;
  return o;
}

// Feeds values for epochs 0, 1, ... until the stopper says stop; returns the
// epoch after which it stopped (-1: it never did).
std::int64_t stop_epoch(EarlyStopper& stopper, const std::vector<double>& values) {
  for (std::size_t e = 0; e < values.size(); ++e) {
    stopper.observe(std::int64_t(e), values[e]);
    if (stopper.should_stop()) return std::int64_t(e);
  }
  return -1;
}

}  // namespace

TEST(EarlyStopper, FallingLossThenFlatStopsAfterPatienceEpochs) {
  EarlyStopper s(options("test_loss", 2));
  EXPECT_TRUE(s.observe(0, 2.0));
  EXPECT_TRUE(s.observe(1, 1.5));
  EXPECT_TRUE(s.observe(2, 1.0));
  EXPECT_FALSE(s.observe(3, 1.0));  // equal is no improvement
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.observe(4, 1.25));
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.best_epoch(), 2);
  EXPECT_EQ(s.best_value(), 1.0);
}

TEST(EarlyStopper, RisingAccuracyIsAnImprovementAndAFallIsNot) {
  EarlyStopper s(options("test_accuracy", 3));
  // 0.1 0.5 0.75 | 0.5 0.75 0.7 -> three stale epochs after epoch 2.
  EXPECT_EQ(stop_epoch(s, {0.1, 0.5, 0.75, 0.5, 0.75, 0.7, 0.9}), 5);
  EXPECT_EQ(s.best_epoch(), 2);
  EarlyStopper loss(options("train_loss", 3));
  EXPECT_EQ(stop_epoch(loss, {0.1, 0.5, 0.75, 0.5, 0.75, 0.7, 0.9}), 3) << "a rising loss must not improve";
  EXPECT_EQ(loss.best_epoch(), 0);
  EXPECT_TRUE(EarlyStopper::rises("train_accuracy"));
  EXPECT_TRUE(EarlyStopper::rises("test_success_rate"));
  EXPECT_FALSE(EarlyStopper::rises("test_loss"));
  EXPECT_FALSE(EarlyStopper::rises("train_loss"));
}

TEST(EarlyStopper, AnImprovementMustExceedMinDelta) {
  // Values exact in binary: 1 -> 0.75 is a step of exactly min_delta, not more.
  EarlyStopper s(options("test_loss", 2, 0.25));
  EXPECT_TRUE(s.observe(0, 1.0));
  EXPECT_FALSE(s.observe(1, 0.75));
  EXPECT_TRUE(s.observe(2, 0.5));  // 0.5 < 1 - 0.25: improves, and resets the count
  EXPECT_EQ(s.best_epoch(), 2);
  EXPECT_FALSE(s.observe(3, 0.375));
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.observe(4, 0.3125));  // creeping down by less than min_delta each time
  EXPECT_TRUE(s.should_stop());
  EarlyStopper acc(options("test_accuracy", 1, 0.125));
  EXPECT_TRUE(acc.observe(0, 0.5));
  EXPECT_FALSE(acc.observe(1, 0.625));
  EXPECT_TRUE(acc.should_stop());
}

TEST(EarlyStopper, NaNNeverImproves) {
  EarlyStopper s(options("test_loss", 2));
  EXPECT_FALSE(s.observe(0, nan_value));
  EXPECT_EQ(s.best_epoch(), -1);
  EXPECT_TRUE(s.observe(1, 3.0));  // the first real value after a NaN is the best so far
  EXPECT_FALSE(s.observe(2, nan_value));
  EXPECT_FALSE(s.should_stop());
  EXPECT_FALSE(s.observe(3, nan_value));
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.best_epoch(), 1);
  EarlyStopper acc(options("test_accuracy", 5));
  EXPECT_EQ(stop_epoch(acc, {0.5, nan_value, nan_value, nan_value, nan_value, nan_value}), 5);
  EXPECT_EQ(acc.best_epoch(), 0);
}

// Patience counts evaluated epochs (observe calls), not epoch numbers: with
// eval_every 5 the epochs seen are 0, 5, 10, ...
TEST(EarlyStopper, PatienceCountsEvaluatedEpochs) {
  EarlyStopper s(options("test_loss", 2));
  s.observe(0, 1.0);
  s.observe(5, 0.5);
  s.observe(10, 0.5);
  EXPECT_FALSE(s.should_stop());
  s.observe(15, 0.5);
  EXPECT_TRUE(s.should_stop());
  EXPECT_EQ(s.best_epoch(), 5);
}

// ---- real runs ----

namespace {

// digits with a network big enough to overfit quickly at this learning rate,
// a batch_norm (so buffers matter), evaluated every epoch.
std::string digits_spec(const std::string& training, std::int64_t epochs = 20) {
  return "data: {name: digits}\n"
         "model: {layers: [{type: dense, units: 64}, {type: batch_norm}, {type: relu}, {type: dense, units: 10}]}\n"
         "optimizer: {name: sgd, lr: 0.3}\n"
         "training: {epochs: " +
         std::to_string(epochs) + ", batch_size: 32, seed: 3, eval_every: 1" + training +
         "}\n"
         "probes: {every: 100, batch: 16}\n";
}

RunResult run(const std::string& training, const RunOptions& run_options = {}, std::int64_t epochs = 20) {
  return train_run(test::spec_from_yaml(digits_spec(training, epochs)), test::bundled_registry(), run_options);
}
// The same run for `epochs` epochs without early stopping.
RunResult run_for(std::int64_t epochs) { return run("", {}, epochs); }

bool same_bits(const VectorMap& a, const VectorMap& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(Scalar) * std::size_t(a.size())) == 0;
}

const std::string stopping = ", early_stopping: {metric: test_loss, patience: 2}";

}  // namespace

TEST(EarlyStoppingRun, StopsAndRestoresTheBestEpochBitForBit) {
  const RunResult stopped = run(stopping);
  const RunSummary& s = stopped.summary;
  ASSERT_EQ(s.status, RunStatus::ok) << s.message;
  ASSERT_TRUE(s.stopped_epoch.has_value()) << "patience 2 did not trigger within 20 epochs";
  ASSERT_TRUE(s.best_epoch.has_value());
  EXPECT_LT(*s.stopped_epoch, 20);
  EXPECT_EQ(s.epochs_run, *s.stopped_epoch);
  EXPECT_EQ(*s.stopped_epoch, *s.best_epoch + 2) << "patience 2 with eval_every 1";
  EXPECT_TRUE(s.restored_best);
  ASSERT_EQ(s.epochs.back().epoch, *s.stopped_epoch);
  EXPECT_FALSE(s.epochs.back().layers.empty()) << "the last record of a stopped run is probed";
  // The best epoch has the lowest test loss of all records.
  for (const auto& e : s.epochs) EXPECT_GE(e.test_loss, s.epochs[std::size_t(*s.best_epoch)].test_loss);

  // The same run for exactly best_epoch epochs without early stopping ends
  // with the model that was restored.
  const RunResult reference = run_for(*s.best_epoch);
  ASSERT_EQ(reference.summary.status, RunStatus::ok);
  EXPECT_TRUE(same_bits(stopped.network->parameters(), reference.network->parameters()));
  EXPECT_TRUE(same_bits(stopped.network->buffers(), reference.network->buffers()));
  ASSERT_GT(stopped.network->buffers().size(), 0);
}

TEST(EarlyStoppingRun, WithoutRestoreBestTheLastEpochsWeightsStay) {
  const RunResult stopped = run(", early_stopping: {metric: test_loss, patience: 2, restore_best: false}");
  const RunSummary& s = stopped.summary;
  ASSERT_EQ(s.status, RunStatus::ok) << s.message;
  ASSERT_TRUE(s.stopped_epoch.has_value());
  EXPECT_FALSE(s.restored_best);
  const RunResult reference = run_for(*s.stopped_epoch);
  EXPECT_TRUE(same_bits(stopped.network->parameters(), reference.network->parameters()));
  EXPECT_TRUE(same_bits(stopped.network->buffers(), reference.network->buffers()));
  // And that is not the best epoch's model.
  const RunResult best = run_for(*s.best_epoch);
  EXPECT_FALSE(same_bits(stopped.network->parameters(), best.network->parameters()));
  EXPECT_EQ(final_epoch(s), &s.epochs.back());
}

TEST(EarlyStoppingRun, SummaryJsonCarriesTheStopAndTheBestEpochsRecord) {
  const RunSummary s = run(stopping).summary;
  ASSERT_TRUE(s.stopped_epoch && s.best_epoch);
  ASSERT_NE(*s.best_epoch, *s.stopped_epoch);
  const auto json = to_json(s);
  const auto& final_row = json.at("final");
  EXPECT_EQ(final_row.at("stopped_epoch"), *s.stopped_epoch);
  EXPECT_EQ(final_row.at("best_epoch"), *s.best_epoch);
  EXPECT_EQ(final_row.at("restored_best"), true);
  EXPECT_EQ(final_row.at("epochs_run"), *s.stopped_epoch);
  const EpochRecord& best = s.epochs.at(std::size_t(*s.best_epoch));
  ASSERT_EQ(best.epoch, *s.best_epoch);
  EXPECT_EQ(final_row.at("test_loss").get<double>(), best.test_loss);
  EXPECT_EQ(final_row.at("test_accuracy").get<double>(), best.test_accuracy);
  EXPECT_EQ(final_row.at("train_loss").get<double>(), best.train_loss);
  EXPECT_NE(final_row.at("test_loss").get<double>(), s.epochs.back().test_loss);
  // A run without early stopping carries none of the three.
  const auto plain = to_json(run_for(2).summary);
  EXPECT_FALSE(plain.at("final").contains("stopped_epoch"));
  EXPECT_FALSE(plain.at("final").contains("best_epoch"));
  EXPECT_FALSE(plain.at("final").contains("restored_best"));
}

TEST(EarlyStoppingRun, CancelledThroughTheApiKeepsItsEpochs) {
  std::atomic<bool> cancel{false};
  RunOptions o;
  o.cancel = &cancel;
  o.on_epoch = [&](const EpochRecord& e) {
    if (e.epoch == 2) cancel = true;
  };
  const RunSummary s = run(stopping, o).summary;
  EXPECT_EQ(s.status, RunStatus::cancelled) << s.message;
  ASSERT_EQ(s.epochs.size(), 3u);
  EXPECT_EQ(s.epochs.back().epoch, 2);
  EXPECT_EQ(s.epochs_run, 2);
  EXPECT_FALSE(s.stopped_epoch.has_value());
  EXPECT_EQ(to_json(s).at("status"), "cancelled");
}

TEST(EarlyStoppingRun, BadSettingsAreOneLineWithThePlace) {
  test::TempDir dir;
  using test::expect_one_line_bad_input;
  expect_one_line_bad_input(dir, digits_spec(", early_stopping: {patience: -1}"), {}, {"spec.yaml:4:", "'patience'"});
  expect_one_line_bad_input(dir, digits_spec(", early_stopping: {patience: 0}"), {}, {"spec.yaml:4:", "'patience'"});
  expect_one_line_bad_input(dir, digits_spec(", early_stopping: {metric: val_loss}"), {},
                            {"spec.yaml:4:", "'metric'", "val_loss"});
  expect_one_line_bad_input(dir, digits_spec(", early_stopping: {min_delta: -1}"), {}, {"spec.yaml:4:", "'min_delta'"});
  expect_one_line_bad_input(dir, digits_spec(""), {"--set", "training.early_stopping.patience=-1"},
                            {"--set training.early_stopping.patience=-1", "'patience'"});
  expect_one_line_bad_input(dir, digits_spec(stopping), {"--set", "training.early_stopping.metric=accuracy"},
                            {"--set training.early_stopping.metric=accuracy", "'metric'"});
  expect_one_line_bad_input(dir, digits_spec(stopping), {"--set", "training.early_stopping.min_delta=-1"},
                            {"--set training.early_stopping.min_delta=-1", "'min_delta'"});
}

// digits has no success criterion, so its runs record no success rate: a
// stopper watching one would see only NaN and stop blindly after `patience`
// epochs. The run refuses it as bad input instead.
TEST(EarlyStoppingRun, ASuccessRateTheDataSetDoesNotRecordIsBadInput) {
  test::TempDir dir;
  test::expect_one_line_bad_input(dir, digits_spec(", early_stopping: {metric: test_success_rate}"), {},
                                  {"spec.yaml", "training.early_stopping.metric", "digits", "success criterion"});
  test::expect_one_line_bad_input(dir, digits_spec(""), {"--set", "training.early_stopping.metric=test_success_rate"},
                                  {"training.early_stopping.metric", "digits", "success criterion"});
}
