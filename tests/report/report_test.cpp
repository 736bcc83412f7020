// gradlab report: escaping, the embedded Vega builds, the chart specs' data
// against the runs of a small study, and the command.
#include "gradlab/core/report/report.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "report_study.hpp"

namespace gradlab {
namespace {

using nlohmann::json;

TEST(ReportEscape, HtmlText) {
  EXPECT_EQ(report::html_text("<script>alert(1)</script>"), "&lt;script&gt;alert(1)&lt;/script&gt;");
  EXPECT_EQ(report::html_text("a & b \"c\" 'd'"), "a &amp; b &quot;c&quot; &#39;d&#39;");
  EXPECT_EQ(report::html_text("tab\tline\ncr\r"), "tab\tline\ncr\r");
  // Valid UTF-8 stays as it is, U+2028 included.
  EXPECT_EQ(report::html_text("é – 😀 \xE2\x80\xA8"), "é – 😀 \xE2\x80\xA8");
  const std::string fffd = "\xEF\xBF\xBD";
  // NUL and other controls, a stray continuation byte, a cut sequence, an
  // overlong '/', a surrogate, beyond U+10FFFF: U+FFFD each.
  EXPECT_EQ(report::html_text(std::string("a\0b\x1b\x7f", 5)), "a" + fffd + "b" + fffd + fffd);
  EXPECT_EQ(report::html_text("\x80"), fffd);
  EXPECT_EQ(report::html_text("x\xE2\x82"), "x" + fffd + fffd);
  EXPECT_EQ(report::html_text("\xC0\xAF"), fffd + fffd);
  EXPECT_EQ(report::html_text("\xED\xA0\x80"), fffd + fffd + fffd);
  EXPECT_EQ(report::html_text("\xF4\x90\x80\x80"), fffd + fffd + fffd + fffd);
  EXPECT_EQ(report::html_text("\xFF<"), fffd + "&lt;");
}

TEST(ReportEscape, ScriptJsonCannotLeaveTheScriptElement) {
  const json value{{"name", "</script><script>alert(1)</script><!-- & \xE2\x80\xA8\xE2\x80\xA9 >"},
                   {"</script>", {1, "<b>"}}};
  const std::string text = report::script_json(value);
  for (const char* bad : {"<", ">", "&", "\xE2\x80\xA8", "\xE2\x80\xA9"})
    EXPECT_EQ(text.find(bad), std::string::npos) << bad << " in " << text;
  EXPECT_NE(text.find("\\u003c/script\\u003e"), std::string::npos) << text;
  EXPECT_NE(text.find("\\u0026"), std::string::npos);
  EXPECT_NE(text.find("\\u2028\\u2029"), std::string::npos);
  EXPECT_EQ(json::parse(text), value);  // the same value, read back
  EXPECT_EQ(json::parse(report::script_json(value, 2)), value);
  // Invalid UTF-8 (which json::dump would throw on) is replaced.
  EXPECT_EQ(json::parse(report::script_json(json("a\xFF<"))), json("a\xEF\xBF\xBD<"));
}

TEST(ReportEmbedded, TheVendoredVegaBuildsAreBuiltIn) {
  const auto scripts = report::embedded_scripts();
  ASSERT_EQ(scripts.size(), 3u);
  const char* names[] = {"vega.min.js", "vega-lite.min.js", "vega-embed.min.js"};
  const auto manifest = json::parse(test::read_text(test::source_dir() / "third_party/vega/vendor.json"));
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(scripts[i].name, names[i]);
    const std::string file = test::read_text(test::source_dir() / "third_party/vega" / names[i]);
    EXPECT_EQ(scripts[i].bytes.size(), file.size());
    EXPECT_TRUE(scripts[i].bytes == file) << names[i];
    // Inlined as they are in <script> elements: nothing in them may end one.
    std::string lower(scripts[i].bytes);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    EXPECT_EQ(lower.find("</script"), std::string::npos);
    EXPECT_EQ(lower.find("<!--"), std::string::npos);
    // The manifest names the version each build carries.
    EXPECT_EQ(manifest["files"][i]["file"], names[i]);
    EXPECT_NE(file.find("\"" + manifest["files"][i]["version"].get<std::string>() + "\""), std::string::npos);
  }
}

const report::Chart* find_chart(const std::vector<report::Chart>& charts, const std::string& name) {
  for (const auto& c : charts)
    if (c.name == name) return &c;
  return nullptr;
}

std::string cell_of(const study::StoredRun& run) { return "optimizer.lr=" + run.grid["optimizer.lr"].dump(); }

// One study, run once for the tests that only read it.
class ReportStudy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new test::TempDir;
    test::run_report_study(*dir_, study_dir(), test::report_study_yaml());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::filesystem::path study_dir() { return *dir_ / "study"; }
  static test::TempDir* dir_;
};
test::TempDir* ReportStudy::dir_ = nullptr;

