// gradlab study plan|run|status: comparative studies (docs/studies.md).
#include <sched.h>
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
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/study/distributed.hpp"
#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/scheduler.hpp"
#include "gradlab/core/study/statistics.hpp"
#include "gradlab/core/study/study.hpp"
#include "gradlab/version.hpp"

namespace po = boost::program_options;

namespace gradlab::cli {

namespace {

constexpr int exit_ok = 0;
constexpr int exit_failed = 1;
constexpr int exit_usage = 2;
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
  auto line = parse_command_line(args, options);
  Parsed p;
  p.vm = std::move(line.vm);
  p.words = std::move(line.words);
  if (p.vm.count("plugin-dir")) p.plugin_dirs = p.vm["plugin-dir"].as<std::vector<std::string>>();
  return p;
}

std::unique_ptr<Registry> load_registry(const std::vector<std::string>& dirs, bool warn = true) {
  auto registry = std::make_unique<Registry>();
  for (const auto& problem : registry->load_standard({dirs.begin(), dirs.end()}))
    if (warn) std::cerr << "gradlab: warning: plugin " << terminal_line(problem.path + ": " + problem.message) << "\n";
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

struct RunArgs {
  bool help = false;
  std::string help_text;
  std::string study_file, out;
  int threads = 1;
  bool quiet = false;
  std::vector<std::string> plugin_dirs;
};

RunArgs parse_run_args(const std::vector<std::string>& args) {
  po::options_description options("gradlab study run STUDY.yaml --out DIR [options]");
  options.add_options()("out,o", po::value<std::string>(), "the study folder (results.sqlite); required")(
      "threads,j", po::value<int>(), "runs at a time in this process (default: the CPUs it may use)")(
      "quiet,q", "no progress output");
  auto p = parse(args, options);
  RunArgs a;
  if (p.vm.count("help")) {
    std::ostringstream text;
    text << options
         << "\nRuns every run of the study, one oneTBB task per run, and stores each finished run in "
            "DIR/results.sqlite.\nRunning the same command again resumes: finished runs are kept, unfinished "
            "ones start over.\nCtrl-C stops the running runs; what finished is kept.\n"
            "Under mpirun (mpirun -np K gradlab study run ...) the runs are spread over the K processes; "
            "--threads is per process.\n";
    a.help = true;
    a.help_text = text.str();
    return a;
  }
  if (p.words.size() != 1) throw InputError("gradlab study run", "expected exactly one STUDY file");
  if (!p.vm.count("out")) throw InputError("gradlab study run", "needs --out DIR (the study folder)");
  a.threads = usable_cpus();
  if (p.vm.count("threads")) {
    a.threads = p.vm["threads"].as<int>();
    if (a.threads < 1 || a.threads > 4096) throw InputError("--threads", "must be in [1, 4096]");
  }
  a.quiet = p.vm.count("quiet") != 0;
  a.study_file = p.words[0];
  a.out = p.vm["out"].as<std::string>();
  a.plugin_dirs = p.plugin_dirs;
  return a;
}

// Progress on stderr while a study runs: a terminal gets one live line, a
// log file a plain line every 10 seconds. Silent when quiet.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet), tty_(isatty(STDERR_FILENO)) {
    if (quiet_) return;
    thread_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      const auto period = tty_ ? std::chrono::milliseconds(500) : std::chrono::seconds(10);
      while (!finished_) {
        wake_.wait_for(lock, period);
        if (finished_) break;
        if (tty_)
          std::cerr << "\r" << line(latest_) << "\x1b[K" << std::flush;
        else
          std::cerr << "study: " << line(latest_) << "\n";
      }
    });
  }
  ~ProgressPrinter() { stop(); }
  void update(const study::Progress& progress) {
    std::lock_guard lock(mutex_);
    latest_ = progress;
  }
  // Stops the printer; a terminal gets the final line.
  void finish(const study::Progress& result) {
    stop();
    if (!quiet_ && tty_) std::cerr << "\r" << line(result) << "\x1b[K\n";
  }

 private:
  void stop() {
    {
      std::lock_guard lock(mutex_);
      finished_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  std::string line(const study::Progress& pr) const {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    const auto new_done = pr.done - pr.skipped;
    std::string eta = "?";
    if (new_done > 0) eta = seconds_text(elapsed / new_done * (pr.total - pr.done));
    char text[256];
    std::snprintf(text, sizeof text,
                  "%lld/%lld runs done, %lld running, %lld diverged, %lld failed, %s elapsed, ETA %s",
                  (long long)pr.done, (long long)pr.total, (long long)pr.running, (long long)pr.diverged,
                  (long long)pr.failed, seconds_text(elapsed).c_str(), eta.c_str());
    return text;
  }
  const bool quiet_, tty_;
  const std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mutex_;
  std::condition_variable wake_;
  bool finished_ = false;
  study::Progress latest_;
  std::thread thread_;
};

void catch_signals() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  action.sa_flags = SA_RESETHAND;  // a second Ctrl-C ends the process at once
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

void default_signals() {
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
}

// The last words of a run: how to resume, or the counts. `launch`: the
// mpirun prefix of the command, if any.
int end_of_run(const RunArgs& a, const study::StudyPlan& plan, const study::Progress& result, bool stopped,
               const std::string& launch) {
  if (stopped && result.done < result.total) {
    std::cerr << "gradlab: interrupted: " << result.done << " of " << result.total
              << " runs are stored; run the same command again to resume:\n  " << launch << "gradlab study run "
              << a.study_file << " --out " << a.out << "\n";
    return exit_interrupted;
  }
  std::cout << "study " << terminal_line(plan.name) << ": " << result.total << " runs, "
            << (result.total - result.diverged - result.failed) << " ok, " << result.diverged << " diverged, "
            << result.failed << " failed (" << (result.done - result.skipped) << " run now); results in "
            << (std::filesystem::path(a.out) / "results.sqlite").string() << "\n";
  return exit_ok;
}

// `mpirun -np K gradlab study run`: every rank reads the study and loads the
// data; rank 0 alone opens the folder. Each step is agreed on before the next,
// so an error anywhere ends every rank (one line, from the lowest rank that
// failed) and no rank waits for ever.
int run_command_mpi(const std::vector<std::string>& args) {
  study::MpiSession mpi;
  const bool root = mpi.rank() == 0;
  RunArgs a;
  std::unique_ptr<Registry> registry;
  study::StudyPlan plan;
  study::DatasetCache data;
  std::unique_ptr<study::ResultStore> store;
  try {
    mpi.all_succeed(
        [&] {
          a = parse_run_args(args);
          if (a.help) return;
          registry = load_registry(a.plugin_dirs, root);  // the other ranks' warnings would repeat rank 0's
          plan = study::load_study(a.study_file, *registry);
          if (root) study::ResultStore::check_folder(a.out, plan);  // before anything is written
        },
        report_error);
    if (a.help) {
      if (root) std::cout << a.help_text;
      return exit_ok;
    }
    // The same study, build and plugins everywhere, or the results would
    // depend on which rank ran a run.
    std::string mine = plan.hash + " gradlab " + GRADLAB_VERSION_STRING;
    for (const auto& plugin : registry->plugins()) mine += " " + plugin->name + "@" + plugin->version;
    const std::string rank0 = mpi.broadcast(mine);
    mpi.all_succeed(
        [&] {
          if (mine != rank0)
            throw InputError("rank " + std::to_string(mpi.rank()),
                             "this process sees another study, gradlab or plugin set than rank 0 (" + mine + " here, " +
                                 rank0 + " on rank 0): every machine needs the same study file, build and plugins");
          data.load_all(plan, *registry);
        },
        report_error);
    mpi.all_succeed(
        [&] {
          if (root) store = study::ResultStore::open_for_run(a.out, plan);
        },
        report_error);
  } catch (const study::QuietExit& e) {
    return e.code;
  }

  catch_signals();
  ProgressPrinter printer(a.quiet || !root);
  study::ScheduleOptions schedule;
  schedule.threads = a.threads;
  schedule.cancel = &interrupted;
  schedule.on_progress = [&](const study::Progress& pr) { printer.update(pr); };
  const auto outcome = mpi.run_study(plan, *registry, data, store.get(), schedule);
  printer.finish(outcome.progress);
  default_signals();
  if (outcome.failed) return exit_failed;  // rank 0 threw its error before this
  if (!root) return outcome.interrupted && outcome.progress.done < outcome.progress.total ? exit_interrupted : exit_ok;
  return end_of_run(a, plan, outcome.progress, outcome.interrupted, "mpirun -np " + std::to_string(mpi.size()) + " ");
}

int run_command(const std::vector<std::string>& args) {
  if (study::launched_by_mpi()) {
    if (study::mpi_built()) return run_command_mpi(args);
    if (study::launcher_world_size() > 1) {
      if (study::launcher_rank() > 0) return exit_usage;  // rank 0 says why
      throw InputError("gradlab study run",
                       "started by mpirun with " + std::to_string(study::launcher_world_size()) +
                           " processes, but this gradlab was built without MPI (GRADLAB_MPI=OFF or no MPI "
                           "found); run it without mpirun, or rebuild it with MPI");
    }
  }
  const RunArgs a = parse_run_args(args);
  if (a.help) {
    std::cout << a.help_text;
    return exit_ok;
  }
  auto registry = load_registry(a.plugin_dirs);
  auto plan = study::load_study(a.study_file, *registry);
  study::ResultStore::check_folder(a.out, plan);  // before anything is written
  study::DatasetCache data;
  data.load_all(plan, *registry);
  auto store = study::ResultStore::open_for_run(a.out, plan);

  catch_signals();
  ProgressPrinter printer(a.quiet);
  study::ScheduleOptions schedule;
  schedule.threads = a.threads;
  schedule.cancel = &interrupted;
  schedule.on_progress = [&](const study::Progress& pr) { printer.update(pr); };
  const auto result = study::run_study(plan, *registry, data, *store, schedule);
  printer.finish(result);
  default_signals();
  return end_of_run(a, plan, result, interrupted.load(), "");
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
                 "averaged):\nfinal test_accuracy (test_mse for regression; success_rate when the task has its own "
                 "criterion) mean, sd and 95% "
                 "CI (Student t); its difference from the baseline "
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
  std::cout << "study " << terminal_line(stats.name) << ", baseline " << terminal_line(stats.baseline) << "; final "
            << stats.metric << (stats.metric == "test_mse" ? " (mean squared error, lower is better)" : "")
            << " over the ok runs; p: Welch's t-test vs the baseline, p_holm: Holm-adjusted\n";
  const std::string short_name = stats.metric == "success_rate" ? "success"
                                 : stats.metric == "test_mse"   ? "test_mse"
                                                                : "test_acc";
  std::vector<std::vector<std::string>> rows{{"variant", "cell", "ok/div/fail", short_name + " mean", "sd", "95% CI",
                                              "delta", "p", "p_holm", "grad first/last (ep0)"}};
  for (const auto& c : stats.cells) {
    const auto& a = c.metrics.at(stats.metric);
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
