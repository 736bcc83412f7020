// `gradlab report`: one self-contained HTML file about a study (docs/report.md).
// The study, a table of the statistics `gradlab study stats` computes, and
// charts drawn by Vega-Lite, whose JavaScript (the vendored builds of
// third_party/vega) is built into the library: the file opens offline.
//
// Every text that comes from the study (its name, variant names, run keys,
// messages, the spec) is escaped for where it goes: html_text() for HTML
// text and attributes, script_json() for JSON inside a <script> element.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/statistics.hpp"

namespace gradlab::report {

// Text for HTML text or a quoted attribute value: & < > " ' as character
// references; invalid UTF-8, NUL and the other C0 controls but tab, line feed
// and carriage return as U+FFFD.
std::string html_text(std::string_view text);

// JSON for inside a <script> element: < > & and U+2028, U+2029 as \u escapes
// (so no "</script>" or "<!--" can end or change the element, and the text is
// also valid JavaScript); invalid UTF-8 as U+FFFD. `indent` as json::dump.
std::string script_json(const nlohmann::json& value, int indent = -1);

// A recurrent run's error flow: the gradient norm that reaches `lag` steps
// back from the loss, per run and probed epoch. Read from the results
// database's grad_by_lag table when it has one (see load_input).
struct LagRow {
  std::string key;  // the run
  std::int64_t epoch = 0, lag = 0;
  double grad_norm = 0.0;
};

// Everything a report shows, read from a study folder (read-only, without the
// study's lock: a running study's folder gives a snapshot).
struct ReportInput {
  std::filesystem::path dir;
  study::StudyRecords records;
  study::StudyStats stats;
  study::StatusCounts counts;
  std::map<std::string, std::string> meta;      // the meta table: name, hash, spec, source, seed, ...
  std::map<std::string, std::string> messages;  // run key -> message (failed and diverged runs)
  std::vector<LagRow> lag;                      // empty unless the database holds grad_by_lag probes
};

// Throws InputError when `dir` holds no study results.
ReportInput load_input(const std::filesystem::path& dir);

// One chart: a Vega-Lite spec with its data inline (it stands alone, e.g. in
// the Vega editor), written beside the report as <name>.vl.json.
struct Chart {
  std::string name;  // a file name stem: grad_norm_by_layer, learning_curves, ...
  std::string title, description;
  nlohmann::json spec;
};

// The names of every chart a report can hold, in report order.
const std::vector<std::string>& chart_names();

// The charts the input has data for, in report order: the gradient norm by
// layer (log scale), learning curves, final accuracy, and the error flow by
// lag when there are lag rows. A chart with nothing to draw (no run ended ok
// yet, no probes) is left out.
std::vector<Chart> build_charts(const ReportInput& input);

struct HtmlOptions {
  // Where the chart specs are, relative to the report (a folder name): each
  // chart links <specs_href>/<name>.vl.json. Empty: no links.
  std::string specs_href;
};

// The report: one HTML document with the Vega builds and the chart specs inline.
std::string render_html(const ReportInput& input, const std::vector<Chart>& charts, const HtmlOptions& options = {});

// The vendored scripts built into the library, in load order: file name and bytes.
struct Script {
  std::string name;
  std::string_view bytes;
};
std::vector<Script> embedded_scripts();

}  // namespace gradlab::report
