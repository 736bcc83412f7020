// gradlab study plan|run|status: comparative studies (docs/studies.md).
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/scheduler.hpp"
#include "gradlab/core/study/statistics.hpp"
#include "gradlab/core/study/study.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_interrupted = 130;

std::atomic<bool> interrupted{false};
extern "C" void on_interrupt(int) { interrupted.store(true); }

const char* study_help =
    "usage: gradlab study plan STUDY.yaml            print the expanded runs without running them\n"
    "       gradlab study run STUDY.yaml --out DIR  run them (resumes when DIR holds this study)\n"
    "       gradlab study status DIR                counts of done, running, failed and diverged runs\n"
    "       gradlab study stats DIR [--json]        mean, sd, 95% CI per variant and grid cell; tests vs the baseline\n"
    "\n"
    "See docs/studies.md for the study spec.\n";

struct Parsed {
  po::variables_map vm;
  std::vector<std::string> words;
  std::vector<std::string> plugin_dirs;
};

Parsed parse(const std::vector<std::string>& args, po::options_description& options) {
  options.add_options()("help,h", "show this help")("plugin-dir", po::value<std::vector<std::string>>()->composing(),
                                                    "also load plugins from this folder (repeatable; searched first)");
  po::options_description hidden;
  hidden.add_options()("words", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(options).add(hidden);
  po::positional_options_description positional;
  positional.add("words", -1);
  Parsed p;
  po::store(po::command_line_parser(args).options(all).positional(positional).run(), p.vm);
  po::notify(p.vm);
  if (p.vm.count("words")) p.words = p.vm["words"].as<std::vector<std::string>>();
  if (p.vm.count("plugin-dir")) p.plugin_dirs = p.vm["plugin-dir"].as<std::vector<std::string>>();
  return p;
}

std::unique_ptr<Registry> load_registry(const std::vector<std::string>& dirs) {
  auto registry = std::make_unique<Registry>();
  for (const auto& problem : registry->load_standard({dirs.begin(), dirs.end()}))
    std::cerr << "gradlab: warning: plugin " << terminal_line(problem.path + ": " + problem.message) << "\n";
  return registry;
}

std::string compact(const nlohmann::json& j) {
  std::string out;
  for (auto it = j.begin(); it != j.end(); ++it)
    out += (out.empty() ? "" : " ") + it.key() + "=" + (it->is_string() ? it->get<std::string>() : it->dump());
  return out;
}

int plan_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab study plan STUDY.yaml [options]");
  options.add_options()("json", "print the plan as JSON");
  auto p = parse(args, options);
  if (p.vm.count("help")) {
    std::cout << options
              << "\nExpands the study (variants x grid x seeds), validates every run spec and prints "
                 "each run's key, seed and overrides.\n";
    return exit_ok;
  }
  if (p.words.size() != 1) throw InputError("gradlab study plan", "expected exactly one STUDY file");
  auto registry = load_registry(p.plugin_dirs);
  auto plan = study::load_study(p.words[0], *registry);
  if (p.vm.count("json")) {
    nlohmann::json out{
        {"study", plan.name}, {"hash", plan.hash}, {"seed", plan.seed}, {"runs", nlohmann::json::array()}};
    for (const auto& run : plan.runs)
      out["runs"].push_back({{"key", run.key},
                             {"variant", run.variant},
                             {"grid", run.grid},
                             {"seed_index", run.seed_index},
                             {"seed", run.seed},
                             {"overrides", run.overrides},
                             {"spec", run.spec.effective}});
    std::cout << out.dump(2) << "\n";
    return exit_ok;
  }
  std::cout << "study " << terminal_line(plan.name) << ": " << plan.runs.size() << " runs, plan " << plan.hash
            << ", study seed " << plan.seed << "\n";
  for (const auto& run : plan.runs) {
    std::cout << "  " << terminal_line(run.key) << "  seed " << run.seed;
    if (!run.overrides.empty()) std::cout << "  " << terminal_line(compact(run.overrides));
    std::cout << "\n";
  }
  return exit_ok;
}

