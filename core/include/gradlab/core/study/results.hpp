// A study's results: SQLite in DIR/results.sqlite (WAL mode), one transaction
// per finished run, guarded by an exclusive lock on DIR/.lock for as long as
// a process runs the study.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"
#include "gradlab/core/study/study.hpp"

struct sqlite3;

namespace gradlab::study {

struct StatusCounts {
  std::string name, hash;
  std::int64_t total = 0, ok = 0, diverged = 0, failed = 0, running = 0, pending = 0;
  bool locked = false;  // a process holds the folder now
};

class ResultStore {
 public:
  // Opens (creating the folder and database when needed) for running `plan`:
  // takes the lock (InputError when another process holds it), refuses a
  // folder that holds another study (InputError), records the plan, and
  // marks runs left 'running' by a killed process as pending again.
  static std::unique_ptr<ResultStore> open_for_run(const std::filesystem::path& dir, const StudyPlan& plan);
  // Checks, without writing anything, that `dir` is free for `plan`: no other
  // study in it, no process holding it. Throws InputError otherwise.
  static void check_folder(const std::filesystem::path& dir, const StudyPlan& plan);
  // Reads the counts of a study folder (read-only).
  static StatusCounts status(const std::filesystem::path& dir);
  ~ResultStore();

  // Keys of the runs already finished (ok, diverged or failed).
  std::vector<std::string> finished_keys();
  // `host`: the machine the run runs on (empty: this one).
  void mark_running(const std::string& key, const std::string& host = {});
  // Stores a finished run and its epochs and probes in one transaction.
  void store_run(const PlannedRun& run, const RunSummary& summary, double started_at, double finished_at,
                 const std::string& host = {});
  // A run that was cancelled goes back to pending.
  void mark_pending(const std::string& key);

 private:
  ResultStore() = default;
  void exec(const std::string& sql);
  std::filesystem::path dir_;
  sqlite3* db_ = nullptr;
  int lock_fd_ = -1;
  std::mutex mutex_;
};

// Seconds since the epoch (wall clock), for the stored timestamps.
double unix_time();
// This machine's name (gethostname), as stored in runs.host.
std::string host_name();

}  // namespace gradlab::study
