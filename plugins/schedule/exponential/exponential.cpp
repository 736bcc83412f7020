// exponential: exponential decay per epoch, factor = gamma^(epoch - 1), with
// epoch 1-based, so the first epoch trains at the base learning rate
// (PyTorch's ExponentialLR, stepped once per epoch).
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Exponential final : public Schedule {
 public:
  explicit Exponential(const Params& p) : gamma_(p.real("gamma")) {}
  double factor(const StepInfo& at) const override {
    return std::pow(gamma_, static_cast<double>(std::max<std::int64_t>(at.epoch, 1) - 1));
  }

 private:
  double gamma_;
};

void register_exponential(Registrar& r) {
  r.add_schedule(
      {"exponential",
       "Exponential decay gamma^(epoch-1) per epoch (PyTorch ExponentialLR, torch.optim.lr_scheduler)",
       {ParamSpec::real("gamma", 0.95).positive().at_most(1).describe("the factor applied after every epoch")}},
      [](const Params& p, std::shared_ptr<const Schedule>) { return std::make_unique<Exponential>(p); });
}

}  // namespace

GRADLAB_PLUGIN("exponential", "1.0.0", "Exponential-decay learning-rate schedule", register_exponential)
