// constant: the same learning-rate factor at every step, factor(t) = c, the
// fixed step size of classical stochastic approximation (Robbins & Monro 1951).
// With c = 1 a run trains exactly as one without a schedule.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Constant final : public Schedule {
 public:
  explicit Constant(const Params& p) : factor_(p.real("factor")) {}
  double factor(const StepInfo&) const override { return factor_; }

 private:
  double factor_;
};

void register_constant(Registrar& r) {
  r.add_schedule({"constant",
                  "Constant learning-rate factor c at every step (fixed step size, Robbins & Monro 1951)",
                  {ParamSpec::real("factor", 1.0).at_least(0).describe("the factor c of the base learning rate")}},
                 [](const Params& p, std::shared_ptr<const Schedule>) { return std::make_unique<Constant>(p); });
}

}  // namespace

GRADLAB_PLUGIN("constant", "1.0.0", "Constant learning-rate schedule", register_constant)
