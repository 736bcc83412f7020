// Regression end to end: the csv data set's target_columns, a small MLP
// fitting two targets, and every place a user sees metrics naming the task's
// metric (mse) instead of an accuracy (docs/regression.md).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "gradlab/core/run.hpp"
#include "gradlab/core/study/statistics.hpp"
#include "gradlab/core/target_columns.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Rows of four features in [-1, 1] and two targets: y1 = their sum (linear),
// y2 = sin(2 x1) cos(x2) (smooth, nonlinear). Deterministic for a seed.
struct Generated {
  std::string text;
  double target_variance = 0.0;  // of y1 and y2, averaged: what predicting the mean scores
};

Generated two_target_rows(int rows, unsigned seed) {
  std::mt19937 engine(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::ostringstream out;
  out.precision(6);
  std::vector<double> y1, y2;
  for (int r = 0; r < rows; ++r) {
    double x[4];
    for (double& v : x) v = u(engine);
    y1.push_back(x[0] + x[1] + x[2] + x[3]);
    y2.push_back(std::sin(2 * x[0]) * std::cos(x[1]));
    out << x[0] << "," << x[1] << "," << x[2] << "," << x[3] << "," << y1.back() << "," << y2.back() << "\n";
  }
  auto variance = [](const std::vector<double>& y) {
    double mean = 0, sq = 0;
    for (double v : y) mean += v / double(y.size());
    for (double v : y) sq += (v - mean) * (v - mean) / double(y.size());
    return sq;
  };
  return {out.str(), (variance(y1) + variance(y2)) / 2};
}

std::shared_ptr<const Dataset> load(const std::string& data_yaml, const fs::path& dir) {
  auto spec = parse_run_spec("data: " + data_yaml + "\nmodel: {layers: [{type: dense, units: 2}]}\n", "data.yaml", {},
                             test::bundled_registry(), dir.string());
  return load_dataset(spec, test::bundled_registry());
}

TEST(RegressionCsv, TargetColumnsInTheOrderGivenEveryOtherColumnAFeature) {
  TempDir dir;
  test::write_text(dir / "rows.csv", "1,10,2,20,3\n4,40,5,50,6\n7,70,8,80,9\n10,100,11,110,12\n");
  // Column 3 first, then the last one (-1); columns 0, 1, 2 are the features.
  auto data = load("{name: csv, path: rows.csv, target_columns: '3, -1', test_fraction: 0.25, scale: 2}", dir.path());
  EXPECT_EQ(data->task, Task::regression);
  EXPECT_EQ(data->outputs, 2);
  EXPECT_EQ(data->target_at, TargetAt::sequence_end);
  EXPECT_EQ(data->input, (Shape{3, 1}));
  ASSERT_EQ(data->train.examples, 3);
  ASSERT_EQ(data->test.examples, 1);
  // Features divided by scale; targets as they are in the file.
  EXPECT_EQ(data->train.inputs(0, 1), 2.0f);
  EXPECT_EQ(data->train.inputs(1, 1), 20.0f);
  EXPECT_EQ(data->train.inputs(2, 1), 2.5f);
  EXPECT_EQ(data->train.targets(0, 1), 50.0f);
  EXPECT_EQ(data->train.targets(1, 1), 6.0f);
  EXPECT_EQ(data->test.targets(0, 0), 110.0f);
  EXPECT_EQ(data->test.targets(1, 0), 12.0f);
  EXPECT_TRUE(data->train.labels.empty());
}

TEST(RegressionCsv, StepsAndASeparateTestFile) {
  TempDir dir;
  // Two steps of two features, then one target.
  test::write_text(dir / "train.csv", "1,2,3,4,0.5\n5,6,7,8,1.5\n");
  test::write_text(dir / "test.csv", "9,10,11,12,2.5\n");
  auto data = load("{name: csv, path: train.csv, test_path: test.csv, target_columns: '-1', steps: 2}", dir.path());
  EXPECT_EQ(data->input, (Shape{2, 2}));
  EXPECT_EQ(data->outputs, 1);
  ASSERT_EQ(data->train.examples, 2);
  ASSERT_EQ(data->test.examples, 1);
  // Example-major: example 1, step 1 is column 1 * 2 + 1.
  EXPECT_EQ(data->train.inputs(0, 3), 7.0f);
  EXPECT_EQ(data->train.inputs(1, 3), 8.0f);
  EXPECT_EQ(data->train.targets(0, 1), 1.5f);
  EXPECT_EQ(data->test.inputs(1, 1), 12.0f);
  EXPECT_EQ(data->test.targets(0, 0), 2.5f);
}

TEST(RegressionCsv, ParseTargetColumnsRefusesWhatIsNotAColumnList) {
  EXPECT_EQ(parse_target_columns("-2,-1", 5, "f.csv"), (std::vector<std::size_t>{3, 4}));
  EXPECT_EQ(parse_target_columns(" 0 ,2", 5, "f.csv"), (std::vector<std::size_t>{0, 2}));
  for (const char* bad : {"", "1,", ",1", "1,,2", "x", "1.5", "5", "-6", "1,1", "-1,4", "0,1,2,3,4"})
    EXPECT_THROW(parse_target_columns(bad, 5, "f.csv"), std::invalid_argument) << bad;
}

// The acceptance test of the task: two targets, dense-tanh-dense, through the CLI.
TEST(RegressionCsv, SmallMlpFitsTwoTargetsAndTheSummaryNamesMse) {
  TempDir dir;
  const auto rows = two_target_rows(500, 7);
  test::write_text(dir / "rows.csv", rows.text);
  test::write_text(dir / "spec.yaml",
                   "data: {name: csv, path: rows.csv, target_columns: '-2,-1', test_fraction: 0.2}\n"
                   "model: {layers: [{type: dense, units: 32}, {type: tanh}, {type: dense, units: 2}]}\n"
                   "init: {name: glorot_uniform}\n"
                   "optimizer: {name: adam, lr: 0.01}\n"
                   "training: {epochs: 60, batch_size: 32, seed: 3}\n");
  auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto summary = nlohmann::json::parse(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary.at("task"), "regression");
  EXPECT_EQ(summary.at("metric"), "mse");
  const auto& final = summary.at("final");
  const double test_mse = final.at("test_mse").get<double>();
  // Predicting the mean scores the targets' variance (about 0.8 here); the fit is far below it.
  EXPECT_LT(test_mse, 0.05 * rows.target_variance) << "variance " << rows.target_variance;
  EXPECT_LT(final.at("train_mse").get<double>(), 0.05 * rows.target_variance);
  EXPECT_EQ(final.at("test_mse"), final.at("test_loss"));  // the loss is the MSE
  EXPECT_FALSE(final.contains("test_accuracy"));
  EXPECT_FALSE(final.contains("train_accuracy"));
  for (const auto& e : summary.at("epochs")) {
    EXPECT_TRUE(e.contains("train_mse") && e.contains("test_mse")) << e.dump();
    EXPECT_FALSE(e.contains("train_accuracy") || e.contains("test_accuracy")) << e.dump();
  }
  // Epoch 0 (before any update) is no better than guessing; training made the difference.
  EXPECT_GT(summary.at("epochs").front().at("test_mse").get<double>(), 0.5 * rows.target_variance);
  // The CLI names the metric on its summary line and on every epoch line.
  EXPECT_NE(r.out.find("train_mse "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("test_mse "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("acc"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("epoch   0/60  train_mse "), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find('%'), std::string::npos) << r.err;
}

TEST(RegressionCsv, EarlyStoppingWatchesTheTestMse) {
  TempDir dir;
  test::write_text(dir / "rows.csv", two_target_rows(200, 11).text);
  test::write_text(dir / "spec.yaml",
                   "data: {name: csv, path: rows.csv, target_columns: '-2,-1'}\n"
                   "model: {layers: [{type: dense, units: 16}, {type: tanh}, {type: dense, units: 2}]}\n"
                   "optimizer: {name: adam, lr: 0.05}\n"
                   "training: {epochs: 200, batch_size: 16, early_stopping: {metric: test_loss, patience: 2, "
                   "min_delta: 0.01}}\n");
  auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto summary = nlohmann::json::parse(test::read_text(dir / "out.json"));
  const auto& final = summary.at("final");
  ASSERT_TRUE(final.contains("stopped_epoch")) << final.dump();
  EXPECT_LT(final.at("stopped_epoch").get<int>(), 200);
  // The final model is the best epoch's, restored: its test MSE is that
  // record's, within min_delta of the least recorded.
  ASSERT_TRUE(final.contains("best_epoch"));
  EXPECT_TRUE(final.at("restored_best").get<bool>());
  double least = INFINITY, best = NAN;
  for (const auto& e : summary.at("epochs")) {
    least = std::min(least, e.at("test_mse").get<double>());
    if (e.at("epoch") == final.at("best_epoch")) best = e.at("test_mse").get<double>();
  }
  EXPECT_EQ(final.at("test_mse").get<double>(), best);
  EXPECT_LE(best, least + 0.01);
}

// The study statistics compare regression runs on their test MSE, with no accuracy.
TEST(RegressionStats, StudyComparesOnTestMse) {
  study::StudyRecords records;
  records.name = "r";
  records.baseline = "a";
  records.variants = {"a", "b"};
  const double mse[2][3] = {{0.30, 0.32, 0.28}, {0.10, 0.12, 0.11}};
  for (int v = 0; v < 2; ++v)
    for (int s = 0; s < 3; ++s) {
      study::StoredRun run;
      run.key = std::string(1, char('a' + v)) + std::to_string(s);
      run.variant = v == 0 ? "a" : "b";
      run.status = "ok";
      run.task = Task::regression;
      EpochRecord e;
      e.epoch = 5;
      e.train_loss = mse[v][s] / 2;
      e.test_loss = mse[v][s];
      run.epochs.push_back(e);
      records.runs.push_back(run);
    }
  const auto stats = study::compute_stats(records);
  EXPECT_EQ(stats.task, Task::regression);
  EXPECT_EQ(stats.metric, "test_mse");
  ASSERT_EQ(stats.cells.size(), 2u);
  EXPECT_NEAR(stats.cells[0].metrics.at("test_mse").mean, 0.30, 1e-12);
  EXPECT_FALSE(stats.cells[0].metrics.count("test_accuracy"));
  EXPECT_TRUE(stats.cells[1].compared);
  EXPECT_NEAR(stats.cells[1].delta, 0.11 - 0.30, 1e-12);
  EXPECT_TRUE(stats.cells[1].test.valid);
  const auto json = study::to_json(stats);
  EXPECT_EQ(json.at("task"), "regression");
  EXPECT_EQ(json.at("cells").at(1).at("vs_baseline").at("metric"), "test_mse");
  EXPECT_FALSE(json.at("cells").at(0).at("final").contains("test_accuracy"));
}

// A study of regression runs: the database keeps the task, and stats, export
// and the report name the MSE instead of an accuracy.
TEST(RegressionStudy, StatsExportAndReportNameTheMse) {
  TempDir dir;
  test::write_text(dir / "rows.csv", two_target_rows(120, 5).text);
  test::write_text(dir / "s.yaml",
                   "study: reg\n"
                   "base:\n"
                   "  data: {name: csv, path: " +
                       (dir / "rows.csv").string() +
                       ", target_columns: '-2,-1'}\n"
                       "  model: {layers: [{type: dense, units: 8}, {type: tanh}, {type: dense, "
                       "units: 2}]}\n"
                       "  optimizer: {name: adam, lr: 0.01}\n"
                       "  training: {epochs: 3, batch_size: 16}\n"
                       "variants:\n"
                       "  slow: {}\n"
                       "  fast: {optimizer.lr: 0.05}\n"
                       "seeds: 2\n");
  const auto out = (dir / "out").string();
  auto run = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", out, "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.out << run.err;

  auto stats = test::run_cli({"study", "stats", out, "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  const auto j = nlohmann::json::parse(stats.out);
  EXPECT_EQ(j.at("task"), "regression");
  const auto& fast = j.at("cells").at(1);
  EXPECT_EQ(fast.at("vs_baseline").at("metric"), "test_mse");
  EXPECT_EQ(fast.at("final").at("test_mse").at("n"), 2);
  EXPECT_FALSE(fast.at("final").contains("test_accuracy"));

  auto table = test::run_cli({"study", "stats", out});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("test_mse mean"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("acc"), std::string::npos) << table.out;

  auto exported = test::run_cli({"export", out, "--format", "json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  std::set<std::string> metrics;
  for (const auto& row : nlohmann::json::parse(exported.out)) metrics.insert(row.at("metric").get<std::string>());
  EXPECT_EQ(metrics, (std::set<std::string>{"train_loss", "train_mse", "test_loss", "test_mse"}));

  auto report = test::run_cli({"report", out, "-o", (dir / "r.html").string()});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  const auto html = test::read_text(dir / "r.html");
  EXPECT_NE(html.find("test MSE mean"), std::string::npos);
  EXPECT_EQ(html.find("test acc mean"), std::string::npos);
}

}  // namespace
}  // namespace gradlab
