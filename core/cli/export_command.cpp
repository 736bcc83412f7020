// gradlab export DIR --format csv|json [--table metrics|layers] [-o FILE]:
// a study's results in tidy long form (docs/studies.md, "Export").
#include <algorithm>
#include <boost/program_options.hpp>
#include <cmath>
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/study/statistics.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct Table {
  std::vector<std::string> columns;
  std::vector<std::vector<nlohmann::json>> rows;  // values as JSON (numbers, strings, null)
};

enum class TableKind { metrics, layers, lags, pretraining, steps };

// A probe row's values in long form: (probe name, value); update_ratio only
// where it was measured (layers with parameters, after a training step).
std::vector<std::pair<const char*, double>> probe_values(const LayerProbe& l) {
  std::vector<std::pair<const char*, double>> values{{"grad_norm", l.grad_norm},
                                                     {"weight_norm", l.weight_norm},
                                                     {"saturation", l.saturation},
                                                     {"output_grad_norm", l.output_grad_norm}};
  if (l.update_ratio) values.emplace_back("update_ratio", *l.update_ratio);
  return values;
}

Table build_table(const study::StudyRecords& records, TableKind kind) {
  const bool layers = kind == TableKind::layers || kind == TableKind::lags || kind == TableKind::steps;
  Table t;
  std::vector<std::string> axes;
  for (const auto& run : records.runs)
    for (auto it = run.grid.begin(); it != run.grid.end(); ++it)
      if (std::find(axes.begin(), axes.end(), it.key()) == axes.end()) axes.push_back(it.key());
  std::vector<std::string> fixed{"key", "variant", "grid", "seed_index", "seed", "status", "epoch"};
  if (kind == TableKind::layers)
    for (const char* c : {"layer", "layer_type", "probe", "value"}) fixed.push_back(c);
  else if (kind == TableKind::lags)
    for (const char* c : {"layer", "layer_type", "lag", "probe", "value"}) fixed.push_back(c);
  else if (kind == TableKind::pretraining)
    for (const char* c : {"metric", "step", "value"}) fixed.push_back(c);
  else if (kind == TableKind::steps)
    for (const char* c : {"step", "layer", "layer_type", "probe", "value"}) fixed.push_back(c);
  else
    for (const char* c : {"metric", "value"}) fixed.push_back(c);
  t.columns = {"key", "variant", "grid"};
  for (const auto& a : axes)
    t.columns.push_back(std::find(fixed.begin(), fixed.end(), a) == fixed.end() ? a : "grid." + a);
  for (std::size_t i = 3; i < fixed.size(); ++i) t.columns.push_back(fixed[i]);
  auto number = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
  for (const auto& run : records.runs) {
    std::vector<nlohmann::json> head{run.key, run.variant, run.grid.dump()};
    for (const auto& a : axes) head.push_back(run.grid.contains(a) ? run.grid[a] : nlohmann::json(nullptr));
    head.insert(head.end(), {run.seed_index, run.seed, run.status});
    if (kind == TableKind::pretraining) {
      // What the pretraining strategy recorded, before epoch 0.
      for (const auto& [metric, values] : run.pretraining)
        for (std::size_t k = 0; k < values.size(); ++k) {
          auto row = head;
          row.insert(row.end(), {0, metric, static_cast<std::int64_t>(k), number(values[k])});
          t.rows.push_back(std::move(row));
        }
      continue;
    }
    if (kind == TableKind::steps) {
      // The probes after every N-th training step (probes.every_steps).
      for (const auto& p : run.step_probes)
        for (const auto& l : p.layers)
          for (const auto& [name, v] : probe_values(l)) {
            auto row = head;
            row.insert(row.end(), {p.epoch, p.step, static_cast<std::int64_t>(l.index), l.type, name, number(v)});
            t.rows.push_back(std::move(row));
          }
      continue;
    }
    for (const auto& e : run.epochs) {
      if (!layers) {
        // Regression runs name their metric, the mean squared error (= the loss), instead of an accuracy.
        const bool regression = run.task == Task::regression;
        const std::pair<const char*, double> metrics[] = {
            {"train_loss", e.train_loss},
            {regression ? "train_mse" : "train_accuracy", regression ? e.train_loss : e.train_accuracy},
            {"test_loss", e.test_loss},
            {regression ? "test_mse" : "test_accuracy", regression ? e.test_loss : e.test_accuracy}};
        for (const auto& [name, v] : metrics) {
          auto row = head;
          row.insert(row.end(), {e.epoch, name, number(v)});
          t.rows.push_back(std::move(row));
        }
        // A task's own success criterion (the long-time-lag benchmarks).
        const std::pair<const char*, const std::optional<double>*> rates[] = {
            {"success_rate", &e.success_rate}, {"train_success_rate", &e.train_success_rate}};
        for (const auto& [name, v] : rates)
          if (*v) {
            auto row = head;
            row.insert(row.end(), {e.epoch, name, number(**v)});
            t.rows.push_back(std::move(row));
          }
        continue;
      }
      if (kind == TableKind::lags) {
        for (const auto& l : e.layers) {
          const std::pair<const char*, const std::vector<double>*> curves[] = {
              {"grad_by_lag", &l.grad_by_lag}, {"cell_grad_by_lag", &l.cell_grad_by_lag}};
          for (const auto& [name, values] : curves)
            for (std::size_t k = 0; k < values->size(); ++k) {
              auto row = head;
              row.insert(row.end(), {e.epoch, static_cast<std::int64_t>(l.index), l.type, static_cast<std::int64_t>(k),
                                     name, number((*values)[k])});
              t.rows.push_back(std::move(row));
            }
        }
        continue;
      }
      for (const auto& l : e.layers) {
        for (const auto& [name, v] : probe_values(l)) {
          auto row = head;
          row.insert(row.end(), {e.epoch, static_cast<std::int64_t>(l.index), l.type, name, number(v)});
          t.rows.push_back(std::move(row));
        }
      }
    }
  }
  return t;
}

