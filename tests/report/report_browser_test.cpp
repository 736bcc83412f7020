// gradlab report in a real browser: headless Chromium (Debian's chromium;
// GRADLAB_CHROMIUM names another binary) renders the report offline; the page
// records script errors in <pre id="errors"> and each chart box says whether
// it drew (data-rendered="svg"). Study text that holds markup must show as
// text and run nothing. The screenshot stays in the build tree:
// test-artifacts/report.png.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <iostream>
#include <regex>

#include "gradlab/core/report/report.hpp"
#include "report_study.hpp"

namespace gradlab {
namespace {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string chromium_binary() {
  if (const char* env = std::getenv("GRADLAB_CHROMIUM"); env && *env) return env;
  auto r = test::run_shell("command -v chromium");
  if (r.exit_code != 0) return "";
  return r.out.substr(0, r.out.find('\n'));
}

// Runs headless Chromium on `page` with a fresh profile; `action` is
// --dump-dom or --screenshot=PATH. Returns stdout (the DOM for --dump-dom).
std::string chromium(const std::filesystem::path& page, const std::string& action) {
  const std::string binary = chromium_binary();
  if (binary.empty()) {
    ADD_FAILURE() << "chromium is not installed: `make deps` installs it (apt-get install chromium), or set "
                     "GRADLAB_CHROMIUM to a Chromium binary";
    return "";
  }
  test::TempDir profile;
  const std::string line =
      "timeout 30 " + shell_quote(binary) +
      " --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update"
      " --disable-sync --no-first-run --user-data-dir=" +
      shell_quote(profile.path().string()) + " --virtual-time-budget=10000 --window-size=1400,3000 " +
      shell_quote(action) + " " + shell_quote("file://" + std::filesystem::absolute(page).string()) + " </dev/null";
  auto r = test::run_shell(line);
  EXPECT_EQ(r.exit_code, 0) << line << "\n" << r.err.substr(0, 4000);
  return r.out;
}

// The text of the element whose start tag holds `id="<id>"`.
std::string element_text(const std::string& dom, const std::string& id) {
  const auto at = dom.find("id=\"" + id + "\"");
  if (at == std::string::npos) return "<no element " + id + ">";
  const auto start = dom.find('>', at) + 1;
  const auto end = dom.find("</", start);
  return dom.substr(start, end - start);
}

// Checks that the page drew every chart and reported no error.
void expect_rendered(const std::string& dom, const std::vector<std::string>& charts) {
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(element_text(dom, "errors"), "") << "the page reported errors";
  EXPECT_NE(dom.find("data-charts-done=\"" + std::to_string(charts.size()) + "\""), std::string::npos)
      << "not every chart finished";
  for (const auto& name : charts) {
    const auto at = dom.find("id=\"chart-" + name + "\"");
    ASSERT_NE(at, std::string::npos) << name;
    const auto tag_end = dom.find('>', at);
    const std::string tag = dom.substr(at, tag_end - at);
    EXPECT_NE(tag.find("data-rendered=\"svg\""), std::string::npos) << name << ": " << tag;
    const auto box_end = dom.find("</figure>", at);
    const std::string box = dom.substr(tag_end, box_end - tag_end);
    EXPECT_NE(box.find("<svg"), std::string::npos) << name << " holds no <svg>";
    // Something was drawn: marks, not just an empty frame.
    EXPECT_NE(box.find("class=\"mark-"), std::string::npos) << name;
  }
}

void sql(const std::filesystem::path& db_file, const std::string& statements) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_file.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, statements.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << message;
}

// A study whose names and messages hold markup: shown as text, nothing runs.
TEST(ReportBrowser, DrawsEveryChartAndRunsNoInjectedScript) {
  test::TempDir dir;
  const auto study = dir / "study";
  // The planner takes no '/' or '=' in a variant name; the database may hold
  // anything, so the rest of the markup is put there afterwards.
  test::run_report_study(dir, study, test::report_study_yaml("xss", "<script>alert(1)", "relu <b>bold"));
  if (HasFatalFailure()) return;
  auto literal = [](const std::string& text) {  // an SQL string literal
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
    return out + "'";
  };
  const std::string inject = "document.documentElement.setAttribute('data-injected', ";
  sql(study / "results.sqlite",
      "UPDATE runs SET variant = '<script>alert(1)</script>' WHERE variant = '<script>alert(1)';"
      "UPDATE meta SET value = " +
          literal("</script><script>" + inject + "'name')</script>") +
          " WHERE key = 'name';"
          // Run 1: a key and a message with markup (failed runs are listed with both).
          "UPDATE runs SET key = key || " +
          literal("<img src=x onerror=\"" + inject + "'key')\">") +
          ", status = 'failed', message = " + literal("</script><script>" + inject + "'message')</script> <!-- ") +
          " || char(8232) || ' & more' WHERE id = 1;"
          // Error flow probes (this feed-forward study has none), so the lag chart is drawn too.
          "WITH RECURSIVE lags(l) AS (SELECT 0 UNION ALL SELECT l + 1 FROM lags WHERE l < 5) "
          "INSERT INTO grad_by_lag (run_id, epoch, layer, lag, grad_norm) SELECT r.id, e.e, 0, l, "
          "r.id * 1.0 / (1 + l * l * (1 + e.e)) FROM runs r, lags, (SELECT 0 AS e UNION ALL SELECT 2) e;");
  if (HasFatalFailure()) return;
  const auto page = dir / "report.html";
  auto r = test::run_cli({"report", study.string(), "-o", page.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("4 charts"), std::string::npos) << r.out;

  const std::string dom = chromium(page, "--dump-dom");
  expect_rendered(dom, {"grad_norm_by_layer", "learning_curves", "final_accuracy", "error_flow_by_lag"});
  EXPECT_EQ(element_text(dom, "warnings"), "") << "Vega warned";
  // No injected script ran; the markup shows as text (in the tables, the
  // chart legends and the run list).
  EXPECT_EQ(dom.find("data-injected="), std::string::npos);
  EXPECT_EQ(dom.find("<script>alert(1)"), std::string::npos);
  EXPECT_EQ(dom.find("<img src=\"x\""), std::string::npos);
  EXPECT_EQ(dom.find("<b>bold"), std::string::npos);
  EXPECT_NE(dom.find("<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"), std::string::npos);
  EXPECT_NE(dom.find("relu &lt;b&gt;bold"), std::string::npos);
  EXPECT_NE(dom.find("&lt;/script&gt;&lt;script&gt;document.documentElement"), std::string::npos);
  EXPECT_NE(dom.find("&lt;img src=x onerror="), std::string::npos);
  // The charts name the variant as SVG text (a legend label).
  const auto svg = dom.find("<svg");
  ASSERT_NE(svg, std::string::npos);
  EXPECT_NE(dom.find("&lt;script&gt;alert(1)", svg), std::string::npos);

  // The screenshot, kept for a look.
  const auto artifacts = test::binary_dir() / "test-artifacts";
  std::filesystem::create_directories(artifacts);
  const auto png = artifacts / "report.png";
  std::filesystem::remove(png);
  chromium(page, "--screenshot=" + png.string());
  ASSERT_TRUE(std::filesystem::is_regular_file(png));
  EXPECT_GT(std::filesystem::file_size(png), 50000u);
  std::cout << "screenshot: " << png.string() << "\n";
}

// A study with no run ended ok yet (one failed, the others not run): the
// report opens without errors or warnings, and has no charts yet.
TEST(ReportBrowser, AStudyWithoutResultsYetRendersToo) {
  test::TempDir dir;
  const auto study = dir / "study";
  test::run_report_study(dir, study, test::report_study_yaml());
  if (HasFatalFailure()) return;
  sql(study / "results.sqlite",
      "DELETE FROM probes; DELETE FROM epochs; UPDATE runs SET status = 'pending' WHERE id > 1;"
      "UPDATE runs SET status = 'failed', message = 'out of memory' WHERE id = 1;");
  if (HasFatalFailure()) return;
  auto r = test::run_cli({"report", study.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0 ok run(s) of 8, 0 charts"), std::string::npos) << r.out;
  const std::string dom = chromium(study / "report.html", "--dump-dom");
  ASSERT_FALSE(dom.empty());
  EXPECT_EQ(element_text(dom, "errors"), "");
  EXPECT_EQ(element_text(dom, "warnings"), "");
  EXPECT_NE(dom.find("data-charts-done=\"0\""), std::string::npos);
  EXPECT_NE(dom.find("No charts yet"), std::string::npos);
  EXPECT_NE(dom.find("out of memory"), std::string::npos);
}

}  // namespace
}  // namespace gradlab
