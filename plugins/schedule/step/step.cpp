// step: step decay per epoch, factor = gamma^floor((epoch - 1) / every), with
// epoch 1-based: the factor is 1 for epochs 1..every, gamma for the next
// `every` epochs, and so on (PyTorch's StepLR with step_size = every, stepped
// once per epoch).
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Step final : public Schedule {
 public:
  explicit Step(const Params& p) : every_(p.integer("every")), gamma_(p.real("gamma")) {}
  double factor(const StepInfo& at) const override {
    const std::int64_t decays = (std::max<std::int64_t>(at.epoch, 1) - 1) / every_;
    return std::pow(gamma_, static_cast<double>(decays));
  }

 private:
  std::int64_t every_;
  double gamma_;
};

void register_step(Registrar& r) {
  r.add_schedule({"step",
                  "Step decay gamma^floor((epoch-1)/every) per epoch (PyTorch StepLR, torch.optim.lr_scheduler)",
                  {ParamSpec::integer("every", 10).at_least(1).describe("epochs between two decays"),
                   ParamSpec::real("gamma", 0.1).positive().at_most(1).describe("the factor applied at each decay")}},
                 [](const Params& p, std::shared_ptr<const Schedule>) { return std::make_unique<Step>(p); });
}

}  // namespace

GRADLAB_PLUGIN("step", "1.0.0", "Step-decay learning-rate schedule", register_step)
