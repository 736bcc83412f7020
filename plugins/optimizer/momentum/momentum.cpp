// momentum: gradient descent with heavy-ball momentum (Polyak 1964) or
// Nesterov's accelerated gradient in the form of Sutskever, Martens, Dahl &
// Hinton 2013, with torch.optim.SGD's semantics (dampening 0):
//   d = g + wd * theta
//   v = mu * v + d
//   theta -= lr * v                 (classical)
//   theta -= lr * (d + mu * v)      (nesterov)
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Momentum final : public Optimizer {
 public:
  explicit Momentum(const Params& p)
      : lr_(Scalar(p.real("lr"))),
        mu_(Scalar(p.real("momentum"))),
        weight_decay_(Scalar(p.real("weight_decay"))),
        nesterov_(p.boolean("nesterov")) {}
  void reset(Index n, std::span<const ParamGroup>) override { v_ = Vector::Zero(n); }
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const Scalar lr = lr_ * Scalar(info.lr_scale), mu = mu_, wd = weight_decay_;
    Scalar* theta = params.data();
    const Scalar* g = grads.data();
    Scalar* v = v_.data();
    const Index n = params.size();
    for (Index i = 0; i < n; ++i) {
      const Scalar d = wd != 0 ? g[i] + wd * theta[i] : g[i];
      v[i] = mu * v[i] + d;
      theta[i] -= lr * (nesterov_ ? d + mu * v[i] : v[i]);
    }
  }

 private:
  Scalar lr_, mu_, weight_decay_;
  bool nesterov_;
  Vector v_;
};

void register_momentum(Registrar& r) {
  r.add_optimizer(
      {"momentum",
       "SGD with momentum v = mu*v + g, theta -= lr*v (Polyak 1964); Nesterov option (Sutskever et al. 2013)",
       {ParamSpec::real("lr", 0.01).positive().describe("learning rate"),
        ParamSpec::real("momentum", 0.9).at_least(0).at_most(1).describe("momentum coefficient mu"),
        ParamSpec::boolean("nesterov", false)
            .describe("Nesterov accelerated gradient: theta -= lr*(g + mu*v) (torch.optim.SGD semantics)"),
        ParamSpec::real("weight_decay", 0.0).at_least(0).describe("L2 penalty added to the gradient")}},
      [](const Params& p) { return std::make_unique<Momentum>(p); });
}

}  // namespace

GRADLAB_PLUGIN("momentum", "1.0.0", "Momentum and Nesterov momentum", register_momentum)
