// sgd: plain stochastic gradient descent, theta <- theta - lr * (g + wd * theta)
// (Robbins & Monro 1951).
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const Params& p) : lr_(Scalar(p.real("lr"))), weight_decay_(Scalar(p.real("weight_decay"))) {}
  void reset(Index, std::span<const ParamGroup>) override {}
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const Scalar lr = lr_ * Scalar(info.lr_scale);
    if (weight_decay_ != 0)
      params -= lr * (grads + weight_decay_ * params);
    else
      params -= lr * grads;
  }

 private:
  Scalar lr_, weight_decay_;
};

void register_sgd(Registrar& r) {
  r.add_optimizer({"sgd",
                   "Stochastic gradient descent theta -= lr * g (Robbins & Monro 1951)",
                   {ParamSpec::real("lr", 0.01).positive().describe("learning rate"),
                    ParamSpec::real("weight_decay", 0.0).at_least(0).describe("L2 penalty added to the gradient")}},
                  [](const Params& p) { return std::make_unique<Sgd>(p); });
}

}  // namespace

GRADLAB_PLUGIN("sgd", "1.0.0", "Stochastic gradient descent", register_sgd)
