// Running a study's plan: one oneTBB task per run in an arena of N threads,
// each data set loaded once and shared read-only, each finished run stored as
// it finishes.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/study.hpp"

namespace gradlab::study {

// Data sets by the data component's name, parameters and folder: each loaded
// once; a generator that draws from the run's seed (ComponentInfo::
// uses_run_seed) once per run seed.
class DatasetCache {
 public:
  // Loads every data set the plan names (InputError on a bad one).
  void load_all(const StudyPlan& plan, const Registry& registry);
  std::shared_ptr<const Dataset> get(const PlannedRun& run) const;
  std::size_t size() const { return sets_.size(); }

 private:
  std::string key(const PlannedRun& run) const;
  std::map<std::string, std::shared_ptr<const Dataset>> sets_;
  std::set<std::string> per_seed_;  // data set names that draw from the run's seed
};

struct Progress {
  std::int64_t total = 0, done = 0, running = 0, diverged = 0, failed = 0;
  std::int64_t skipped = 0;  // finished before this process started
};

struct ScheduleOptions {
  int threads = 1;
  const std::atomic<bool>* cancel = nullptr;
  // Called (from any thread, serialized) whenever a run starts or finishes.
  std::function<void(const Progress&)> on_progress;
};

// One run as a study runs it, in whichever process: trained with the run's
// derived seed on the shared data set; an exception becomes a failed summary.
struct RunOutcome {
  bool cancelled = false;  // stopped by `cancel` before it had a result: back to pending
  RunSummary summary;
  double started_at = 0.0, finished_at = 0.0;  // unix_time()
};
RunOutcome execute_run(const PlannedRun& run, const Registry& registry, const DatasetCache& data,
                       const std::atomic<bool>* cancel);

// Runs the runs of `plan` that `store` does not hold yet. Returns the final
// progress; runs stopped by `cancel` are left pending.
Progress run_study(const StudyPlan& plan, const Registry& registry, const DatasetCache& data, ResultStore& store,
                   const ScheduleOptions& options);

}  // namespace gradlab::study