std::string seconds_text(double s) {
  char text[32];
  if (s < 60)
    std::snprintf(text, sizeof text, "%.0fs", s);
  else if (s < 3600)
    std::snprintf(text, sizeof text, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(text, sizeof text, "%dh%02dm", int(s) / 3600, int(s) / 60 % 60);
  return text;
}

int run_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab study run STUDY.yaml --out DIR [options]");
  options.add_options()("out,o", po::value<std::string>(), "the study folder (results.sqlite); required")(
      "threads,j", po::value<int>(), "runs at a time (default: the number of CPUs)")("quiet,q", "no progress output");
  auto p = parse(args, options);
  if (p.vm.count("help")) {
    std::cout << options
              << "\nRuns every run of the study, one oneTBB task per run, and stores each finished run in "
                 "DIR/results.sqlite.\nRunning the same command again resumes: finished runs are kept, unfinished "
                 "ones start over.\nCtrl-C stops the running runs; what finished is kept.\n";
    return exit_ok;
  }
  if (p.words.size() != 1) throw InputError("gradlab study run", "expected exactly one STUDY file");
  if (!p.vm.count("out")) throw InputError("gradlab study run", "needs --out DIR (the study folder)");
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (p.vm.count("threads")) {
    threads = p.vm["threads"].as<int>();
    if (threads < 1 || threads > 4096) throw InputError("--threads", "must be in [1, 4096]");
  }
  const bool quiet = p.vm.count("quiet") != 0;
  const std::string out = p.vm["out"].as<std::string>();

  auto registry = load_registry(p.plugin_dirs);
  auto plan = study::load_study(p.words[0], *registry);
  study::ResultStore::check_folder(out, plan);  // before anything is written
  study::DatasetCache data;
  data.load_all(plan, *registry);
  auto store = study::ResultStore::open_for_run(out, plan);

  struct sigaction action {};
  action.sa_handler = on_interrupt;
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  const bool tty = isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  std::mutex mutex;
  std::condition_variable wake;
  bool finished = false;
  study::Progress latest;
  auto line = [&](const study::Progress& pr) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const auto new_done = pr.done - pr.skipped;
    std::string eta = "?";
    if (new_done > 0) eta = seconds_text(elapsed / new_done * (pr.total - pr.done));
    char text[256];
    std::snprintf(text, sizeof text,
                  "%lld/%lld runs done, %lld running, %lld diverged, %lld failed, %s elapsed, ETA %s",
                  (long long)pr.done, (long long)pr.total, (long long)pr.running, (long long)pr.diverged,
                  (long long)pr.failed, seconds_text(elapsed).c_str(), eta.c_str());
    return std::string(text);
  };
  std::thread printer;
  if (!quiet)
    printer = std::thread([&] {
      std::unique_lock lock(mutex);
      const auto period = tty ? std::chrono::milliseconds(500) : std::chrono::seconds(10);
      while (!finished) {
        wake.wait_for(lock, period);
        if (finished) break;
        if (tty)
          std::cerr << "\r" << line(latest) << "\x1b[K" << std::flush;
        else
          std::cerr << "study: " << line(latest) << "\n";
      }
    });
  study::ScheduleOptions schedule;
  schedule.threads = threads;
  schedule.cancel = &interrupted;
  schedule.on_progress = [&](const study::Progress& pr) {
    std::lock_guard lock(mutex);
    latest = pr;
  };
  study::Progress result;
  try {
    result = study::run_study(plan, *registry, data, *store, schedule);
  } catch (...) {
    {
      std::lock_guard lock(mutex);
      finished = true;
    }
    wake.notify_all();
    if (printer.joinable()) printer.join();
    throw;
  }
  {
    std::lock_guard lock(mutex);
    finished = true;
  }
  wake.notify_all();
  if (printer.joinable()) printer.join();
  if (!quiet && tty) std::cerr << "\r" << line(result) << "\x1b[K\n";
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  if (interrupted.load() && result.done < result.total) {
    std::cerr << "gradlab: interrupted: " << result.done << " of " << result.total
              << " runs are stored; run the same command again to resume:\n  gradlab study run " << p.words[0]
              << " --out " << out << "\n";
    return exit_interrupted;
  }
  std::cout << "study " << terminal_line(plan.name) << ": " << result.total << " runs, "
            << (result.total - result.diverged - result.failed) << " ok, " << result.diverged << " diverged, "
            << result.failed << " failed (" << (result.done - result.skipped) << " run now); results in "
            << (std::filesystem::path(out) / "results.sqlite").string() << "\n";
  return exit_ok;
}

