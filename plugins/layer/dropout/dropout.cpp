// dropout: inverted dropout (Srivastava, Hinton, Krizhevsky, Sutskever &
// Salakhutdinov 2014, JMLR, "Dropout: a simple way to prevent neural networks
// from overfitting"). In training each unit is kept with probability 1 - p and
// a kept unit is scaled by 1 / (1 - p), so the expected output equals the input
// and evaluation needs no rescaling: there the layer is the identity. The paper
// scales the weights by 1 - p at test time instead; both give the same
// expected activations.
#include <cmath>
#include <cstdint>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

constexpr double kMaxRate = 0.999999;

class Dropout final : public Layer {
 public:
  explicit Dropout(double p) : p_(p) {
    // Keep a unit when the top 53 bits of a 64-bit draw, read as a fraction
    // in [0, 1), fall below 1 - p: one draw per unit, the same on every
    // standard library (std::bernoulli_distribution's draws are not).
    keep_below_ = static_cast<std::uint64_t>(std::ldexp(1.0 - p, 53));
    scale_ = static_cast<Scalar>(1.0 / (1.0 - p));
  }

  Shape configure(Shape input) override {
    shape_ = input;
    return input;
  }
  Index param_count() const override { return 0; }
  std::vector<TensorInfo> tensors() const override { return {}; }
  void bind(VectorMap, VectorMap, VectorMap) override {}
  void initialize(const Initializer&, Rng&, const InitSite&) override {}
  void reserve(Index max_batch) override {
    const Index cols = shape_.steps * max_batch;
    if (mask_.cols() < cols) mask_.resize(shape_.features, cols);
  }

  // Draws a fresh mask (one factor per entry, padded steps included: they stay
  // finite) when training with a stream, else copies the input.
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    masked_ = ctx.mode == Mode::train && ctx.rng != nullptr && p_ > 0.0;
    if (!masked_) {
      out = in;
      return;
    }
    reserve(in.cols() / shape_.steps);  // a no-op after the host's reserve()
    Rng& rng = *ctx.rng;
    auto mask = mask_.leftCols(in.cols());
    for (Index c = 0; c < mask.cols(); ++c)
      for (Index r = 0; r < mask.rows(); ++r) mask(r, c) = (rng() >> 11) < keep_below_ ? scale_ : Scalar(0);
    out.array() = in.array() * mask.array();
  }

  // The forward's mask, reused: d out / d in is the mask itself.
  void backward(ConstMatrixMap, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (!grad_in) return;
    if (masked_)
      grad_in->array() = grad_out.array() * mask_.leftCols(grad_out.cols()).array();
    else
      *grad_in = grad_out;
  }

 private:
  double p_;
  std::uint64_t keep_below_ = 0;
  Scalar scale_ = 1;
  Shape shape_{};
  Matrix mask_;          // the last forward's factors: 0 or 1 / (1 - p)
  bool masked_ = false;  // whether the last forward applied mask_
};

void register_dropout(Registrar& r) {
  r.add_layer({"dropout",
               "Inverted dropout: keep each unit with probability 1-p, scaled by 1/(1-p), in training; identity in "
               "evaluation (Srivastava et al. 2014)",
               // p = 1 would drop every unit and scale by 1/0. Schema bounds are
               // inclusive, so the largest p allowed is just below 1: the host
               // then refuses p = 1 like any bad bound, naming the spec place
               // or the --set option.
               {ParamSpec::real("p", 0.5).at_least(0).at_most(kMaxRate).describe(
                   "probability of dropping a unit, 0 <= p < 1 (0 = identity)")}},
              [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<Dropout>(p.real("p")); });
}

}  // namespace

GRADLAB_PLUGIN("dropout", "1.0.0", "Inverted dropout (Srivastava et al. 2014)", register_dropout)
