// The report as one HTML document: the study, the statistics table, and the
// charts, with the Vega builds and the chart specs inline.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "assets.hpp"
#include "gradlab/core/report/report.hpp"
#include "gradlab/version.hpp"

namespace gradlab::report {

std::vector<Script> embedded_scripts() {
  std::vector<Script> scripts;
  for (std::size_t i = 0; i < detail::embedded_file_count; ++i)
    scripts.push_back({detail::embedded_files[i].name, detail::embedded_files[i].bytes});
  return scripts;
}

namespace {

using nlohmann::json;

const char* style = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1300px;
       padding: 1em 2em 4em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
.muted { color: #666; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.baseline td { background: #f8f8ff; }
.table-wrap { overflow-x: auto; }
table.stats { font-size: 12.5px; }
table.stats th { font-weight: 600; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 12.5px; }
pre.spec { background: #f7f7f7; padding: 0.8em; overflow: auto; max-height: 40em; }
pre#errors { background: #fee; color: #900; padding: 0.8em; white-space: pre-wrap; }
.live { background: #fff6d5; padding: 0.5em 0.8em; }
figure.chart-box { margin: 1.5em 0; }
figure.chart-box figcaption h3 { margin-bottom: 0.2em; }
figure.chart-box figcaption p { margin-top: 0; max-width: 60em; }
.chart { overflow-x: auto; }
)";

// Collects every script error and rejected promise into <pre id="errors">,
// and Vega's warnings into <pre id="warnings">: a page that draws wrong says so
// (and a test reads it from the page).
const char* error_script = R"(
(function () {
  'use strict';
  function add(id, text) {
    var box = document.getElementById(id);
    if (!box) return;
    box.textContent += text + '\n';
    box.hidden = false;
    var outer = box.closest('details');
    if (outer) outer.hidden = false;
  }
  window.gradlabError = function (text) { add('errors', text); };
  window.addEventListener('error', function (event) {
    add('errors', 'script error: ' + event.message + (event.filename ? ' (' + event.filename + ':' + event.lineno + ')' : ''));
  });
  window.addEventListener('unhandledrejection', function (event) {
    var r = event.reason;
    add('errors', 'unhandled rejection: ' + (r && r.message ? r.message : String(r)));
  });
  var warn = console.warn, error = console.error;
  console.warn = function () {
    add('warnings', Array.prototype.map.call(arguments, String).join(' '));
    return warn.apply(console, arguments);
  };
  console.error = function () {
    add('errors', 'console.error: ' + Array.prototype.map.call(arguments, String).join(' '));
    return error.apply(console, arguments);
  };
})();
)";

// Draws each chart into its box; a box says how it went in data-rendered
// (svg, canvas, none, error), and <body data-charts-done="N"> when all are done.
const char* driver_script = R"(
(function () {
  'use strict';
  var boxes = Array.prototype.slice.call(document.querySelectorAll('[data-chart]'));
  var specs;
  try {
    specs = JSON.parse(document.getElementById('chart-specs').textContent);
  } catch (e) {
    window.gradlabError('chart specs: ' + e.message);
    return;
  }
  if (typeof vegaEmbed !== 'function') {
    window.gradlabError('vega-embed did not load');
    return;
  }
  var options = {
    mode: 'vega-lite',
    renderer: 'svg',
    actions: {export: true, source: false, compiled: false, editor: false}
  };
  var pending = boxes.map(function (box) {
    var name = box.getAttribute('data-chart');
    if (!specs[name]) {
      box.setAttribute('data-rendered', 'error');
      window.gradlabError(name + ': no spec');
      return Promise.resolve();
    }
    return vegaEmbed(box, specs[name], options).then(function () {
      var kind = box.querySelector('svg') ? 'svg' : box.querySelector('canvas') ? 'canvas' : 'none';
      box.setAttribute('data-rendered', kind);
      if (kind === 'none') window.gradlabError(name + ': nothing was drawn');
    }, function (error) {
      box.setAttribute('data-rendered', 'error');
      window.gradlabError(name + ': ' + (error && error.message ? error.message : String(error)));
    });
  });
  Promise.all(pending).then(function () {
    document.body.setAttribute('data-charts-done', String(pending.length));
  });
})();
)";

std::string format(const char* spec, double v) {
  if (!std::isfinite(v)) return "–";
  char text[48];
  std::snprintf(text, sizeof text, spec, v);
  return text;
}
std::string num(double v) { return format("%.4g", v); }

std::string utc_time(double unix_seconds) {
  if (!std::isfinite(unix_seconds)) return "";
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[40];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return text;
}

std::string meta(const ReportInput& in, const std::string& key) {
  auto it = in.meta.find(key);
  return it == in.meta.end() ? std::string() : it->second;
}

// A relative file path for an href: every byte but letters, digits, "-._~/"
// percent-encoded (a "#" or "?" in a file name stays part of the path).
std::string href_path(const std::string& path) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : path)
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
        c == '_' || c == '~' || c == '/') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  return out;
}