int status_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab study status DIR");
  auto p = parse(args, options);
  if (p.vm.count("help")) {
    std::cout << options << "\nCounts of the study's runs by status.\n";
    return exit_ok;
  }
  if (p.words.size() != 1) throw InputError("gradlab study status", "expected exactly one study folder DIR");
  auto c = study::ResultStore::status(p.words[0]);
  std::cout << "study " << terminal_line(c.name) << " (plan " << c.hash << "): " << c.total
            << " runs: " << (c.ok + c.diverged + c.failed) << " done (" << c.ok << " ok, " << c.diverged
            << " diverged, " << c.failed << " failed), ";
  if (c.locked)
    std::cout << c.running << " running, " << c.pending << " pending\n";
  else
    std::cout << (c.pending + c.running) << " not run yet (no process is running the study)\n";
  return exit_ok;
}

std::string num(double v, const char* format = "%.4g") {
  if (!std::isfinite(v)) return "-";
  char text[40];
  std::snprintf(text, sizeof text, format, v);
  return text;
}

int stats_command(const std::vector<std::string>& args) {
  po::options_description options("gradlab study stats DIR [options]");
  options.add_options()("json", "print every statistic as JSON (final metrics, per-layer grad norms, tests)");
  auto p = parse(args, options);
  if (p.vm.count("help")) {
    std::cout << options
              << "\nPer variant and grid cell, over the ok runs (diverged and failed runs are counted, not "
                 "averaged):\nfinal test_accuracy mean, sd and 95% CI (Student t); its difference from the baseline "
                 "variant\nat the same cell with Welch's t-test (two-sided p) and Holm's adjustment over all the "
                 "comparisons;\nthe mean ratio of the first to the last layer's gradient norm at the first probed "
                 "epoch.\nSee docs/studies.md (Statistics).\n";
    return exit_ok;
  }
  if (p.words.size() != 1) throw InputError("gradlab study stats", "expected exactly one study folder DIR");
  const auto stats = study::compute_stats(study::load_records(p.words[0]));
  if (p.vm.count("json")) {
    std::cout << study::to_json(stats).dump(2) << "\n";
    return exit_ok;
  }
  std::cout << "study " << terminal_line(stats.name) << ", baseline " << terminal_line(stats.baseline)
            << "; final test_accuracy over the ok runs; p: Welch's t-test vs the baseline, p_holm: Holm-adjusted\n";
  std::vector<std::vector<std::string>> rows{{"variant", "cell", "ok/div/fail", "test_acc mean", "sd", "95% CI",
                                              "delta", "p", "p_holm", "grad first/last (ep0)"}};
  for (const auto& c : stats.cells) {
    const auto& a = c.metrics.at("test_accuracy");
    std::vector<std::string> row{
        terminal_line(c.variant),
        terminal_line(c.cell.empty() ? "-" : c.cell),
        std::to_string(c.n_ok) + "/" + std::to_string(c.n_diverged) + "/" + std::to_string(c.n_failed),
        num(a.mean),
        num(a.sd),
        std::isfinite(a.ci_low) ? "[" + num(a.ci_low) + ", " + num(a.ci_high) + "]" : "-"};
    if (c.compared) {
      row.push_back(num(c.delta, "%+.4g"));
      row.push_back(c.test.valid ? num(c.test.p) : "n/a");
      row.push_back(c.test.valid ? num(c.p_holm) : "n/a");
    } else {
      row.insert(row.end(), {"(baseline)", "", ""});
    }
    row.push_back(num(c.grad_ratio_first.mean));
    rows.push_back(row);
  }
  std::vector<std::size_t> width(rows[0].size(), 0);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) line += r[i] + std::string(width[i] - r[i].size() + 2, ' ');
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
  bool untested = false;
  for (const auto& c : stats.cells) untested = untested || (c.compared && !c.test.valid);
  if (untested)
    std::cout << "n/a: no test (fewer than 2 ok runs in a group, or zero variance in both); sd and CI need 2 ok "
                 "runs\n";
  return exit_ok;
}

}  // namespace

int study_command(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << study_help;
    if (args.empty()) throw InputError("gradlab study", "expected plan, run, status or stats (see above)");
    return exit_ok;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "plan") return plan_command(rest);
  if (args[0] == "run") return run_command(rest);
  if (args[0] == "status") return status_command(rest);
  if (args[0] == "stats") return stats_command(rest);
  throw InputError("gradlab study", "unknown action " + quote_text(args[0]) + "; expected plan, run, status or stats");
}

}  // namespace gradlab::cli
