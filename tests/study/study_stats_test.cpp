// Study statistics (Welch's t-test, Holm, confidence intervals, the per-cell
// statistics) and `gradlab study stats`, `gradlab export`.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "gradlab/core/study/statistics.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

using study::holm_adjust;
using study::summarize;
using study::welch_t_test;

TEST(StudyStats, WelchMatchesRAndTheFormulas) {
  const std::vector<double> a{1, 2, 3, 4, 5}, b{2, 4, 6, 8, 10};
  // By hand: means 3 and 6, variances 2.5 and 10, n = 5 each.
  const double va = 2.5 / 5, vb = 10.0 / 5;
  const double t = (3.0 - 6.0) / std::sqrt(va + vb);
  const double df = (va + vb) * (va + vb) / (va * va / 4 + vb * vb / 4);
  EXPECT_NEAR(t, -1.897367, 1e-6);
  EXPECT_NEAR(df, 5.882353, 1e-6);  // 100/17
  auto w = welch_t_test(a, b);
  ASSERT_TRUE(w.valid);
  EXPECT_NEAR(w.t, t, 1e-12);
  EXPECT_NEAR(w.df, df, 1e-12);
  // R: t.test(c(1,2,3,4,5), c(2,4,6,8,10)): t = -1.8974, df = 5.8824, p-value = 0.1075.
  EXPECT_NEAR(w.p, 0.1075, 5e-5);
  // Numerical check of p: 2 * integral of the t density beyond |t| (Simpson on [|t|, 2000]).
  const double nu = df;
  auto density = [nu](double x) {
    return std::exp(std::lgamma((nu + 1) / 2) - std::lgamma(nu / 2)) / std::sqrt(nu * M_PI) *
           std::pow(1 + x * x / nu, -(nu + 1) / 2);
  };
  const double lo = std::fabs(t), hi = 2000.0;
  const int steps = 2000000;
  const double h = (hi - lo) / steps;
  double sum = density(lo) + density(hi);
  for (int i = 1; i < steps; ++i) sum += density(lo + i * h) * (i % 2 ? 4 : 2);
  EXPECT_NEAR(w.p, 2 * sum * h / 3, 1e-6);
  // Symmetric.
  auto r = welch_t_test(b, a);
  EXPECT_NEAR(r.t, -t, 1e-12);
  EXPECT_NEAR(r.p, w.p, 1e-12);
}

TEST(StudyStats, HolmOnAKnownVector) {
  auto adj = holm_adjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[0], 0.03, 1e-12);
  EXPECT_NEAR(adj[1], 0.06, 1e-12);
  EXPECT_NEAR(adj[2], 0.06, 1e-12);
  EXPECT_NEAR(adj[3], 0.02, 1e-12);
  // NaN (no test) is left out of the family; capped at 1.
  auto with_nan = holm_adjust({0.5, std::nan(""), 0.4});
  EXPECT_NEAR(with_nan[0], 0.8, 1e-12);
  EXPECT_TRUE(std::isnan(with_nan[1]));
  EXPECT_NEAR(with_nan[2], 0.8, 1e-12);
  EXPECT_EQ(holm_adjust({0.9, 0.8})[0], 1.0);
}

TEST(StudyStats, ConfidenceIntervalOfAKnownSample) {
  // mean 3, sd sqrt(2.5); t(0.975, 4) = 2.776445; half width 2.776445 * 1.581139 / sqrt(5) = 1.963243.
  auto s = summarize({1, 2, 3, 4, 5});
  EXPECT_EQ(s.n, 5);
  EXPECT_DOUBLE_EQ(s.mean, 3.0);
  EXPECT_NEAR(s.sd, std::sqrt(2.5), 1e-12);
  EXPECT_NEAR(s.ci_low, 3 - 1.963243, 1e-6);
  EXPECT_NEAR(s.ci_high, 3 + 1.963243, 1e-6);
}

TEST(StudyStats, OneValueHasNoSdCiOrTest) {
  auto s = summarize({0.7});
  EXPECT_EQ(s.n, 1);
  EXPECT_DOUBLE_EQ(s.mean, 0.7);
  EXPECT_TRUE(std::isnan(s.sd));
  EXPECT_TRUE(std::isnan(s.ci_low));
  auto w = welch_t_test({0.7}, {0.5, 0.6});
  EXPECT_FALSE(w.valid);
  EXPECT_TRUE(std::isnan(w.p));
  EXPECT_NE(w.note.find("fewer than 2"), std::string::npos);
  EXPECT_TRUE(std::isnan(summarize({}).mean));
}

