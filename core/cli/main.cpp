// gradlab: the command-line front end. Exit codes: 0 success (a diverged run
// is a result, so 0 too), 1 a run that failed or an internal error, 2 bad input.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <sstream>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"
#include "gradlab/core/weights.hpp"

namespace po = boost::program_options;
using namespace gradlab;

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;

const char* main_help =
    "gradlab " GRADLAB_VERSION_STRING
    " - a research framework for vanishing and exploding gradients\n"
    "\n"
    "usage: gradlab <command> [options]\n"
    "\n"
    "commands:\n"
    "  train SPEC        train one network from a run spec (YAML or JSON)\n"
    "  plugins [list]    list the loaded components (layers, initializers, optimizers, ...)\n"
    "  plugins show NAME describe one component and its parameters\n"
    "  study plan|run|status  comparative studies: many runs, one results database (docs/studies.md)\n"
    "  study stats DIR   per variant and grid cell: mean, sd, 95% CI; Welch tests against the baseline\n"
    "  export DIR        a study's results as CSV or JSON in long form (--format csv|json)\n"
    "  report DIR        one HTML file about a study: statistics and charts, opens offline (-o FILE.html)\n"
    "  bifurcation       the one-neuron net x_t = w*sigmoid(x_{t-1}) + b swept over b: attractors and dx_T/db\n"
    "\n"
    "Run 'gradlab <command> --help' for the options of a command.\n"
    "Plugins are searched in --plugin-dir folders, then GRADLAB_PLUGIN_PATH, then the bundled folder.\n";

std::vector<std::filesystem::path> to_paths(const std::vector<std::string>& dirs) { return {dirs.begin(), dirs.end()}; }

// Loads plugins; problems go to stderr as warnings, the good plugins load.
// Shown under --quiet too: it only silences progress, and a skipped plugin can
// change what a spec means.
std::unique_ptr<Registry> load_registry(const std::vector<std::string>& plugin_dirs) {
  auto registry = std::make_unique<Registry>();
  for (const auto& problem : registry->load_standard(to_paths(plugin_dirs)))
    std::cerr << "gradlab: warning: plugin " << terminal_line(problem.path + ": " + problem.message) << "\n";
  return registry;
}

po::options_description plugin_dir_option() {
  po::options_description d;
  d.add_options()("plugin-dir", po::value<std::vector<std::string>>()->composing(),
                  "also load plugins from this folder (repeatable; searched first)");
  return d;
}

const ComponentKind all_kinds[] = {ComponentKind::layer,    ComponentKind::initializer, ComponentKind::optimizer,
                                   ComponentKind::schedule, ComponentKind::pretrain,    ComponentKind::dataset};

