// rprop: resilient back-propagation. Each weight has its own step size Delta,
// adapted from the signs of successive gradients only; the update is
// -sign(g) * Delta. Four published variants:
//
//   rprop+  Riedmiller & Braun 1993, "A direct adaptive method for faster
//           backpropagation learning: the RPROP algorithm" (with weight
//           backtracking);
//   rprop-  the same without backtracking;
//   irprop+ Igel & Huesken 2000, "Improving the Rprop learning algorithm"
//           (backtracking only when the error increased);
//   irprop- Igel & Huesken 2000 (no backtracking; the gradient is zeroed on a
//           sign change). This is also what torch.optim.Rprop implements.
//
// Per weight, with p = g_prev * g:
//   p > 0: Delta = min(Delta * eta_plus, delta_max);  dw = -sign(g) * Delta; w += dw
//   p < 0: Delta = max(Delta * eta_minus, delta_min)
//          rprop+:  w -= dw_prev (undo the last step), g = 0
//          irprop+: if E(t) > E(t-1): w -= dw_prev;    g = 0
//          irprop-: g = 0 (no step this time)
//          rprop-:  dw = -sign(g) * Delta; w += dw   (step with the new Delta)
//   p = 0: Delta unchanged;                            dw = -sign(g) * Delta; w += dw
//   g_prev = g
// E(t) is StepInfo::loss (the loss at the weights the gradient was taken at).
// On the first step g_prev = 0, so every weight moves by delta_init.
#include <algorithm>
#include <gradlab/sdk.hpp>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using namespace gradlab;

enum class Variant { rprop_minus, rprop_plus, irprop_minus, irprop_plus };

Variant parse_variant(const std::string& name) {
  if (name == "rprop-") return Variant::rprop_minus;
  if (name == "rprop+") return Variant::rprop_plus;
  if (name == "irprop-") return Variant::irprop_minus;
  if (name == "irprop+") return Variant::irprop_plus;
  throw std::invalid_argument("optimizer 'rprop': unknown variant '" + name + "'");
}

inline Scalar sign(Scalar x) { return Scalar((x > 0) - (x < 0)); }

class Rprop final : public Optimizer {
 public:
  explicit Rprop(const Params& p)
      : variant_(parse_variant(p.string("variant"))),
        eta_plus_(Scalar(p.real("eta_plus"))),
        eta_minus_(Scalar(p.real("eta_minus"))),
        delta_init_(Scalar(p.real("delta_init"))),
        delta_min_(Scalar(p.real("delta_min"))),
        delta_max_(Scalar(p.real("delta_max"))) {
    if (delta_min_ > delta_max_)
      throw std::invalid_argument("optimizer 'rprop': delta_min must not be greater than delta_max");
  }

  void reset(Index n, std::span<const ParamGroup>) override {
    delta_ = Vector::Constant(n, std::clamp(delta_init_, delta_min_, delta_max_));
    g_prev_ = Vector::Zero(n);
    dw_prev_ = Vector::Zero(n);
    loss_prev_ = std::numeric_limits<double>::infinity();
  }

  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    const bool error_increased = info.loss > loss_prev_;
    loss_prev_ = info.loss;
    Scalar* w = params.data();
    const Scalar* grad = grads.data();
    Scalar* delta = delta_.data();
    Scalar* g_prev = g_prev_.data();
    Scalar* dw_prev = dw_prev_.data();
    const Index n = params.size();
    for (Index i = 0; i < n; ++i) {
      Scalar g = grad[i];
      const Scalar product = g_prev[i] * g;
      Scalar dw = 0;
      if (product > 0) {
        delta[i] = std::min(delta[i] * eta_plus_, delta_max_);
        dw = -sign(g) * delta[i];
      } else if (product < 0) {
        delta[i] = std::max(delta[i] * eta_minus_, delta_min_);
        switch (variant_) {
          case Variant::rprop_minus: dw = -sign(g) * delta[i]; break;
          case Variant::rprop_plus:
            dw = -dw_prev[i];
            g = 0;
            break;
          case Variant::irprop_plus:
            if (error_increased) dw = -dw_prev[i];
            g = 0;
            break;
          case Variant::irprop_minus: g = 0; break;
        }
      } else {
        dw = -sign(g) * delta[i];
      }
      w[i] += dw;
      // A backtracking step is not itself a step that a later one undoes.
      dw_prev[i] = product < 0 && variant_ != Variant::rprop_minus ? Scalar(0) : dw;
      g_prev[i] = g;
    }
  }

 private:
  Variant variant_;
  Scalar eta_plus_, eta_minus_, delta_init_, delta_min_, delta_max_;
  Vector delta_, g_prev_, dw_prev_;
  double loss_prev_ = std::numeric_limits<double>::infinity();
};

void register_rprop(Registrar& r) {
  r.add_optimizer(
      {"rprop",
       "Resilient backpropagation: Rprop+/Rprop- (Riedmiller & Braun 1993), iRprop+/iRprop- (Igel & Huesken 2000); "
       "sign-based steps, so a schedule's lr_scale does not apply",
       {ParamSpec::choice("variant", "irprop-", {"rprop-", "rprop+", "irprop-", "irprop+"})
            .describe("rprop+ backtracks on a sign change (Riedmiller & Braun 1993); rprop- does not; irprop- "
                      "skips the step after a sign change; irprop+ also backtracks if the loss rose "
                      "(Igel & Huesken 2000)"),
        ParamSpec::real("eta_plus", 1.2).at_least(1).describe("step-size growth factor when the sign is kept"),
        ParamSpec::real("eta_minus", 0.5).positive().at_most(1).describe("step-size shrink factor on a sign change"),
        ParamSpec::real("delta_init", 0.0125)
            .positive()
            .describe("initial step size of every weight (0.0125 as Igel & Huesken 2000; Riedmiller & Braun "
                      "1993 used 0.1)"),
        ParamSpec::real("delta_min", 1e-6).at_least(0).describe("smallest step size"),
        ParamSpec::real("delta_max", 50.0).positive().describe("largest step size")}},
      [](const Params& p) { return std::make_unique<Rprop>(p); });
}

}  // namespace

GRADLAB_PLUGIN("rprop", "1.0.0", "Resilient backpropagation (Rprop and iRprop)", register_rprop)