TEST_F(ReportStudy, ChartRowsAreTheRunsSummarized) {
  const auto in = report::load_input(study_dir());
  ASSERT_EQ(in.records.runs.size(), 8u);
  for (const auto& run : in.records.runs) ASSERT_EQ(run.status, "ok") << run.key;
  EXPECT_TRUE(in.lag.empty());
  EXPECT_EQ(in.meta.at("name"), "report");
  const auto charts = report::build_charts(in);
  ASSERT_EQ(charts.size(), 3u);
  EXPECT_EQ(charts[0].name, "grad_norm_by_layer");
  EXPECT_EQ(charts[1].name, "learning_curves");
  EXPECT_EQ(charts[2].name, "final_accuracy");
  EXPECT_EQ(find_chart(charts, "error_flow_by_lag"), nullptr);  // no grad_by_lag probes in the database

  // The expected values, straight from the runs: (variant, cell, epoch, layer) -> grad norms.
  std::map<std::tuple<std::string, std::string, std::int64_t, std::int64_t>, std::vector<double>> grads;
  std::map<std::tuple<std::string, std::string, std::int64_t>, std::vector<double>> accuracy, loss;
  for (const auto& run : in.records.runs) {
    ASSERT_EQ(run.epochs.size(), 3u);
    for (const auto& e : run.epochs) {
      accuracy[{run.variant, cell_of(run), e.epoch}].push_back(e.test_accuracy);
      loss[{run.variant, cell_of(run), e.epoch}].push_back(e.test_loss);
      ASSERT_EQ(e.layers.size(), 3u);
      for (const auto& l : e.layers)
        if (l.param_count > 0) grads[{run.variant, cell_of(run), e.epoch, l.index}].push_back(l.grad_norm);
    }
  }
  auto mean = [](const std::vector<double>& v) { return (v[0] + v[1]) / 2; };

  // Gradient norm by layer: 2 variants x 2 cells x (epoch 0, epoch 2) x the 2 dense layers.
  const auto& g = charts[0].spec;
  EXPECT_EQ(g["$schema"], "https://vega.github.io/schema/vega-lite/v6.json");
  EXPECT_EQ(g["facet"]["column"]["sort"], json({"epoch 0", "epoch 2"}));
  EXPECT_EQ(g["facet"]["row"]["sort"], json({"optimizer.lr=0.1", "optimizer.lr=0.05"}));
  EXPECT_EQ(g["spec"]["layer"][1]["encoding"]["y"]["scale"]["type"], "log");
  const auto& rows = g["data"]["values"];
  ASSERT_EQ(rows.size(), 16u);
  std::size_t i = 0;
  for (const char* variant : {"plain", "relu"})
    for (const char* cell : {"optimizer.lr=0.1", "optimizer.lr=0.05"})
      for (std::int64_t epoch : {0, 2})
        for (std::int64_t layer : {0, 2}) {
          const auto& row = rows[i++];
          SCOPED_TRACE(row.dump());
          EXPECT_EQ(row["variant"], variant);
          EXPECT_EQ(row["cell"], cell);
          EXPECT_EQ(row["stage"], "epoch " + std::to_string(epoch));
          EXPECT_EQ(row["layer"], layer);
          EXPECT_EQ(row["layer_type"], "dense");
          const auto& v = grads.at({variant, cell, epoch, layer});
          EXPECT_EQ(row["n"], 2);
          EXPECT_DOUBLE_EQ(row["mean"].get<double>(), mean(v));
          EXPECT_EQ(row["min"].get<double>(), std::min(v[0], v[1]));
          EXPECT_EQ(row["max"].get<double>(), std::max(v[0], v[1]));
        }

  // Learning curves: 2 variants x 2 cells x 2 metrics x epochs 0..2.
  const auto& lc = charts[1].spec;
  EXPECT_EQ(lc["resolve"]["scale"]["y"], "independent");
  const auto& curve = lc["data"]["values"];
  ASSERT_EQ(curve.size(), 24u);
  i = 0;
  for (const char* variant : {"plain", "relu"})
    for (const char* cell : {"optimizer.lr=0.1", "optimizer.lr=0.05"})
      for (const char* metric : {"test accuracy", "test loss"})
        for (std::int64_t epoch : {0, 1, 2}) {
          const auto& row = curve[i++];
          SCOPED_TRACE(row.dump());
          EXPECT_EQ(row["variant"], variant);
          EXPECT_EQ(row["cell"], cell);
          EXPECT_EQ(row["metric"], metric);
          EXPECT_EQ(row["epoch"], epoch);
          const auto& v = (std::string(metric) == "test accuracy" ? accuracy : loss).at({variant, cell, epoch});
          EXPECT_DOUBLE_EQ(row["mean"].get<double>(), mean(v));
          EXPECT_EQ(row["min"].get<double>(), std::min(v[0], v[1]));
          EXPECT_EQ(row["max"].get<double>(), std::max(v[0], v[1]));
        }

  // Final accuracy: a mean row per variant and cell (the statistics' numbers),
  // then one row per ok run.
  const auto& fa = charts[2].spec;
  const auto& finals = fa["data"]["values"];
  ASSERT_EQ(finals.size(), 4u + 8u);
  ASSERT_EQ(in.stats.cells.size(), 4u);
  for (std::size_t k = 0; k < 4; ++k) {
    const auto& c = in.stats.cells[k];
    const auto& row = finals[k];
    EXPECT_EQ(row["kind"], "mean");
    EXPECT_EQ(row["variant"], c.variant);
    EXPECT_EQ(row["cell"], c.cell);
    const auto& a = c.metrics.at("test_accuracy");
    EXPECT_EQ(row["mean"].get<double>(), a.mean);
    EXPECT_EQ(row["ci_low"].get<double>(), a.ci_low);
    EXPECT_EQ(row["ci_high"].get<double>(), a.ci_high);
    EXPECT_EQ(row["n_ok"], 2);
    EXPECT_DOUBLE_EQ(a.mean, mean(accuracy.at({c.variant, c.cell, 2})));
  }
  for (std::size_t k = 0; k < 8; ++k) {
    const auto& run = in.records.runs[k];
    const auto& row = finals[4 + k];
    EXPECT_EQ(row["kind"], "run");
    EXPECT_EQ(row["key"], run.key);
    EXPECT_EQ(row["variant"], run.variant);
    EXPECT_EQ(row["value"].get<double>(), run.epochs.back().test_accuracy);
  }
  EXPECT_EQ(fa["encoding"]["x"]["field"], "cell");
  EXPECT_EQ(fa["encoding"]["xOffset"]["field"], "variant");
}