std::string cell_label(const std::string& cell) { return cell.empty() ? "–" : cell; }

void fact(std::string& out, const std::string& name, const std::string& value_html) {
  out += "<dt>" + html_text(name) + "</dt><dd>" + value_html + "</dd>\n";
}

void study_section(std::string& out, const ReportInput& in) {
  const auto& c = in.counts;
  const json spec = json::parse(meta(in, "spec"), nullptr, false);
  out += "<section id=\"study\">\n<h2>The study</h2>\n<dl class=\"facts\">\n";
  fact(out, "name", "<code>" + html_text(in.records.name) + "</code>");
  if (!meta(in, "source").empty()) fact(out, "study file", "<code>" + html_text(meta(in, "source")) + "</code>");
  fact(out, "folder", "<code>" + html_text(in.dir.string()) + "</code>");
  fact(out, "plan hash", "<code>" + html_text(meta(in, "hash")) + "</code>");
  if (!meta(in, "seed").empty()) fact(out, "study seed", html_text(meta(in, "seed")));
  if (spec.is_object() && spec.contains("seeds")) fact(out, "seeds per cell", html_text(spec["seeds"].dump()));
  fact(out, "baseline", "<code>" + html_text(in.records.baseline) + "</code>");
  if (!meta(in, "created_at").empty())
    fact(out, "created", html_text(utc_time(std::strtod(meta(in, "created_at").c_str(), nullptr))));
  if (!meta(in, "gradlab_version").empty()) fact(out, "run with", "gradlab " + html_text(meta(in, "gradlab_version")));
  std::string runs = std::to_string(c.total) + " planned: " + std::to_string(c.ok) + " ok, " +
                     std::to_string(c.diverged) + " diverged, " + std::to_string(c.failed) + " failed, ";
  if (c.locked)
    runs += std::to_string(c.running) + " running, " + std::to_string(c.pending) + " pending";
  else
    runs += std::to_string(c.running + c.pending) + " not run yet";
  fact(out, "runs", html_text(runs));
  out += "</dl>\n";
  if (c.locked)
    out +=
        "<p class=\"live\">A gradlab process was running this study when this report was written: it shows the "
        "runs stored by then. Write it again for the rest.</p>\n";

  // Variants and grid, as the study spec names them.
  out += "<h3>Variants</h3>\n<table><tr><th>variant</th><th>overrides of the base</th></tr>\n";
  for (const auto& variant : in.records.variants) {
    std::string overrides;
    if (spec.is_object() && spec.contains("variants") && spec["variants"].is_object() &&
        spec["variants"].contains(variant))
      overrides = spec["variants"][variant].dump(-1, ' ', false, json::error_handler_t::replace);
    out += std::string("<tr") + (variant == in.records.baseline ? " class=\"baseline\"" : "") + "><td><code>" +
           html_text(variant) + "</code>" + (variant == in.records.baseline ? " (baseline)" : "") + "</td><td><code>" +
           html_text(overrides.empty() || overrides == "null" ? "{}" : overrides) + "</code></td></tr>\n";
  }
  out += "</table>\n";
  if (spec.is_object() && spec.contains("grid") && spec["grid"].is_object() && !spec["grid"].empty()) {
    out += "<h3>Grid</h3>\n<table><tr><th>axis</th><th>values</th></tr>\n";
    for (auto it = spec["grid"].begin(); it != spec["grid"].end(); ++it)
      out += "<tr><td><code>" + html_text(it.key()) + "</code></td><td><code>" +
             html_text(it.value().dump(-1, ' ', false, json::error_handler_t::replace)) + "</code></td></tr>\n";
    out += "</table>\n";
  }
  out += "<details><summary>The study spec, as stored</summary>\n<pre class=\"spec\">" +
         html_text(spec.is_discarded() ? meta(in, "spec") : spec.dump(2, ' ', false, json::error_handler_t::replace)) +
         "</pre>\n</details>\n";

  // Runs that did not end ok, with their messages.
  std::string bad;
  std::size_t n_bad = 0;
  for (const auto& run : in.records.runs) {
    if (run.status != "diverged" && run.status != "failed") continue;
    ++n_bad;
    auto m = in.messages.find(run.key);
    bad += "<tr><td><code>" + html_text(run.key) + "</code></td><td>" + html_text(run.status) + "</td><td>" +
           html_text(m == in.messages.end() ? "" : m->second) + "</td></tr>\n";
  }
  if (n_bad)
    out += "<details><summary>" + std::to_string(n_bad) +
           " diverged or failed run(s)</summary>\n<table><tr><th>run</th><th>status</th><th>message</th></tr>\n" + bad +
           "</table>\n</details>\n";
  out += "</section>\n";
}

