// adam and adamw, one plugin: the same moment estimates, two ways to decay.
//
// adam: adaptive moment estimation with bias correction (Kingma & Ba 2015,
// "Adam: A method for stochastic optimization", Algorithm 1), with
// torch.optim.Adam's semantics (amsgrad=False, L2 weight decay added to g):
//   d = g + wd * theta
//   m = b1 * m + (1 - b1) * d
//   v = b2 * v + (1 - b2) * d^2
//   theta -= lr_t / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
//
// adamw: decoupled weight decay (Loshchilov & Hutter 2019, "Decoupled weight
// decay regularization", ICLR, Algorithm 2), in torch.optim.AdamW's form:
//   m = b1 * m + (1 - b1) * g
//   v = b2 * v + (1 - b2) * g^2
//   theta = theta * (1 - lr_t * wd) - lr_t / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// i.e. theta -= lr_t * (mhat / (sqrt(vhat) + eps) + wd * theta). Unlike adam's
// L2 term, which then passes through the 1/sqrt(vhat) normalization, the decay
// shrinks every weight by the same factor whatever its gradient history. The
// paper scales the decay by the schedule multiplier eta_t alone; torch (and
// this plugin) by lr * eta_t, so wd is relative to lr.
//
// In both, lr_t = lr * info.lr_scale and t counts this optimizer's steps since reset().
#include <cmath>
#include <cstdint>
#include <gradlab/sdk.hpp>
#include <stdexcept>
#include <string>

namespace {

using namespace gradlab;

// How weight decay enters: as an L2 term in the gradient, or decoupled.
enum class Decay { l2, decoupled };

class Adam final : public Optimizer {
 public:
  Adam(const Params& p, Decay decay, const char* name)
      : decay_(decay),
        lr_(p.real("lr")),
        beta1_(p.real("beta1")),
        beta2_(p.real("beta2")),
        eps_(Scalar(p.real("eps"))),
        weight_decay_(Scalar(p.real("weight_decay"))) {
    if (beta1_ >= 1 || beta2_ >= 1)
      throw std::invalid_argument(std::string("optimizer '") + name +
                                  "': beta1 and beta2 must be below 1 (the bias correction 1 - beta^t would be 0)");
  }
  void reset(Index n, std::span<const ParamGroup>) override {
    m_ = Vector::Zero(n);
    v_ = Vector::Zero(n);
    t_ = 0;
  }
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    ++t_;
    const double bc1 = 1.0 - std::pow(beta1_, double(t_));
    const double bc2 = 1.0 - std::pow(beta2_, double(t_));
    const double lr_t = lr_ * info.lr_scale;
    const Scalar step_size = Scalar(lr_t / bc1);
    const Scalar inv_sqrt_bc2 = Scalar(1.0 / std::sqrt(bc2));
    const Scalar b1 = Scalar(beta1_), b2 = Scalar(beta2_), eps = eps_;
    // adam: d = g + wd * theta; adamw: d = g and theta shrinks by `keep`.
    const Scalar wd = decay_ == Decay::l2 ? weight_decay_ : Scalar(0);
    const Scalar keep = decay_ == Decay::decoupled ? Scalar(1.0 - lr_t * double(weight_decay_)) : Scalar(1);
    Scalar* theta = params.data();
    const Scalar* g = grads.data();
    Scalar* m = m_.data();
    Scalar* v = v_.data();
    const Index n = params.size();
    for (Index i = 0; i < n; ++i) {
      const Scalar d = wd != 0 ? g[i] + wd * theta[i] : g[i];
      m[i] = b1 * m[i] + (1 - b1) * d;
      v[i] = b2 * v[i] + (1 - b2) * d * d;
      theta[i] = theta[i] * keep - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }

 private:
  Decay decay_;
  double lr_, beta1_, beta2_;
  Scalar eps_, weight_decay_;
  Vector m_, v_;
  std::int64_t t_ = 0;
};

void register_adam(Registrar& r) {
  r.add_optimizer(
      {"adam",
       "Adam with bias-corrected first and second moment estimates (Kingma & Ba 2015)",
       {ParamSpec::real("lr", 0.001).positive().describe("learning rate (alpha in the paper)"),
        ParamSpec::real("beta1", 0.9).at_least(0).at_most(1).describe("decay of the first-moment estimate, below 1"),
        ParamSpec::real("beta2", 0.999).at_least(0).at_most(1).describe("decay of the second-moment estimate, below 1"),
        ParamSpec::real("eps", 1e-8).at_least(0).describe("added to the denominator for numerical stability"),
        ParamSpec::real("weight_decay", 0.0).at_least(0).describe("L2 penalty added to the gradient")}},
      [](const Params& p) { return std::make_unique<Adam>(p, Decay::l2, "adam"); });
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
      [](const Params& p) { return std::make_unique<Adam>(p, Decay::decoupled, "adamw"); });
}

}  // namespace

GRADLAB_PLUGIN("adam", "1.1.0", "Adam and AdamW", register_adam)