// The error flow chart is data-driven: it appears once the database holds
// grad_by_lag rows, with their means per variant, cell, epoch and lag.
TEST_F(ReportStudy, ErrorFlowChartAppearsWithLagRows) {
  test::TempDir copy;
  std::filesystem::copy(study_dir(), copy / "s", std::filesystem::copy_options::recursive);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((copy / "s" / "results.sqlite").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(
      sqlite3_exec(db,
                   // Every run: lags 0..3 at epochs 0 and 2, norm = (run id) * 10^-lag (epoch 2: halved),
                   // on recurrent layer 1; layer 3 (a second recurrent layer) has other values that
                   // the chart, which shows the first recurrent layer, must not mix in.
                   "WITH RECURSIVE lags(l) AS (SELECT 0 UNION ALL SELECT l + 1 FROM lags WHERE l < 3) "
                   "INSERT INTO grad_by_lag (run_id, epoch, layer, lag, grad_norm) SELECT r.id, e.e, n.layer, l, "
                   "r.id * 1.0 / (CASE l WHEN 0 THEN 1 WHEN 1 THEN 10 WHEN 2 THEN 100 ELSE 1000 END) / (1 + e.e / 2) "
                   "* n.layer FROM runs r, lags, (SELECT 0 AS e UNION ALL SELECT 2) e, "
                   "(SELECT 1 AS layer UNION ALL SELECT 3) n;",
                   nullptr, nullptr, nullptr),
      SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);
  const auto in = report::load_input(copy / "s");
  ASSERT_EQ(in.lag.size(), 8u * 4 * 2);
  const auto charts = report::build_charts(in);
  ASSERT_EQ(charts.size(), 4u);
  ASSERT_EQ(charts[3].name, "error_flow_by_lag");
  const auto& spec = charts[3].spec;
  EXPECT_EQ(spec["facet"]["column"]["sort"], json({"epoch 0", "epoch 2"}));
  const auto& rows = spec["data"]["values"];
  ASSERT_EQ(rows.size(), 2u * 2 * 2 * 4);
  // Run ids 1..8 in plan order: plain lr=0.1 seeds 0,1 are ids 1,2.
  EXPECT_EQ(rows[0]["variant"], "plain");
  EXPECT_EQ(rows[0]["cell"], "optimizer.lr=0.1");
  EXPECT_EQ(rows[0]["stage"], "epoch 0");
  EXPECT_EQ(rows[0]["lag"], 0);
  EXPECT_DOUBLE_EQ(rows[0]["mean"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(rows[5]["mean"].get<double>(), 1.5 / 10 / 2);  // epoch 2, lag 1
  EXPECT_EQ(rows[5]["stage"], "epoch 2");
  EXPECT_EQ(rows[5]["min"].get<double>(), 0.1 / 2);
  EXPECT_EQ(rows[5]["max"].get<double>(), 0.2 / 2);
}

TEST_F(ReportStudy, WritesTheReportAndTheChartSpecs) {
  auto r = test::run_cli({"report", study_dir().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("3 charts"), std::string::npos) << r.out;
  const auto html = test::read_text(study_dir() / "report.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  // Self-contained: the three builds inline, no script or style from elsewhere.
  for (const auto& s : report::embedded_scripts()) EXPECT_NE(html.find(std::string(s.bytes)), std::string::npos);
  EXPECT_EQ(html.find("<script src"), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_NE(html.find("<td><code>relu</code></td>"), std::string::npos);
  EXPECT_NE(html.find("data-chart=\"grad_norm_by_layer\""), std::string::npos);
  EXPECT_NE(html.find("href=\"report.charts/final_accuracy.vl.json\""), std::string::npos);

  // Each chart's spec beside it, the same as the one in the page.
  const auto charts = report::build_charts(report::load_input(study_dir()));
  for (const auto& chart : charts) {
    const auto file = study_dir() / "report.charts" / (chart.name + ".vl.json");
    ASSERT_TRUE(std::filesystem::is_regular_file(file)) << file;
    EXPECT_EQ(json::parse(test::read_text(file)), chart.spec) << chart.name;
  }
  EXPECT_FALSE(std::filesystem::exists(study_dir() / "report.charts" / "error_flow_by_lag.vl.json"));

  // -o elsewhere: FILE.html -> FILE.charts/; a stale spec of a chart the
  // report no longer has goes.
  test::TempDir out;
  std::filesystem::create_directories(out / "r.charts");
  test::write_text(out / "r.charts" / "error_flow_by_lag.vl.json", "{}");
  r = test::run_cli({"report", study_dir().string(), "-o", (out / "r.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "r.html"));
  EXPECT_TRUE(std::filesystem::is_regular_file(out / "r.charts" / "learning_curves.vl.json"));
  EXPECT_FALSE(std::filesystem::exists(out / "r.charts" / "error_flow_by_lag.vl.json"));
  EXPECT_NE(test::read_text(out / "r.html").find("href=\"r.charts/learning_curves.vl.json\""), std::string::npos);
}

// The database is only read: a folder whose study is running (its lock held)
// gives a report, which says so.
TEST_F(ReportStudy, NeedsNoLock) {
  const int fd = ::open((study_dir() / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  test::TempDir out;
  auto r = test::run_cli({"report", study_dir().string(), "-o", (out / "live.html").string()});
  ::close(fd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(test::read_text(out / "live.html").find("was running this study"), std::string::npos);
}

TEST(ReportCommand, HelpAndErrors) {
  auto help = test::run_cli({"report", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("gradlab report DIR"), std::string::npos) << help.out;
  EXPECT_NE(help.out.find(".vl.json"), std::string::npos);
  EXPECT_NE(test::run_cli({"--help"}).out.find("report DIR"), std::string::npos);

  test::TempDir dir;
  // A folder without results.sqlite: one line, exit 2, nothing written.
  auto r = test::run_cli({"report", dir.path().string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "gradlab: error: " + dir.path().string() + ": holds no study results (no results.sqlite)\n");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
  r = test::run_cli({"report", (dir / "missing").string()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  EXPECT_EQ(test::run_cli({"report"}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"report", "a", "b"}).exit_code, 2);
  EXPECT_EQ(test::run_cli({"report", dir.path().string(), "--bogus"}).exit_code, 2);
}

TEST_F(ReportStudy, UnwritableOutputsAreRefusedBeforeReading) {
  test::TempDir out;
  // The output is a folder.
  auto r = test::run_cli({"report", study_dir().string(), "-o", out.path().string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  // The charts folder's name is taken by a file.
  test::write_text(out / "x.charts", "");
  r = test::run_cli({"report", study_dir().string(), "-o", (out / "x.html").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("x.charts"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out / "x.html"));
}

}  // namespace
}  // namespace gradlab