std::string to_csv(const Table& t) {
  std::string out;
  for (std::size_t i = 0; i < t.columns.size(); ++i) out += (i ? "," : "") + csv_field(t.columns[i]);
  out += "\n";
  for (const auto& row : t.rows) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i) out += ",";
      const auto& v = row[i];
      if (v.is_null()) continue;
      // Numbers as nlohmann::json writes them: the shortest text that reads
      // back as the same double. NaN and Inf are null: an empty cell.
      out += v.is_string() ? csv_field(v.get<std::string>()) : csv_field(v.dump());
    }
    out += "\n";
  }
  return out;
}

std::string to_json_records(const Table& t) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& row : t.rows) {
    nlohmann::json r = nlohmann::json::object();
    for (std::size_t i = 0; i < row.size(); ++i) r[t.columns[i]] = row[i];
    out.push_back(std::move(r));
  }
  return out.dump() + "\n";
}

}  // namespace

int export_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab export DIR --format csv|json [options]");
  options.add_options()("help,h", "show this help")("format,f", po::value<std::string>(), "csv or json; required")(
      "table,t", po::value<std::string>()->default_value("metrics"),
      "metrics (run x epoch x metric), layers (run x epoch x layer x probe) or lags (run x epoch x recurrent layer "
      "x lag x probe: the error flow by lag) or pretraining (run x metric x step: what the pretraining "
      "strategy recorded) or steps (run x training step x layer x probe: probes.every_steps)")(
      "output,o", po::value<std::string>(), "write to this file (default: standard output)");
  auto line = parse_command_line(args, options);
  const po::variables_map& vm = line.vm;
  if (vm.count("help")) {
    std::cout << options
              << "\nA study's results in tidy long form, one row per value: pandas reads it as it is.\n"
                 "See docs/studies.md (Export) for the columns.\n";
    return 0;
  }
  const auto& words = line.words;
  if (words.size() != 1) throw InputError("gradlab export", "expected exactly one study folder DIR");
  if (!vm.count("format")) throw InputError("gradlab export", "needs --format csv or --format json");
  const std::string format = vm["format"].as<std::string>(), table = vm["table"].as<std::string>();
  if (format != "csv" && format != "json")
    throw InputError("--format", "expected csv or json, got " + quote_text(format));
  if (table != "metrics" && table != "layers" && table != "lags" && table != "pretraining" && table != "steps")
    throw InputError("--table", "expected metrics, layers, lags, pretraining or steps, got " + quote_text(table));
  std::optional<OutputFile> output;
  if (vm.count("output")) output = OutputFile::prepare("--output", vm["output"].as<std::string>());
  const auto records = study::load_records(words[0]);
  const auto t = build_table(records, table == "layers"        ? TableKind::layers
                                      : table == "lags"        ? TableKind::lags
                                      : table == "pretraining" ? TableKind::pretraining
                                      : table == "steps"       ? TableKind::steps
                                                               : TableKind::metrics);
  const std::string bytes = format == "csv" ? to_csv(t) : to_json_records(t);
  if (output)
    output->write(bytes);
  else
    std::cout << bytes;
  return 0;
}

}  // namespace gradlab::cli