int plugins_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab plugins [list] [--json] | gradlab plugins show NAME [--kind KIND] [--json]");
  options.add_options()("help,h", "show this help")("json", "machine-readable output")(
      "kind", po::value<std::string>(), "with show: the kind, when NAME is taken by several kinds");
  options.add(plugin_dir_option());
  auto line = cli::parse_command_line(args, options);
  const po::variables_map& vm = line.vm;
  if (vm.count("help")) {
    std::cout << options
              << "\nLists every component the loaded plugins provide, with its plugin, version and "
                 "one-line description;\n'show' prints a component's parameter schema.\n";
    return exit_ok;
  }
  const auto& words = line.words;
  auto dirs = vm.count("plugin-dir") ? vm["plugin-dir"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool json = vm.count("json") != 0;
  std::string action = words.empty() ? "list" : words[0];

  auto registry = std::make_unique<Registry>();
  auto problems = registry->load_standard(to_paths(dirs));
  for (const auto& p : problems)
    std::cerr << "gradlab: warning: plugin " << terminal_line(p.path + ": " + p.message) << "\n";

  if (action == "list") {
    if (words.size() > 1) throw InputError("gradlab plugins list", "takes no further arguments");
    if (json) {
      nlohmann::json out;
      out["components"] = nlohmann::json::array();
      for (const auto* e : registry->entries())
        out["components"].push_back({{"kind", to_string(e->kind)},
                                     {"name", e->info.name},
                                     {"plugin", e->plugin->name},
                                     {"version", e->plugin->version},
                                     {"path", e->plugin->path},
                                     {"description", e->info.description},
                                     {"params", schema_to_json(e->info.schema)}});
      out["problems"] = nlohmann::json::array();
      for (const auto& p : problems) out["problems"].push_back({{"path", p.path}, {"message", p.message}});
      std::cout << out.dump(2) << "\n";
      return exit_ok;
    }
    for (auto kind : all_kinds) {
      auto entries = registry->entries(kind);
      if (entries.empty()) continue;
      std::cout << (kind == ComponentKind::pretrain ? std::string("pretraining strategies")
                                                    : std::string(to_string(kind)) + "s")
                << ":\n";
      for (const auto* e : entries) {
        std::string name = e->info.name;
        name.resize(std::max<std::size_t>(name.size(), 18), ' ');
        std::cout << "  " << name << " " << e->plugin->version << "  " << e->info.description;
        if (!e->plugin->path.empty() && e->plugin->path.find(Registry::bundled_plugin_dir().string()) != 0)
          std::cout << "  [" << e->plugin->path << "]";
        std::cout << "\n";
      }
    }
    if (!problems.empty()) std::cout << problems.size() << " plugin(s) could not be loaded (see warnings above)\n";
    return exit_ok;
  }
  if (action == "show") {
    if (words.size() != 2) throw InputError("gradlab plugins show", "expected one component NAME");
    const std::string& name = words[1];
    std::vector<const Registry::Entry*> matches;
    for (auto kind : all_kinds)
      if (const auto* e = registry->find(kind, name))
        if (!vm.count("kind") || vm["kind"].as<std::string>() == to_string(kind)) matches.push_back(e);
    if (matches.empty()) {
      std::vector<std::string> names;
      for (const auto* e : registry->entries()) names.push_back(e->info.name);
      auto close = nearest_names(name, names);
      std::string hint;
      for (std::size_t i = 0; i < close.size(); ++i) hint += (i ? ", '" : "; did you mean '") + close[i] + "'";
      throw InputError("gradlab plugins show", "no component named '" + name + "'" + hint + (hint.empty() ? "" : "?"));
    }
    for (const auto* e : matches) {
      if (json) {
        std::cout << nlohmann::json{{"kind", to_string(e->kind)},
                                    {"name", e->info.name},
                                    {"plugin", e->plugin->name},
                                    {"version", e->plugin->version},
                                    {"path", e->plugin->path},
                                    {"description", e->info.description},
                                    {"accepts_children", e->info.accepts_children},
                                    {"initializer_keys", e->info.initializer_keys},
                                    {"params", schema_to_json(e->info.schema)}}
                         .dump(2)
                  << "\n";
        continue;
      }
      std::cout << e->info.name << " (" << to_string(e->kind) << ", plugin " << e->plugin->name << " "
                << e->plugin->version << ")\n  " << e->info.description << "\n";
      if (!e->plugin->path.empty()) std::cout << "  from " << e->plugin->path << "\n";
      if (e->info.accepts_children) std::cout << "  takes child layers: layers: [...]\n";
      for (const auto& key : e->info.initializer_keys)
        std::cout << "  takes an initializer for part of its weights: " << key
                  << ": {name: ...} (default: the layer's init)\n";
      if (e->info.schema.empty())
        std::cout << "  parameters: none\n";
      else
        std::cout << "  parameters:\n";
      for (const auto& p : e->info.schema) {
        std::ostringstream line;
        line << "    " << p.name << " (" << to_string(p.type);
        if (p.required())
          line << ", required";
        else
          line << ", default " << param_value_to_string(*p.default_value);
        if (std::isfinite(p.min) || std::isfinite(p.max))
          line << ", in " << (p.min_exclusive ? "(" : "[") << p.min << ", " << p.max << "]";
        if (!p.choices.empty()) {
          line << ", one of";
          for (const auto& c : p.choices) line << " " << c;
        }
        line << ")";
        if (!p.doc.empty()) line << ": " << p.doc;
        std::cout << line.str() << "\n";
      }
    }
    return exit_ok;
  }
  throw InputError("gradlab plugins", "unknown action '" + action + "'; expected 'list' or 'show NAME'");
}

