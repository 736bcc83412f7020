// adamw: Adam with decoupled weight decay (Loshchilov & Hutter 2019,
// "Decoupled weight decay regularization", ICLR, Algorithm 2), in
// torch.optim.AdamW's form (amsgrad=False). With lr_t = lr * info.lr_scale
// (the schedule multiplier eta_t of the paper):
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g^2
//   theta = theta * (1 - lr_t * wd) - lr_t / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// i.e. theta -= lr_t * (mhat / (sqrt(vhat) + eps) + wd * theta). Unlike adam's
// `weight_decay` (an L2 term added to g, which then passes through the
// 1/sqrt(vhat) normalization), the decay here shrinks every weight by the same
// factor whatever its gradient history. The paper scales the decay by eta_t
// alone; torch (and this plugin) by lr * eta_t, so wd is relative to lr.
// t counts this optimizer's steps since reset().
#include <cmath>
#include <cstdint>
#include <gradlab/sdk.hpp>
#include <stdexcept>

namespace {

using namespace gradlab;

class AdamW final : public Optimizer {
 public:
  explicit AdamW(const Params& p)
      : lr_(p.real("lr")),
        beta1_(p.real("beta1")),
        beta2_(p.real("beta2")),
        eps_(Scalar(p.real("eps"))),
        weight_decay_(p.real("weight_decay")) {
    if (beta1_ >= 1 || beta2_ >= 1)
      throw std::invalid_argument(
          "optimizer 'adamw': beta1 and beta2 must be below 1 (the bias correction 1 - beta^t "
          "would be 0)");
  }
  void reset(Index n, std::span<const ParamGroup>) override {
    m_ = Vector::Zero(n);
    v_ = Vector::Zero(n);
    t_ = 0;
  }
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    ++t_;
    const double lr_t = lr_ * info.lr_scale;
    const double bc1 = 1.0 - std::pow(beta1_, double(t_));
    const double bc2 = 1.0 - std::pow(beta2_, double(t_));
    const Scalar step_size = Scalar(lr_t / bc1);
    const Scalar inv_sqrt_bc2 = Scalar(1.0 / std::sqrt(bc2));
    const Scalar decay = Scalar(1.0 - lr_t * weight_decay_);
    const Scalar b1 = Scalar(beta1_), b2 = Scalar(beta2_), eps = eps_;
    Scalar* theta = params.data();
    const Scalar* g = grads.data();
    Scalar* m = m_.data();
    Scalar* v = v_.data();
    const Index n = params.size();
    for (Index i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      theta[i] = theta[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }

 private:
  double lr_, beta1_, beta2_;
  Scalar eps_;
  double weight_decay_;
  Vector m_, v_;
  std::int64_t t_ = 0;
};

void register_adamw(Registrar& r) {
  r.add_optimizer(
      {"adamw",
       "Adam with weight decay decoupled from the gradient step (Loshchilov & Hutter 2019)",
       {ParamSpec::real("lr", 0.001).positive().describe("learning rate (alpha in the paper)"),
        ParamSpec::real("beta1", 0.9).at_least(0).at_most(1).describe("decay of the first-moment estimate, below 1"),
        ParamSpec::real("beta2", 0.999).at_least(0).at_most(1).describe("decay of the second-moment estimate, below 1"),
        ParamSpec::real("eps", 1e-8).at_least(0).describe("added to sqrt(v_hat) for numerical stability"),
        ParamSpec::real("weight_decay", 0.01)
            .at_least(0)
            .describe("decoupled decay: each step multiplies the weights by 1 - lr * lr_scale * weight_decay")}},
      [](const Params& p) { return std::make_unique<AdamW>(p); });
}

}  // namespace

GRADLAB_PLUGIN("adamw", "1.0.0", "AdamW", register_adamw)
