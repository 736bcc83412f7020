// The study scheduler (see scheduler.hpp).
#include "gradlab/core/study/scheduler.hpp"

#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <mutex>
#include <set>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab::study {

std::string DatasetCache::key(const PlannedRun& run) const {
  std::string k = run.spec.data.name + "\n" + params_to_json(run.spec.data.params).dump() + "\n" + run.spec.spec_dir;
  // A generator that draws from the run's seed gives each seed its own data.
  if (per_seed_.count(run.spec.data.name)) k += "\n" + std::to_string(run.seed);
  return k;
}

void DatasetCache::load_all(const StudyPlan& plan, const Registry& registry) {
  for (const auto& run : plan.runs)
    if (const auto* entry = registry.find(ComponentKind::dataset, run.spec.data.name);
        entry && entry->info.uses_run_seed)
      per_seed_.insert(run.spec.data.name);
  for (const auto& run : plan.runs) {
    auto k = key(run);
    // Bounded as `gradlab train` bounds one (the runs' models get what is left).
    if (!sets_.count(k)) sets_[k] = load_dataset(run.spec, registry, default_memory_budget(), run.seed);
  }
}

std::shared_ptr<const Dataset> DatasetCache::get(const PlannedRun& run) const {
  auto it = sets_.find(key(run));
  return it == sets_.end() ? nullptr : it->second;
}

RunOutcome execute_run(const PlannedRun& run, const Registry& registry, const DatasetCache& data,
                       const std::atomic<bool>* cancel) {
  auto cancelled = [&] { return cancel && cancel->load(); };
  RunOutcome outcome;
  outcome.started_at = unix_time();
  if (cancelled()) {
    outcome.cancelled = true;
    return outcome;
  }
  RunSummary& summary = outcome.summary;
  try {
    RunOptions run_options;
    run_options.dataset = data.get(run);
    run_options.seed = run.seed;
    run_options.cancel = cancel;
    // The study's runs already fill the cores: a strategy's own parallel work
    // would only oversubscribe them.
    run_options.threads = 1;
    summary = train_run(run.spec, registry, run_options).summary;
  } catch (const std::exception& e) {
    summary = RunSummary{};
    summary.status = RunStatus::failed;
    summary.seed = run.seed;
    summary.message = e.what();
  }
  outcome.finished_at = unix_time();
  // A run cut short by the signal is not a result (an ok run that finished is).
  outcome.cancelled = cancelled() && summary.status != RunStatus::ok;
  return outcome;
}

Progress run_study(const StudyPlan& plan, const Registry& registry, const DatasetCache& data, ResultStore& store,
                   const ScheduleOptions& options) {
  std::set<std::string> finished;
  for (auto& key : store.finished_keys()) finished.insert(std::move(key));
  std::vector<const PlannedRun*> todo;
  for (const auto& run : plan.runs)
    if (!finished.count(run.key)) todo.push_back(&run);

  Progress progress;
  progress.total = static_cast<std::int64_t>(plan.runs.size());
  progress.done = progress.skipped = progress.total - static_cast<std::int64_t>(todo.size());
  std::mutex mutex;
  auto report = [&](const std::function<void(Progress&)>& change) {
    std::lock_guard lock(mutex);
    change(progress);
    if (options.on_progress) options.on_progress(progress);
  };
  auto cancelled = [&] { return options.cancel && options.cancel->load(); };
  report([](Progress&) {});

  tbb::task_arena arena(std::max(1, options.threads));
  arena.execute([&] {
    tbb::task_group group;
    for (const PlannedRun* run : todo)
      group.run([&, run] {
        if (cancelled()) return;
        store.mark_running(run->key);
        report([](Progress& p) { ++p.running; });
        auto outcome = execute_run(*run, registry, data, options.cancel);
        if (outcome.cancelled) {
          store.mark_pending(run->key);
          report([](Progress& p) { --p.running; });
          return;
        }
        const RunSummary& summary = outcome.summary;
        store.store_run(*run, summary, outcome.started_at, outcome.finished_at);
        report([&](Progress& p) {
          --p.running;
          ++p.done;
          if (summary.status == RunStatus::diverged) ++p.diverged;
          if (summary.status == RunStatus::failed) ++p.failed;
        });
      });
    group.wait();
  });
  return progress;
}

}  // namespace gradlab::study