// Ratio of the first to the last gradient norm among layers with parameters:
// the one number that shows a vanishing (<< 1) or exploding (>> 1) gradient.
std::string flow_ratio(const EpochRecord& record) {
  const LayerProbe* first = nullptr;
  const LayerProbe* last = nullptr;
  for (const auto& l : record.layers)
    if (l.param_count > 0) {
      if (!first) first = &l;
      last = &l;
    }
  if (!first || first == last || !(last->grad_norm > 0) || !std::isfinite(first->grad_norm / last->grad_norm))
    return "";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "  |g_first|/|g_last| %.2e", first->grad_norm / last->grad_norm);
  return buffer;
}

// Ratio of the first to the last update ratio (|dw|/|w| over the last step)
// among layers with parameters: whether the layers near the input learn as
// fast as those near the output. Empty without a step before the probe.
std::string update_flow_ratio(const EpochRecord& record) {
  const LayerProbe* first = nullptr;
  const LayerProbe* last = nullptr;
  for (const auto& l : record.layers)
    if (l.param_count > 0 && l.update_ratio) {
      if (!first) first = &l;
      last = &l;
    }
  if (!first || first == last || !(*last->update_ratio > 0) ||
      !std::isfinite(*first->update_ratio / *last->update_ratio))
    return "";
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, "%.2e@%lld", *first->update_ratio / *last->update_ratio,
                (long long)record.epoch);
  return buffer;
}

// The update-ratio flow at the first and the last probed epoch that followed a
// training step (epoch 0 has none): "  |u_first|/|u_last| 1.2e+00@1 3.4e-01@30".
std::string update_flow_summary(const RunSummary& s) {
  const EpochRecord *first = nullptr, *last = nullptr;
  for (const auto& e : s.epochs)
    if (!update_flow_ratio(e).empty()) {
      if (!first) first = &e;
      last = &e;
    }
  if (!first) return "";
  std::string out = "  |u_first|/|u_last| " + update_flow_ratio(*first);
  if (last != first) out += " " + update_flow_ratio(*last);
  return out;
}

// Per-layer gradient flow, first and last probed epoch side by side.
void print_layer_table(std::FILE* out, const EpochRecord& first, const EpochRecord* last) {
  if (first.layers.empty()) return;
  std::fprintf(out, "%5s  %-12s %9s  %12s %12s %12s %10s", "layer", "type", "params", "grad_norm@0", "out_grad@0",
               "weight@0", "satur@0");
  if (last && last != &first) {
    const std::string at = "@" + std::to_string(last->epoch);
    std::fprintf(out, "  %12s %12s %12s %10s", ("grad_norm" + at).c_str(), ("out_grad" + at).c_str(),
                 ("update" + at).c_str(), ("satur" + at).c_str());
  }
  std::fprintf(out, "\n");
  for (std::size_t i = 0; i < first.layers.size(); ++i) {
    const auto& l = first.layers[i];
    std::fprintf(out, "%5lld  %-12s %9lld  %12.3e %12.3e %12.3e %10.3f", (long long)l.index, l.type.c_str(),
                 (long long)l.param_count, l.grad_norm, l.output_grad_norm, l.weight_norm, l.saturation);
    if (last && last != &first && i < last->layers.size()) {
      const auto& r = last->layers[i];
      char update[32] = "-";  // no parameters: nothing updated
      if (r.update_ratio) std::snprintf(update, sizeof update, "%.3e", *r.update_ratio);
      std::fprintf(out, "  %12.3e %12.3e %12s %10.3f", r.grad_norm, r.output_grad_norm, update, r.saturation);
    }
    std::fprintf(out, "\n");
  }
}

