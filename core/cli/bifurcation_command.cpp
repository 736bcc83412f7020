// gradlab bifurcation [options]: the one-neuron recurrent net
// x_t = w s(x_{t-1}) + b swept over b, its attractors and dx_T/db
// (Doya 1993; docs/bifurcation.md).
#include <boost/program_options.hpp>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "gradlab/core/bifurcation.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

using dynamics::BifurcationOptions;
using dynamics::BifurcationPoint;

// Options whose value may be a negative number. Boost reads "--b-min -3" as an
// option "-3" with --b-min missing its value, so such pairs are joined
// ("--b-min=-3") before parsing.
bool takes_number(const std::string& arg) {
  for (const char* name :
       {"--w", "--b-min", "--b-max", "--x0", "--steps", "--iterations", "-T", "--tail", "--tolerance"})
    if (arg == name) return true;
  return false;
}

bool looks_negative_number(const std::string& arg) {
  return arg.size() >= 2 && arg[0] == '-' && (std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.');
}

std::vector<std::string> join_negative_values(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (takes_number(args[i]) && i + 1 < args.size() && looks_negative_number(args[i + 1])) {
      out.push_back(args[i] + (args[i].rfind("--", 0) == 0 ? "=" : "") + args[i + 1]);
      ++i;
      continue;
    }
    out.push_back(args[i]);
  }
  return out;
}

// "--x0 -10 --x0 10" and "--x0 -10,10" alike.
std::vector<double> parse_starts(const std::vector<std::string>& values) {
  std::vector<double> starts;
  for (const auto& value : values) {
    std::stringstream list(value);
    for (std::string item; std::getline(list, item, ',');) {
      const char* begin = item.c_str();
      char* end = nullptr;
      errno = 0;
      const double x = std::strtod(begin, &end);
      if (item.empty() || end != begin + item.size() || errno == ERANGE)
        throw InputError("--x0", "expected a number or a comma-separated list of numbers, got " + quote_text(value));
      starts.push_back(x);
    }
    if (!value.empty() && value.back() == ',')
      throw InputError("--x0", "expected a number or a comma-separated list of numbers, got " + quote_text(value));
  }
  return starts;
}

// A number as nlohmann::json writes it: the shortest text that reads back as
// the same double; NaN and Inf become null (an empty CSV cell).
nlohmann::json number(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }
std::string cell(double v) { return std::isfinite(v) ? nlohmann::json(v).dump() : std::string(); }

std::string to_csv(const std::vector<BifurcationPoint>& points) {
  std::string out = "b,x0,x_T,dxT_db,abs_dxT_db,period,attractor\n";
  for (const auto& p : points) {
    out += cell(p.b) + "," + cell(p.x0) + "," + cell(p.x_T) + "," + cell(p.dxT_db) + "," + cell(std::abs(p.dxT_db)) +
           "," + std::to_string(p.period) + ",";
    for (std::size_t i = 0; i < p.attractor.size(); ++i) {
      if (i) out += ';';
      out += cell(p.attractor[i]);
    }
    out += "\n";
  }
  return out;
}

nlohmann::json critical_json(const std::vector<dynamics::CriticalPoint>& critical) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : critical) out.push_back({{"kind", c.kind}, {"x", number(c.x)}, {"b", number(c.b)}});
  return out;
}

nlohmann::json peaks_json(const std::vector<dynamics::SensitivityPeak>& peaks) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& k : peaks)
    out.push_back({{"x0", number(k.x0)}, {"b", number(k.b)}, {"abs_dxT_db", number(k.abs_dxT_db)}});
  return out;
}

std::string to_json(const BifurcationOptions& o, const std::vector<BifurcationPoint>& points,
                    const std::vector<dynamics::CriticalPoint>& critical,
                    const std::vector<dynamics::SensitivityPeak>& peaks) {
  nlohmann::json out;
  out["model"] = "x_t = w * sigmoid(x_{t-1}) + b";
  out["options"] = {{"w", o.w},   {"b_min", o.b_min},           {"b_max", o.b_max}, {"steps", o.b_steps},
                    {"x0", o.x0}, {"iterations", o.iterations}, {"tail", o.tail},   {"tolerance", o.tolerance}};
  out["critical_points"] = critical_json(critical);
  out["sensitivity_peaks"] = peaks_json(peaks);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& p : points) {
    nlohmann::json attractor = nlohmann::json::array();
    for (double v : p.attractor) attractor.push_back(number(v));
    rows.push_back({{"b", number(p.b)},
                    {"x0", number(p.x0)},
                    {"x_T", number(p.x_T)},
                    {"dxT_db", number(p.dxT_db)},
                    {"abs_dxT_db", number(std::abs(p.dxT_db))},
                    {"period", p.period},
                    {"attractor", std::move(attractor)}});
  }
  out["points"] = std::move(rows);
  return out.dump(1) + "\n";
}

std::string short_number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", v);
  return text;
}

}  // namespace

