// A study of runs that early stopping ended with an earlier epoch's weights:
// the database keeps which epoch that was, and the statistics compare the
// model each run kept, not its last epoch.
#include <gtest/gtest.h>

#include "gradlab/core/study/statistics.hpp"
#include "study/study_support.hpp"

using namespace gradlab;

TEST(EarlyStoppingStudy, StatisticsUseTheRestoredEpoch) {
  test::TempDir dir;
  std::string text = study_test::small_study("stopped", 5, 2);
  // No epoch can beat epoch 0's training accuracy by 0.95: every run stops
  // after epoch 1 and restores epoch 0's weights.
  const std::string training = "  training: {epochs: 5, batch_size: 32}";
  ASSERT_NE(text.find(training), std::string::npos);
  text.replace(text.find(training), training.size(),
               "  training: {epochs: 5, batch_size: 32, early_stopping: {metric: train_accuracy, min_delta: 0.95, "
               "patience: 1}}");
  test::write_text(dir / "s.yaml", text);
  const auto r = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  const auto records = study::load_records(dir / "out");
  ASSERT_EQ(records.runs.size(), 8u);
  for (const auto& run : records.runs) {
    ASSERT_EQ(run.status, "ok") << run.key;
    ASSERT_TRUE(run.final_epoch) << run.key;
    EXPECT_EQ(*run.final_epoch, 0) << run.key;
    ASSERT_EQ(run.epochs.size(), 2u) << run.key;  // epochs 0 and 1
    EXPECT_EQ(&run.final_record(), &run.epochs.front()) << run.key;
  }
  const auto stats = study::compute_stats(records);
  ASSERT_FALSE(stats.cells.empty());
  for (const auto& cell : stats.cells) {
    double restored = 0.0, last = 0.0;
    int n = 0;
    for (const auto& run : records.runs)
      if (run.variant == cell.variant && run.grid == cell.grid) {
        restored += run.epochs.front().test_accuracy;
        last += run.epochs.back().test_accuracy;
        ++n;
      }
    ASSERT_EQ(n, 2) << cell.variant << " " << cell.cell;
    EXPECT_DOUBLE_EQ(cell.metrics.at("test_accuracy").mean, restored / n) << cell.variant << " " << cell.cell;
    EXPECT_NE(restored, last);  // epoch 1 learned something: the two figures differ
  }
}