// Error flow by lag of each recurrent layer: |d loss / d h| (and the cell's)
// at log-spaced lags before the sequences' last step, first and last probed
// epoch. An exponential fall along a row is the vanishing gradient in time.
void print_lag_table(std::FILE* out, const EpochRecord& first, const EpochRecord* last) {
  for (std::size_t i = 0; i < first.layers.size(); ++i) {
    const auto& l = first.layers[i];
    if (l.grad_by_lag.empty()) continue;
    std::vector<std::size_t> lags;
    for (std::size_t k : {0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000})
      if (k < l.grad_by_lag.size()) lags.push_back(k);
    if (lags.back() != l.grad_by_lag.size() - 1) lags.push_back(l.grad_by_lag.size() - 1);
    std::fprintf(out, "error flow by lag, layer %lld (%s): norm of d(loss)/d(state) at lag k steps before the end\n",
                 (long long)l.index, l.type.c_str());
    std::fprintf(out, "  %-14s", "lag");
    for (auto k : lags) std::fprintf(out, " %9zu", k);
    std::fprintf(out, "\n");
    auto row = [&](const char* what, const EpochRecord& e, bool cell) {
      if (i >= e.layers.size()) return;
      const auto& values = cell ? e.layers[i].cell_grad_by_lag : e.layers[i].grad_by_lag;
      if (values.empty()) return;
      std::fprintf(out, "  %-14s", (std::string(what) + "@" + std::to_string(e.epoch)).c_str());
      for (auto k : lags) std::fprintf(out, " %9.2e", k < values.size() ? values[k] : 0.0);
      std::fprintf(out, "\n");
    };
    row("h", first, false);
    if (last && last != &first) row("h", *last, false);
    row("cell", first, true);
    if (last && last != &first) row("cell", *last, true);
  }
}

