// gradlab report DIR [-o FILE.html]: one self-contained HTML file about a
// study (docs/report.md), with each chart's Vega-Lite spec beside it.
#include <boost/program_options.hpp>
#include <iostream>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/report/report.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

// FILE.html -> FILE.charts (beside it); any other name gets ".charts" added.
std::filesystem::path charts_dir_for(const std::filesystem::path& html) {
  auto dir = html;
  const auto ext = html.extension().string();
  if (ext == ".html" || ext == ".htm") dir.replace_extension();
  dir += ".charts";
  return dir;
}

}  // namespace

int report_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab report DIR [options]");
  options.add_options()("help,h", "show this help")("output,o", po::value<std::string>(),
                                                    "the HTML file to write (default: DIR/report.html)");
  auto line = parse_command_line(args, options);
  const po::variables_map& vm = line.vm;
  if (vm.count("help")) {
    std::cout << options
              << "\nWrites one HTML file about the study in DIR that opens offline in a browser: the study, the\n"
                 "statistics of 'gradlab study stats' (mean, sd, 95% CI per variant and grid cell; Welch tests\n"
                 "against the baseline with Holm's adjustment) and charts (gradient norm by layer, learning\n"
                 "curves, final accuracy). Each chart's Vega-Lite spec goes beside it: FILE.html ->\n"
                 "FILE.charts/<chart>.vl.json. The database is only read, without the study's lock: a study\n"
                 "that is running gives a report of the runs stored so far. See docs/report.md.\n";
    return 0;
  }
  if (line.words.size() != 1) throw InputError("gradlab report", "expected exactly one study folder DIR");
  const std::filesystem::path dir = line.words[0];
  std::error_code ec;
  if (!std::filesystem::is_regular_file(dir / "results.sqlite", ec))
    throw InputError(dir.string(), "holds no study results (no results.sqlite)");

  // Outputs are checked before the work: the report, and its charts folder
  // (none for a report written to a FIFO or a descriptor).
  const std::string html_path = vm.count("output") ? vm["output"].as<std::string>() : (dir / "report.html").string();
  const auto html = OutputFile::prepare("--output", html_path);
  std::filesystem::path charts_dir;
  if (!html.in_place()) {
    charts_dir = charts_dir_for(html.target());
    if (std::filesystem::exists(charts_dir, ec) && !std::filesystem::is_directory(charts_dir, ec))
      throw InputError("--output " + html_path, "the chart specs go to " + charts_dir.string() + ", not a folder");
  }

  const auto input = report::load_input(dir);
  const auto charts = report::build_charts(input);

  report::HtmlOptions html_options;
  if (!charts_dir.empty()) {
    std::filesystem::create_directories(charts_dir, ec);
    if (ec) throw OutputError(charts_dir.string() + ": cannot create the folder: " + ec.message());
    for (const auto& chart : charts)
      OutputFile::prepare("--output", (charts_dir / (chart.name + ".vl.json")).string())
          .write(chart.spec.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    // A chart this report no longer has (no lag probes now) leaves no stale spec.
    for (const auto& name : report::chart_names()) {
      bool drawn = false;
      for (const auto& chart : charts) drawn = drawn || chart.name == name;
      const auto stale = charts_dir / (name + ".vl.json");
      if (!drawn && std::filesystem::is_regular_file(std::filesystem::symlink_status(stale, ec)))
        std::filesystem::remove(stale, ec);
    }
    html_options.specs_href = charts_dir.filename().string();
  }
  html.write(report::render_html(input, charts, html_options));
  std::cout << "report " << terminal_line(html_path) << ": study " << terminal_line(input.records.name) << ", "
            << input.counts.ok << " ok run(s) of " << input.counts.total << ", " << charts.size() << " charts";
  if (!charts_dir.empty()) std::cout << " (specs in " << terminal_line(charts_dir.string()) << ")";
  std::cout << "\n";
  return 0;
}

}  // namespace gradlab::cli