TEST(StudyStats, ZeroVariance) {
  auto s = summarize({0.5, 0.5, 0.5});
  EXPECT_DOUBLE_EQ(s.sd, 0.0);
  EXPECT_DOUBLE_EQ(s.ci_low, 0.5);
  EXPECT_DOUBLE_EQ(s.ci_high, 0.5);
  auto both = welch_t_test({0.5, 0.5}, {0.6, 0.6});
  EXPECT_FALSE(both.valid);
  EXPECT_NE(both.note.find("zero variance"), std::string::npos);
  // One group constant: df is the other group's n - 1.
  auto one = welch_t_test({0.5, 0.5, 0.5}, {0.1, 0.2, 0.3});
  ASSERT_TRUE(one.valid);
  EXPECT_NEAR(one.df, 2.0, 1e-12);
  EXPECT_NEAR(one.t, (0.5 - 0.2) / std::sqrt(0.01 / 3), 1e-9);
}

study::StoredRun make_run(const std::string& variant, int depth, const std::string& status, double acc, double g0 = 1.0,
                          double g1 = 2.0) {
  study::StoredRun r;
  r.variant = variant;
  r.grid = {{"depth", depth}};
  r.status = status;
  EpochRecord e0;
  e0.epoch = 0;
  for (int i = 0; i < 3; ++i) {
    LayerProbe l;
    l.index = i;
    l.param_count = i == 1 ? 0 : 10;  // a parameterless activation in the middle
    l.grad_norm = i == 0 ? g0 : i == 2 ? g1 : 0.0;
    e0.layers.push_back(l);
  }
  EpochRecord e1 = e0;
  e1.epoch = 1;
  e1.test_accuracy = acc;
  r.epochs = {e0, e1};
  return r;
}

TEST(StudyStats, CellsCountDivergedAndFailedRunsApart) {
  study::StudyRecords rec;
  rec.name = "s";
  rec.baseline = "base";
  rec.variants = {"base", "other"};
  rec.runs = {make_run("base", 2, "ok", 0.5),      make_run("base", 2, "ok", 0.6),
              make_run("base", 2, "ok", 0.7),      make_run("other", 2, "ok", 0.8, 1.0, 4.0),
              make_run("other", 2, "ok", 0.9),     make_run("other", 2, "diverged", 0.1),
              make_run("other", 2, "failed", 0.0), make_run("base", 3, "ok", 0.5),
              make_run("other", 3, "ok", 0.9)};
  auto stats = study::compute_stats(rec);
  ASSERT_EQ(stats.cells.size(), 4u);
  const auto& base2 = stats.cells[0];
  EXPECT_EQ(base2.variant, "base");
  EXPECT_EQ(base2.cell, "depth=2");
  EXPECT_FALSE(base2.compared);
  EXPECT_EQ(base2.n_ok, 3);
  EXPECT_NEAR(base2.metrics.at("test_accuracy").mean, 0.6, 1e-12);
  const auto& other2 = stats.cells[2];
  EXPECT_EQ(other2.variant, "other");
  EXPECT_EQ(other2.n_ok, 2);
  EXPECT_EQ(other2.n_diverged, 1);
  EXPECT_EQ(other2.n_failed, 1);
  EXPECT_NEAR(other2.metrics.at("test_accuracy").mean, 0.85, 1e-12);
  EXPECT_NEAR(other2.delta, 0.25, 1e-12);
  auto w = welch_t_test({0.8, 0.9}, {0.5, 0.6, 0.7});
  EXPECT_NEAR(other2.test.p, w.p, 1e-15);
  // Two comparisons, one without a test (n = 1 at depth 3): Holm over one p.
  EXPECT_FALSE(stats.cells[3].test.valid);
  EXPECT_NEAR(other2.p_holm, w.p, 1e-15);
  // Grad norms: layers 0 and 2 (layer 1 has no parameters); ratio per run, then the mean.
  EXPECT_EQ(other2.grad_norm_first.count(1), 0u);
  EXPECT_NEAR(other2.grad_norm_first.at(2).mean, 3.0, 1e-12);
  EXPECT_NEAR(other2.grad_ratio_first.mean, (0.25 + 0.5) / 2, 1e-12);
  EXPECT_EQ(other2.first_epoch, 0);
  EXPECT_EQ(other2.last_epoch, 1);
}

const char* tiny_study = R"(study: export
base:
  data: {name: digits}
  model:
    layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]
  init: {name: lecun_normal}
  optimizer: {name: sgd, lr: 0.1}
  training: {epochs: 2, batch_size: 64}
  probes: {every: 1, batch: 32}
variants:
  plain: {}
  relu: {"model.layers.1.type": relu, init.name: he_normal}
baseline: relu
grid: {optimizer.lr: [0.1]}
seeds: 2
seed: 5
)";