int train_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab train SPEC [options]");
  options.add_options()("help,h", "show this help")(
      "set", po::value<std::vector<std::string>>()->composing(),
      "override a spec key, e.g. --set optimizer.lr=0.05 or --set model.layers.0.repeat=5 (repeatable)")(
      "json", po::value<std::string>(),
      "write the run summary (JSON) to this file; '-': to stdout, and the summary line to stderr")(
      "save-weights", po::value<std::string>(), "write the trained weights (safetensors, F32) to this file")(
      "load-weights", po::value<std::string>(), "start from these weights instead of the initializer")(
      "quiet,q", "no per-epoch progress lines")(
      "threads", po::value<int>(),
      "the most threads the run may use at once, for a pretraining strategy's parallel work (genetic's "
      "population); the result does not depend on it (default: the CPUs this process may use)")(
      "max-memory", po::value<std::string>(),
      "memory the run may plan to use (data set and model), e.g. 2G or 512M; larger inputs or models are "
      "refused before they are allocated (default: 3/4 of the memory the machine, cgroup and ulimit allow)")(
      "show-layers",
      "print the per-layer probe table (gradient norm, output gradient norm, weight norm, saturation, update ratio) "
      "of epoch 0 and the last probed epoch, "
      "and for recurrent layers the error flow by lag");
  options.add(plugin_dir_option());
  po::options_description hidden;
  hidden.add_options()("spec", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("spec", -1);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), vm);
  po::notify(vm);
  if (vm.count("help")) {
    std::cout << options
              << "\nTrains the network the spec describes, printing one line per epoch to stderr and a summary "
                 "line to stdout (to stderr with --json -, which writes the JSON to stdout).\nA run whose loss becomes "
                 "NaN/Inf ends with status 'diverged' (exit 0). Bad input "
                 "exits with 2 and writes no output file.\n";
    return exit_ok;
  }
  auto specs = vm.count("spec") ? vm["spec"].as<std::vector<std::string>>() : std::vector<std::string>{};
  if (specs.size() != 1) throw InputError("gradlab train", "expected exactly one SPEC file (see gradlab train --help)");
  auto dirs = vm.count("plugin-dir") ? vm["plugin-dir"].as<std::vector<std::string>>() : std::vector<std::string>{};
  auto overrides = vm.count("set") ? vm["set"].as<std::vector<std::string>>() : std::vector<std::string>{};
  const bool quiet = vm.count("quiet") != 0;

  RunOptions run_options;
  if (vm.count("max-memory")) run_options.max_memory = parse_bytes(vm["max-memory"].as<std::string>(), "--max-memory");
  run_options.threads = cli::usable_cpus();
  if (vm.count("threads")) {
    run_options.threads = vm["threads"].as<int>();
    if (run_options.threads < 1 || run_options.threads > 4096) throw InputError("--threads", "must be in [1, 4096]");
  }
  auto registry = load_registry(dirs);
  RunSpec spec = load_run_spec(specs[0], overrides, *registry);
  // Refuse an output that cannot be written before training, not after it.
  std::optional<OutputFile> json_out, weights_out;
  // --json -: the JSON is all stdout carries, so `--json - | jq` reads it.
  const bool json_to_stdout = vm.count("json") && vm["json"].as<std::string>() == "-";
  std::FILE* text = json_to_stdout ? stderr : stdout;
  if (vm.count("json") && !json_to_stdout) json_out = OutputFile::prepare("--json", vm["json"].as<std::string>());
  if (vm.count("save-weights"))
    weights_out = OutputFile::prepare("--save-weights", vm["save-weights"].as<std::string>());
  if (json_out && weights_out && json_out->same_target(*weights_out))
    throw InputError("--save-weights " + weights_out->path(), "is the same file as --json " + json_out->path());

  if (vm.count("load-weights")) run_options.load_weights = vm["load-weights"].as<std::string>();
  const std::int64_t epochs = spec.training.epochs;
  if (!quiet)
    run_options.on_epoch = [&](const EpochRecord& r) {
      char line[256];
      std::snprintf(line, sizeof line, "epoch %3lld/%lld  loss %.4f  train %5.1f%%  test %5.1f%%", (long long)r.epoch,
                    (long long)epochs, r.train_loss, 100 * r.train_accuracy, 100 * r.test_accuracy);
      std::cerr << line;
      if (r.success_rate) {
        std::snprintf(line, sizeof line, "  solved %5.1f%%", 100 * *r.success_rate);
        std::cerr << line;
      }
      std::cerr << flow_ratio(r) << "  " << std::fixed;
      std::cerr.precision(1);
      std::cerr << r.seconds << "s\n" << std::defaultfloat;
    };
  // A pretraining strategy's progress lines (PretrainContext::say).
  if (!quiet) run_options.log = [](const std::string& line) { std::cerr << line << "\n"; };
  auto result = train_run(spec, *registry, run_options);
  const auto& s = result.summary;

  // A write that fails now (disk full) loses nothing else: every other output
  // is still written and the summary line printed, then the exit code is 1.
  bool write_failed = false;
  auto write = [&](const OutputFile& out, const std::function<std::string()>& bytes) {
    try {
      out.write(bytes());
    } catch (const OutputError& e) {
      std::cerr << "gradlab: error: " << terminal_line(e.what()) << "\n";
      write_failed = true;
    }
  };
  if (json_out) write(*json_out, [&] { return to_json(s).dump(2) + "\n"; });
  if (json_to_stdout) {
    std::cout << to_json(s).dump(2) << "\n" << std::flush;
    if (!std::cout) {
      std::cerr << "gradlab: error: --json -: writing the run summary to stdout failed\n";
      write_failed = true;
    }
  }
  if (weights_out) {
    if (s.status == RunStatus::ok)
      write(*weights_out, [&] { return weights_bytes(*result.network, {{"spec", spec.effective.dump()}}); });
    else
      std::cerr << "gradlab: warning: run " << to_string(s.status) << "; weights not saved\n";
  }
  if (vm.count("show-layers") && !s.epochs.empty()) {
    const EpochRecord* last_probed = nullptr;
    for (const auto& e : s.epochs)
      if (!e.layers.empty()) last_probed = &e;
    print_layer_table(text, s.epochs.front(), last_probed);
    print_lag_table(text, s.epochs.front(), last_probed);
  }
  // The record the final model matches (early stopping may restore an earlier epoch's weights).
  const auto& last = final_epoch(s) ? *final_epoch(s) : EpochRecord{};
  // A diverged run's last record may hold NaN: print "nan", not the C library's "-nan".
  auto number = [](double v) {
    if (std::isnan(v)) return std::string("nan");
    char text[32];
    std::snprintf(text, sizeof text, "%.4f", v);
    return std::string(text);
  };
  const std::string solved = last.success_rate ? "  success_rate " + number(*last.success_rate) : std::string();
  std::fprintf(text, "status %s  epochs %lld  train_loss %s  train_acc %s  test_acc %s%s%s%s  %.2fs\n",
               to_string(s.status), (long long)s.epochs_run, number(last.train_loss).c_str(),
               number(last.train_accuracy).c_str(), number(last.test_accuracy).c_str(), solved.c_str(),
               s.epochs.empty() ? "" : flow_ratio(s.epochs.front()).c_str(), update_flow_summary(s).c_str(), s.seconds);
  if (s.status == RunStatus::diverged)
    std::fprintf(text, "diverged in epoch %lld: %s\n", (long long)s.diverged_epoch.value_or(0), s.message.c_str());
  std::fflush(text);
  if (s.stopped_epoch)
    std::fprintf(text, "stopped early after epoch %lld; best epoch %lld%s\n", (long long)*s.stopped_epoch,
                 (long long)s.best_epoch.value_or(0), s.restored_best ? " (its weights restored)" : "");
  if (s.status == RunStatus::failed || s.status == RunStatus::cancelled) {
    if (s.status == RunStatus::cancelled)
      std::cerr << "gradlab: error: run cancelled\n";
    else
      std::cerr << "gradlab: error: run failed: " << terminal_line(s.message) << "\n";
    return exit_failed;
  }
  return write_failed ? exit_failed : exit_ok;
}

}  // namespace

