// lars: layer-wise adaptive rate scaling (You, Gitman & Ginsburg 2017, "Large
// batch training of convolutional networks", arXiv:1708.03888, Algorithm 1).
// For each parameter group l (one per layer with parameters, as reset()
// receives them), with gamma_t = lr * info.lr_scale:
//   lambda_l = eta * ||w_l|| / (||g_l|| + beta * ||w_l|| + eps)
//   v_l = m * v_l + gamma_t * lambda_l * (g_l + beta * w_l)
//   w_l -= v_l
// When ||w_l|| or ||g_l|| is 0 (a zero-initialized layer, a layer the batch did
// not reach) the ratio means nothing and lambda_l = 1, as torchlars and
// TensorFlow's LARS do. The local rate makes every layer's step a fixed
// fraction (about gamma_t * eta) of its weight norm, whatever the scale of its
// gradient: a vanishing gradient in an early layer gets a large lambda.
#include <cmath>
#include <gradlab/sdk.hpp>
#include <vector>

namespace {

using namespace gradlab;

class Lars final : public Optimizer {
 public:
  explicit Lars(const Params& p)
      : lr_(p.real("lr")),
        momentum_(Scalar(p.real("momentum"))),
        weight_decay_(p.real("weight_decay")),
        eta_(p.real("eta")),
        eps_(p.real("eps")) {}

  void reset(Index n, std::span<const ParamGroup> groups) override {
    velocity_ = Vector::Zero(n);
    groups_.clear();
    for (const auto& g : groups) groups_.push_back({g.offset, g.size});
  }

  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const double gamma = lr_ * info.lr_scale;
    const Scalar beta = Scalar(weight_decay_), mu = momentum_;
    for (const auto& group : groups_) {
      Scalar* w = params.data() + group.offset;
      const Scalar* g = grads.data() + group.offset;
      Scalar* v = velocity_.data() + group.offset;
      double w_sq = 0, g_sq = 0;  // accumulated in double: a layer may have millions of entries
      for (Index i = 0; i < group.size; ++i) {
        w_sq += double(w[i]) * double(w[i]);
        g_sq += double(g[i]) * double(g[i]);
      }
      const double w_norm = std::sqrt(w_sq), g_norm = std::sqrt(g_sq);
      const double local_lr = w_norm > 0 && g_norm > 0 ? eta_ * w_norm / (g_norm + weight_decay_ * w_norm + eps_) : 1.0;
      const Scalar rate = Scalar(gamma * local_lr);
      for (Index i = 0; i < group.size; ++i) {
        v[i] = mu * v[i] + rate * (g[i] + beta * w[i]);
        w[i] -= v[i];
      }
    }
  }

 private:
  struct Group {
    Index offset, size;
  };
  double lr_;
  Scalar momentum_;
  double weight_decay_, eta_, eps_;
  Vector velocity_;
  std::vector<Group> groups_;
};

void register_lars(Registrar& r) {
  r.add_optimizer(
      {"lars",
       "SGD with momentum and a per-layer learning rate eta*||w||/||g|| (LARS; You, Gitman & Ginsburg 2017)",
       {ParamSpec::real("lr", 1.0).positive().describe("global learning rate gamma (the schedule multiplies it)"),
        ParamSpec::real("momentum", 0.9).at_least(0).at_most(1).describe("momentum m of the velocity"),
        ParamSpec::real("weight_decay", 5e-4)
            .at_least(0)
            .describe("beta: L2 term added to g and to the ratio's denominator"),
        ParamSpec::real("eta", 0.001)
            .positive()
            .describe("trust coefficient: how far a step may move a layer relative to ||w||"),
        ParamSpec::real("eps", 1e-9)
            .at_least(0)
            .describe("added to the ratio's denominator against division by zero")}},
      [](const Params& p) { return std::make_unique<Lars>(p); });
}

}  // namespace

GRADLAB_PLUGIN("lars", "1.0.0", "LARS", register_lars)
