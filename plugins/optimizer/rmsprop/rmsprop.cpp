// rmsprop: divide the gradient by a running root-mean-square of its recent
// magnitudes (Tieleman & Hinton 2012, COURSERA Neural Networks for Machine
// Learning, lecture 6.5), with torch.optim.RMSprop's semantics
// (centered=False, momentum=0):
//   d = g + wd * theta
//   s = alpha * s + (1 - alpha) * d^2
//   theta -= lr * d / (sqrt(s) + eps)
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class RmsProp final : public Optimizer {
 public:
  explicit RmsProp(const Params& p)
      : lr_(Scalar(p.real("lr"))),
        alpha_(Scalar(p.real("alpha"))),
        eps_(Scalar(p.real("eps"))),
        weight_decay_(Scalar(p.real("weight_decay"))) {}
  void reset(Index n, std::span<const ParamGroup>) override { s_ = Vector::Zero(n); }
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const Scalar lr = lr_ * Scalar(info.lr_scale), alpha = alpha_, eps = eps_, wd = weight_decay_;
    Scalar* theta = params.data();
    const Scalar* g = grads.data();
    Scalar* s = s_.data();
    const Index n = params.size();
    for (Index i = 0; i < n; ++i) {
      const Scalar d = wd != 0 ? g[i] + wd * theta[i] : g[i];
      s[i] = alpha * s[i] + (1 - alpha) * d * d;
      theta[i] -= lr * d / (std::sqrt(s[i]) + eps);
    }
  }

 private:
  Scalar lr_, alpha_, eps_, weight_decay_;
  Vector s_;
};

void register_rmsprop(Registrar& r) {
  r.add_optimizer({"rmsprop",
                   "RMSprop s = a*s + (1-a)*g^2, theta -= lr*g/(sqrt(s)+eps) (Tieleman & Hinton 2012)",
                   {ParamSpec::real("lr", 0.01).positive().describe("learning rate"),
                    ParamSpec::real("alpha", 0.99).at_least(0).at_most(1).describe("decay of the running mean of g^2"),
                    ParamSpec::real("eps", 1e-8).at_least(0).describe("added to sqrt(s) for numerical stability"),
                    ParamSpec::real("weight_decay", 0.0).at_least(0).describe("L2 penalty added to the gradient")}},
                  [](const Params& p) { return std::make_unique<RmsProp>(p); });
}

}  // namespace

GRADLAB_PLUGIN("rmsprop", "1.0.0", "RMSprop", register_rmsprop)