// Errors are one line each, with control characters escaped and length
// bounded: messages may quote user text (a CSV cell, a YAML value).

int main(int argc, char** argv) {
  // A reader that goes away (`gradlab train S --json fifo` with the reader
  // closed) is a failed write, reported, not a silent death by SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty()) {
      std::cerr << main_help << "\ngradlab: error: no command given (see above)\n";
      return exit_usage;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::cout << main_help;
      return exit_ok;
    }
    if (args[0] == "--version") {
      std::cout << "gradlab " << version_string << " (plugin API " << plugin_api_version << ", ABI " << abi_tag
                << ")\n";
      return exit_ok;
    }
    std::string command = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (command == "train") return train_command(rest);
    if (command == "plugins") return plugins_command(rest);
    if (command == "study") return gradlab::cli::study_command(rest);
    if (command == "export") return gradlab::cli::export_command(rest);
    if (command == "report") return gradlab::cli::report_command(rest);
    if (command == "bifurcation") return gradlab::cli::bifurcation_command(rest);
    auto close = nearest_names(command, {"train", "plugins", "study", "export", "report", "bifurcation"});
    throw InputError("gradlab", "unknown command '" + command + "'" +
                                    (close.empty() ? "" : "; did you mean '" + close.front() + "'?") +
                                    " (see gradlab --help)");
  } catch (...) {
    return cli::report_error(std::current_exception());
  }
}
