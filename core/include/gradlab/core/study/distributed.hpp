// A study over many processes with MPI (`mpirun -np K gradlab study run`):
// rank 0 owns the results folder and hands the runs out one at a time to
// whichever process has a free thread (itself included); the others run them
// and send the summaries back. Without an MPI launcher, or in a build without
// MPI (GRADLAB_MPI=OFF), none of this is used and a study runs in one process.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"
#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/scheduler.hpp"
#include "gradlab/core/study/study.hpp"

namespace gradlab::study {

// Whether an MPI launcher started this process (mpirun/mpiexec of Open MPI,
// srun --mpi=pmix, other PMI launchers), by the environment they set:
// OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_RANK. A process started plainly never
// initializes MPI.
bool launched_by_mpi();
// The number of processes the launcher started, by the same environment
// (OMPI_COMM_WORLD_SIZE, PMI_SIZE, then Slurm's SLURM_NTASKS); 1 when unknown.
int launcher_world_size();
// This process's rank by the same environment (0 when started plainly).
int launcher_rank();
// Whether this build can run a study over MPI.
bool mpi_built();

// How a distributed study ended, as every rank sees it.
struct DistributedOutcome {
  Progress progress;         // over all ranks (rank 0's count, sent to the others)
  bool interrupted = false;  // some rank got SIGINT/SIGTERM and every rank stopped
  bool failed = false;       // rank 0 could not store a result (it rethrows the error)
};

// Thrown on every rank when a step failed somewhere, after the rank that
// reports the error (the lowest that failed) has written its line: every
// rank then exits with this code, and a bad input is one line, not K.
struct QuietExit {
  int code;
};

// One process of an MPI job. Constructing it initializes MPI (thread level
// MPI_THREAD_FUNNELED: only the constructing thread calls MPI; the runs run on
// oneTBB threads that never do), destroying it finalizes MPI. Every member is
// called from the constructing thread, on every rank in the same order.
class MpiSession {
 public:
  // Throws InputError in a build without MPI.
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Runs `step` on every rank, then agrees on whether it succeeded
  // everywhere. If not, the lowest rank whose step threw calls
  // `report(its exception)`, which writes the error and returns the exit code
  // (2 for bad input, 1 otherwise); then every rank throws QuietExit with it.
  void all_succeed(const std::function<void()>& step, const std::function<int(std::exception_ptr)>& report);
  // Rank 0's `text` on every rank.
  std::string broadcast(const std::string& text);

  // The distributed scheduler. Rank 0 passes the store (the only process that
  // opens the database) and gets progress callbacks; the others pass null.
  // `options.threads`: runs at a time in this process (oneTBB threads);
  // `options.cancel`: this process's signal flag (any rank's stops them all).
  DistributedOutcome run_study(const StudyPlan& plan, const Registry& registry, const DatasetCache& data,
                               ResultStore* store, const ScheduleOptions& options);

 private:
  int rank_ = 0, size_ = 1;
};

// The summary of a run as bytes (CBOR) for sending between processes, and
// back: every field the results store keeps, doubles bit for bit (a NaN as a
// NaN, infinities and -0.0 as themselves), unlike the report of to_json().
std::vector<std::uint8_t> encode_summary(const RunSummary& summary);
RunSummary decode_summary(const std::vector<std::uint8_t>& bytes);

}  // namespace gradlab::study