void results_section(std::string& out, const ReportInput& in) {
  const auto& stats = in.stats;
  // Regression runs have no accuracy: their metric is the mean squared error.
  const bool regression = stats.task == Task::regression;
  const std::string test_metric = regression ? "test_mse" : "test_accuracy";
  const std::string train_metric = regression ? "train_mse" : "train_accuracy";
  const std::string metric_text = regression ? "MSE" : "acc";
  out += "<section id=\"results\">\n<h2>Results</h2>\n";
  out +=
      "<p>Per variant and grid cell, over the cell's <em>ok</em> runs (diverged, failed and unfinished runs are "
      "counted, never averaged): the final metrics after the last evaluated epoch, mean, sample sd and the 95% "
      "confidence interval of the mean (Student t). Against the baseline <code>" +
      html_text(stats.baseline) + "</code> at the same cell, on the final test " +
      std::string(regression ? "mean squared error" : "accuracy") +
      ": the difference of means, Welch's t-test (two-sided p) "
      "and Holm's adjustment over all the comparisons. The last column: the mean over the runs of the first "
      "parametrized layer's gradient norm over the last's at the first probed epoch (≪ 1 vanishing, ≫ 1 "
      "exploding). The same numbers as <code>gradlab study stats</code>.</p>\n";
  out +=
      "<div class=\"table-wrap\"><table class=\"stats\">\n<tr><th>variant</th><th>grid cell</th>"
      "<th title=\"ok / diverged / failed / not run yet\">ok/div/fail/unfin</th><th>test " +
      metric_text +
      " mean ± sd</th>"
      "<th>95% CI</th><th>test loss mean ± sd</th><th>95% CI</th><th>train " +
      metric_text +
      " mean</th><th>train loss mean</th>"
      "<th>Δ " +
      metric_text +
      " vs baseline</th>"
      "<th>t</th><th>df</th><th>p</th><th>p (Holm)</th><th>grad first/last (first epoch)</th></tr>\n";
  bool untested = false;
  for (const auto& c : stats.cells) {
    const auto& acc = c.metrics.at(test_metric);
    const auto& loss = c.metrics.at("test_loss");
    auto ci = [](const study::Summary& s) {
      if (!std::isfinite(s.ci_low)) return std::string("–");
      std::string text = "[";
      text += num(s.ci_low);
      text += ", ";
      text += num(s.ci_high);
      text += "]";
      return text;
    };
    const bool base = c.variant == stats.baseline;
    out += std::string("<tr") + (base ? " class=\"baseline\"" : "") + "><td><code>" + html_text(c.variant) +
           "</code></td><td><code>" + html_text(cell_label(c.cell)) + "</code></td><td class=\"num\">" +
           std::to_string(c.n_ok) + "/" + std::to_string(c.n_diverged) + "/" + std::to_string(c.n_failed) + "/" +
           std::to_string(c.n_unfinished) + "</td>";
    for (const auto& s : {acc, loss})
      out += "<td class=\"num\">" + num(s.mean) + (std::isfinite(s.sd) ? " ± " + num(s.sd) : std::string()) +
             "</td><td class=\"num\">" + ci(s) + "</td>";
    out += "<td class=\"num\">" + num(c.metrics.at(train_metric).mean) + "</td><td class=\"num\">" +
           num(c.metrics.at("train_loss").mean) + "</td>";
    if (c.compared) {
      untested = untested || !c.test.valid;
      out += "<td class=\"num\">" + format("%+.4g", c.delta) + "</td>";
      if (c.test.valid)
        out += "<td class=\"num\">" + num(c.test.t) + "</td><td class=\"num\">" + format("%.3g", c.test.df) +
               "</td><td class=\"num\">" + format("%.3g", c.test.p) + "</td><td class=\"num\">" +
               format("%.3g", c.p_holm) + "</td>";
      else
        out += "<td colspan=\"4\" title=\"" + html_text(c.test.note) + "\">n/a (" + html_text(c.test.note) + ")</td>";
    } else {
      out += "<td colspan=\"5\">(baseline)</td>";
    }
    out += "<td class=\"num\">" + format("%.3g", c.grad_ratio_first.mean) + "</td></tr>\n";
  }
  out += "</table></div>\n";
  if (untested)
    out +=
        "<p class=\"muted\">n/a: no test (fewer than 2 ok runs in a group, or zero variance in both). sd and CI "
        "need 2 ok runs.</p>\n";
  out +=
      "<p class=\"muted\">With few seeds a test has little power: a large p says the seeds cannot tell the "
      "variants apart, not that they are the same.</p>\n</section>\n";
}

}  // namespace

