// A build without MPI (GRADLAB_MPI=OFF, or no MPI found): a study runs in one
// process; started by an MPI launcher with several processes, it says so.
#include "gradlab/core/error.hpp"
#include "gradlab/core/study/distributed.hpp"

namespace gradlab::study {

bool mpi_built() { return false; }

MpiSession::MpiSession() {
  throw InputError("gradlab study run",
                   "this gradlab was built without MPI (GRADLAB_MPI=OFF or no MPI found); run it without mpirun, or "
                   "rebuild it with MPI");
}

MpiSession::~MpiSession() = default;

void MpiSession::all_succeed(const std::function<void()>& step, const std::function<int(std::exception_ptr)>&) {
  step();
}

std::string MpiSession::broadcast(const std::string& text) { return text; }

DistributedOutcome MpiSession::run_study(const StudyPlan&, const Registry&, const DatasetCache&, ResultStore*,
                                         const ScheduleOptions&) {
  throw InputError("gradlab study run", "this gradlab was built without MPI");
}

}  // namespace gradlab::study
