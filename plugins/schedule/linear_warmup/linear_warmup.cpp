// linear_warmup: a linear ramp of the learning rate over the first `steps`
// training steps (Goyal et al. 2017, "Accurate, large minibatch SGD", sec. 2.2
// gradual warmup), then another schedule:
//   iteration <= steps: factor = s + (1 - s) * iteration / steps   (s = start_factor)
//   iteration >  steps: factor = then.factor(after), where `after` is the step
//     counted from the end of warmup: iteration - steps, total_steps - steps
//     (at least 1), progress = (iteration - steps - 1) / (total_steps - steps);
//     epoch and steps_per_epoch stay the run's. Without `then:` the factor is 1.
// So a cosine after warmup decays over the remaining steps, from 1 at the
// first step after warmup; the last warmup step already trains at factor 1.
#include <algorithm>
#include <gradlab/sdk.hpp>
#include <memory>

namespace {

using namespace gradlab;

class LinearWarmup final : public Schedule {
 public:
  LinearWarmup(const Params& p, std::shared_ptr<const Schedule> then)
      : steps_(p.integer("steps")), start_(p.real("start_factor")), then_(std::move(then)) {}

  double factor(const StepInfo& at) const override {
    if (at.iteration <= steps_)
      return start_ + (1 - start_) * static_cast<double>(at.iteration) / static_cast<double>(steps_);
    if (!then_) return 1.0;
    StepInfo after = at;
    after.iteration = at.iteration - steps_;
    after.total_steps = std::max<std::int64_t>(1, at.total_steps - steps_);
    after.progress = static_cast<double>(after.iteration - 1) / static_cast<double>(after.total_steps);
    return then_->factor(after);
  }

 private:
  std::int64_t steps_;
  double start_;
  std::shared_ptr<const Schedule> then_;
};

void register_linear_warmup(Registrar& r) {
  ComponentInfo info{"linear_warmup",
                     "Linear learning-rate warmup over the first steps, then the `then:` schedule (gradual warmup, "
                     "Goyal et al. 2017)",
                     {ParamSpec::integer("steps").at_least(1).describe("training steps (batches) the warmup lasts"),
                      ParamSpec::real("start_factor", 0.0)
                          .at_least(0)
                          .at_most(1)
                          .describe("the factor the ramp starts from (reached at step 0, before the first step)")}};
  info.accepts_children = true;  // `then:`, the schedule after warmup
  r.add_schedule(std::move(info), [](const Params& p, std::shared_ptr<const Schedule> then) {
    return std::make_unique<LinearWarmup>(p, std::move(then));
  });
}

}  // namespace

GRADLAB_PLUGIN("linear_warmup", "1.0.0", "Linear learning-rate warmup", register_linear_warmup)
