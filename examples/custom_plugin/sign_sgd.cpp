// sign_sgd: signSGD and Signum (Bernstein, Wang, Azizzadenesheli & Anandkumar
// 2018, "signSGD: Compressed Optimisation for Non-Convex Problems").
//
//   momentum = 0:  theta <- theta - lr * sign(g)                      (signSGD)
//   momentum = b:  m <- b m + (1 - b) g;  theta <- theta - lr * sign(m)  (Signum)
//
// Every parameter moves by exactly lr whatever the size of its gradient, so a
// layer whose gradient has vanished learns as fast as one whose gradient has
// not (the same idea as Rprop's sign-based steps).
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class SignSgd final : public Optimizer {
 public:
  explicit SignSgd(const Params& p) : lr_(Scalar(p.real("lr"))), beta_(Scalar(p.real("momentum"))) {}

  void reset(Index param_count, std::span<const ParamGroup>) override {
    momentum_.setZero(beta_ > 0 ? param_count : 0);
  }

  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const Scalar lr = lr_ * Scalar(info.lr_scale);  // the run's schedule
    if (beta_ > 0) {
      momentum_ = beta_ * momentum_ + (1 - beta_) * grads;
      params.array() -= lr * momentum_.array().sign();
    } else {
      params.array() -= lr * grads.array().sign();
    }
  }

 private:
  Scalar lr_, beta_;
  Vector momentum_;  // Signum's running average; empty for plain signSGD
};

void register_sign_sgd(Registrar& r) {
  r.add_optimizer(
      {"sign_sgd",
       "signSGD / Signum: theta -= lr * sign(g or its momentum) (Bernstein et al. 2018)",
       {ParamSpec::real("lr", 0.001).positive().describe("step size: every parameter moves by exactly lr per step"),
        ParamSpec::real("momentum", 0.0)
            .at_least(0)
            .at_most(0.999)
            .describe("Signum's averaging factor b, m <- b m + (1-b) g; 0 = plain signSGD")}},
      [](const Params& p) { return std::make_unique<SignSgd>(p); });
}

}  // namespace

GRADLAB_PLUGIN("sign_sgd", "1.0.0", "signSGD and Signum optimizers (Bernstein et al. 2018)", register_sign_sgd)
