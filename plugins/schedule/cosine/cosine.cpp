// cosine: cosine annealing over the whole run without restarts (SGDR,
// Loshchilov & Hutter 2017, eq. 5 with a single period):
//   factor = m + (1 - m) * (1 + cos(pi * progress)) / 2,
// with m = min_factor and progress = (iteration - 1) / total_steps in [0, 1):
// 1 at the first step, falling smoothly towards m at the end of the run.
#include <cmath>
#include <gradlab/sdk.hpp>
#include <numbers>
#include <stdexcept>

namespace {

using namespace gradlab;

class Cosine final : public Schedule {
 public:
  explicit Cosine(const Params& p) : min_factor_(p.real("min_factor")) {
    // The schema bounds are inclusive; [0, 1) needs this one check.
    if (min_factor_ >= 1) throw std::invalid_argument("schedule 'cosine': min_factor must be below 1");
  }
  double factor(const StepInfo& at) const override {
    return min_factor_ + (1 - min_factor_) * (1 + std::cos(std::numbers::pi * at.progress)) / 2;
  }

 private:
  double min_factor_;
};

void register_cosine(Registrar& r) {
  r.add_schedule({"cosine",
                  "Cosine annealing m + (1-m)(1+cos(pi*progress))/2 over the run (SGDR without restarts, "
                  "Loshchilov & Hutter 2017)",
                  {ParamSpec::real("min_factor", 0.0)
                       .at_least(0)
                       .at_most(1)
                       .describe("the factor m the run anneals towards, in [0, 1)")}},
                 [](const Params& p, std::shared_ptr<const Schedule>) { return std::make_unique<Cosine>(p); });
}

}  // namespace

GRADLAB_PLUGIN("cosine", "1.0.0", "Cosine-annealing learning-rate schedule", register_cosine)