int bifurcation_command(const std::vector<std::string>& raw_args) {
  const BifurcationOptions defaults;
  po::options_description options("gradlab bifurcation [options]");
  options.add_options()("help,h", "show this help")("w", po::value<double>()->default_value(defaults.w),
                                                    "the recurrent weight w")(
      "b-min", po::value<double>()->default_value(defaults.b_min), "first bias of the sweep")(
      "b-max", po::value<double>()->default_value(defaults.b_max), "last bias of the sweep (> --b-min)")(
      "steps", po::value<std::int64_t>()->default_value(defaults.b_steps),
      "number of biases, evenly spaced from --b-min to --b-max, both included (>= 2)")(
      "x0", po::value<std::vector<std::string>>()->composing(),
      "starting point x_0; repeatable or a comma-separated list, e.g. --x0 -10 --x0 10 or --x0=-10,10, to see both "
      "branches of the hysteresis (default: 0)")(
      "iterations,T", po::value<std::int64_t>()->default_value(defaults.iterations),
      "T: steps of the map from x_0 to x_T, and of backpropagation for dx_T/db (>= 1)")(
      "tail", po::value<std::int64_t>()->default_value(defaults.tail),
      "the last TAIL iterates define the attractor: its period is the smallest p <= TAIL/2 with x_t = x_{t-p} "
      "over them (1 <= TAIL <= T)")("tolerance", po::value<double>()->default_value(defaults.tolerance),
                                    "iterates x and y are the same when |x - y| <= TOLERANCE * (1 + |x|)")(
      "output,o", po::value<std::string>(), "write to this file (default: CSV on standard output)")(
      "format,f", po::value<std::string>(),
      "csv or json (default: json for an -o file ending in .json, csv otherwise)")(
      "quiet,q", "do not print the fold points and sensitivity peaks on standard error");
  auto line = parse_command_line(join_negative_values(raw_args), options);
  const po::variables_map& vm = line.vm;
  if (vm.count("help")) {
    std::cout << options
              << "\nSweeps the bias b of the one-neuron recurrent net x_t = w * sigmoid(x_{t-1}) + b (Doya 1993;\n"
                 "Pascanu et al. 2013, Fig. 6, w = 5). For each b and each x_0 it runs T steps and writes one row:\n"
                 "  b, x0, x_T, dxT_db (by backpropagation through the T steps), abs_dxT_db,\n"
                 "  period (0: no period found in the tail), attractor (its values, ';'-separated, sorted).\n"
                 "On standard error (in JSON: critical_points, sensitivity_peaks) it prints the analytic fold\n"
                 "points, where w * sigmoid'(x*) = 1 (w >= 4; flip points where it is -1, w <= -4), and per x_0 the b\n"
                 "where |dx_T/db| peaks. See docs/bifurcation.md.\n";
    return 0;
  }
  if (!line.words.empty())
    throw InputError("gradlab bifurcation", "takes no positional arguments, got " + quote_text(line.words.front()));

  BifurcationOptions o;
  o.w = vm["w"].as<double>();
  o.b_min = vm["b-min"].as<double>();
  o.b_max = vm["b-max"].as<double>();
  o.b_steps = vm["steps"].as<std::int64_t>();
  if (vm.count("x0")) o.x0 = parse_starts(vm["x0"].as<std::vector<std::string>>());
  o.iterations = vm["iterations"].as<std::int64_t>();
  o.tail = vm["tail"].as<std::int64_t>();
  o.tolerance = vm["tolerance"].as<double>();
  dynamics::validate(o);

  std::optional<OutputFile> output;
  std::string format = "csv";
  if (vm.count("output")) {
    const std::string path = vm["output"].as<std::string>();
    if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) format = "json";
  }
  if (vm.count("format")) {
    format = vm["format"].as<std::string>();
    if (format != "csv" && format != "json")
      throw InputError("--format", "expected csv or json, got " + quote_text(format));
  }
  if (vm.count("output")) output = OutputFile::prepare("--output", vm["output"].as<std::string>());

  const auto points = dynamics::sweep_bias(o);
  const auto critical = dynamics::critical_points(o.w);
  const auto peaks = dynamics::sensitivity_peaks(points);

  if (!vm.count("quiet")) {
    std::ostringstream summary;
    if (critical.empty()) {
      summary << "critical points (analytic): none, |w| < 4: one fixed point, stable for every b\n";
    } else {
      summary << critical.front().kind << " points (analytic, w = " << short_number(o.w) << "):";
      for (std::size_t i = 0; i < critical.size(); ++i)
        summary << (i ? "," : "") << " b = " << short_number(critical[i].b) << " (x* = " << short_number(critical[i].x)
                << ")";
      summary << "\n";
    }
    for (const auto& k : peaks)
      summary << "sensitivity peak: x0 = " << short_number(k.x0) << ": b = " << short_number(k.b)
              << ", |dx_T/db| = " << short_number(k.abs_dxT_db) << "\n";
    std::cerr << summary.str();
  }

  const std::string bytes = format == "json" ? to_json(o, points, critical, peaks) : to_csv(points);
  if (output)
    output->write(bytes);
  else
    std::cout << bytes;
  return 0;
}

}  // namespace gradlab::cli