std::string render_html(const ReportInput& in, const std::vector<Chart>& charts, const HtmlOptions& options) {
  std::string out;
  out.reserve(1 << 20);
  out +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta name=\"generator\" content=\"gradlab " GRADLAB_VERSION_STRING "\">\n<title>" +
      html_text("gradlab report: " + in.records.name) + "</title>\n<style>" + style + "</style>\n</head>\n<body>\n";
  out += "<pre id=\"errors\" hidden></pre>\n<script>" + std::string(error_script) + "</script>\n";
  out += "<header>\n<h1>Study <code>" + html_text(in.records.name) + "</code></h1>\n<p class=\"muted\">" +
         html_text("Written " + utc_time(double(std::time(nullptr))) +
                   " by gradlab " GRADLAB_VERSION_STRING " (gradlab report), from " +
                   (in.dir / "results.sqlite").string()) +
         ".</p>\n</header>\n";
  study_section(out, in);
  results_section(out, in);

  out +=
      "<section id=\"charts\">\n<h2>Charts</h2>\n<noscript><p class=\"live\">The charts need JavaScript (it is "
      "all in this file: nothing is fetched).</p></noscript>\n";
  if (charts.empty())
    out += "<p class=\"muted\">No charts yet: no run of this study has ended ok with data to draw.</p>\n";
  json specs = json::object();
  for (const auto& chart : charts) {
    specs[chart.name] = chart.spec;
    out += "<figure class=\"chart-box\">\n<figcaption><h3>" + html_text(chart.title) + "</h3><p>" +
           html_text(chart.description);
    if (!options.specs_href.empty()) {
      const std::string href = href_path(options.specs_href + "/" + chart.name + ".vl.json");
      out += " <a href=\"" + html_text(href) + "\">Vega-Lite spec</a>.";
    }
    out += "</p></figcaption>\n<div class=\"chart\" id=\"chart-" + html_text(chart.name) + "\" data-chart=\"" +
           html_text(chart.name) + "\"></div>\n</figure>\n";
  }
  out += "<details hidden><summary>Chart warnings</summary><pre id=\"warnings\" hidden></pre></details>\n</section>\n";

  out += "<script type=\"application/json\" id=\"chart-specs\">" + script_json(specs) + "</script>\n";
  out +=
      "<script type=\"application/json\" id=\"study-stats\">" + script_json(study::to_json(in.stats)) + "</script>\n";
  for (const auto& script : embedded_scripts()) {
    out += "<script>/* " + script.name + " (third_party/vega) */\n";
    out.append(script.bytes);
    out += "\n</script>\n";
  }
  out += "<script>" + std::string(driver_script) + "</script>\n</body>\n</html>\n";
  return out;
}

}  // namespace gradlab::report