// The export's rows agree with the summaries of the same runs made one by one
// with `gradlab train --json` (the effective spec from the database, the run's seed).
TEST(StudyExport, RowsAgreeWithGradlabTrain) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml", tiny_study);
  auto run = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto metrics = test::run_cli({"export", (dir / "out").string(), "--format", "json"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.err;
  auto layers = test::run_cli({"export", (dir / "out").string(), "--format", "json", "--table", "layers", "-o",
                               (dir / "layers.json").string()});
  ASSERT_EQ(layers.exit_code, 0) << layers.err;
  auto m = nlohmann::json::parse(metrics.out);
  auto l = nlohmann::json::parse(test::read_text(dir / "layers.json"));
  ASSERT_EQ(m.size(), 4u * 3 * 4);  // 4 runs x epochs 0..2 x 4 metrics
  // x (3 layers x 4 probes, plus update_ratio of the 2 dense layers on epochs 1 and 2)
  ASSERT_EQ(l.size(), 4u * (3 * 3 * 4 + 2 * 2));

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2((dir / "out" / "results.sqlite").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT key, seed, spec FROM runs ORDER BY id", -1, &stmt, nullptr), SQLITE_OK);
  std::map<std::string, nlohmann::json> summaries;
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    const std::string key = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    const auto seed = sqlite3_column_int64(stmt, 1);
    const auto spec_file = dir / ("run" + std::to_string(summaries.size()) + ".json");
    test::write_text(spec_file, reinterpret_cast<const char*>(sqlite3_column_text(stmt, 2)));
    const auto out = dir / ("summary" + std::to_string(summaries.size()) + ".json");
    auto train = test::run_cli(
        {"train", spec_file.string(), "--set", "training.seed=" + std::to_string(seed), "--json", out.string(), "-q"});
    ASSERT_EQ(train.exit_code, 0) << train.err;
    summaries[key] = nlohmann::json::parse(test::read_text(out));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  ASSERT_EQ(summaries.size(), 4u);
  for (const auto& row : m) {
    const auto& s = summaries.at(row["key"].get<std::string>());
    EXPECT_EQ(row["seed"], s["seed"]);
    EXPECT_EQ(row["status"], s["status"]);
    EXPECT_EQ(row["optimizer.lr"], 0.1);
    const auto& e = s["epochs"].at(row["epoch"].get<std::size_t>());
    EXPECT_EQ(e["epoch"], row["epoch"]);
    EXPECT_EQ(row["value"], e[row["metric"].get<std::string>()]) << row.dump();  // bit-equal doubles
  }
  for (const auto& row : l) {
    const auto& s = summaries.at(row["key"].get<std::string>());
    const auto& layer = s["epochs"].at(row["epoch"].get<std::size_t>())["layers"].at(row["layer"].get<std::size_t>());
    EXPECT_EQ(layer["type"], row["layer_type"]);
    EXPECT_EQ(row["value"], layer[row["probe"].get<std::string>()]) << row.dump();
  }

  // CSV: the same values (shortest round-trip text); a header and one line per row.
  auto csv = test::run_cli({"export", (dir / "out").string(), "--format", "csv"});
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_EQ(csv.out.substr(0, csv.out.find('\n')),
            "key,variant,grid,optimizer.lr,seed_index,seed,status,epoch,metric,value");
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), 1 + 48);
  const std::string last_line = csv.out.substr(csv.out.rfind('\n', csv.out.size() - 2) + 1);
  const double v = std::strtod(last_line.substr(last_line.rfind(',') + 1).c_str(), nullptr);
  EXPECT_EQ(v, m.back()["value"].get<double>());

  // Statistics: the baseline named in the spec; 2 ok runs per cell.
  auto stats = test::run_cli({"study", "stats", (dir / "out").string(), "--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  auto st = nlohmann::json::parse(stats.out);
  EXPECT_EQ(st["baseline"], "relu");
  ASSERT_EQ(st["cells"].size(), 2u);
  EXPECT_EQ(st["cells"][0]["variant"], "plain");
  EXPECT_EQ(st["cells"][0]["n_ok"], 2);
  EXPECT_TRUE(st["cells"][0].contains("vs_baseline"));
  EXPECT_FALSE(st["cells"][1].contains("vs_baseline"));
  auto table = test::run_cli({"study", "stats", (dir / "out").string()});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("baseline relu"), std::string::npos) << table.out;
  EXPECT_NE(table.out.find("2/0/0"), std::string::npos) << table.out;
}

TEST(StudyExport, BadOptionsAreRefused) {
  test::TempDir dir;
  EXPECT_EQ(test::run_cli({"export", (dir / "none").string(), "--format", "csv"}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"export", dir.path().string(), "--format", "xml"}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"study", "stats", (dir / "none").string()}).exit_code, 2);
}

}  // namespace
}  // namespace gradlab
