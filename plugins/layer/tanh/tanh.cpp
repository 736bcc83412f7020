// tanh: the hyperbolic tangent, a zero-centred squashing function with
// f'(x) = 1 - tanh(x)^2 <= 1 (LeCun, Bottou, Orr & Mueller 1998, "Efficient
// BackProp", recommend it over the logistic sigmoid for that reason).
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Tanh final : public ElementwiseLayer {
 public:
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override { out.array() = in.array().tanh(); }
  void backward(ConstMatrixMap, ConstMatrixMap out, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) grad_in->array() = grad_out.array() * (Scalar(1) - out.array().square());
  }
  // Saturation, as for the sigmoid, counts entries (unit x example) in the flat
  // region: f'(x) = 1 - y^2 < 0.01 * max f' = 0.01, i.e. |y| > 0.995.
  double saturation(ConstMatrixMap in, ConstMatrixMap out, const ForwardContext& ctx) const override {
    return valid_fraction(in, out, ctx, [](Scalar, Scalar y) { return Scalar(1) - y * y < Scalar(0.01); });
  }
};

void register_tanh(Registrar& r) {
  r.add_layer({"tanh", "Hyperbolic tangent, zero-centred with f'(0) = 1 (LeCun, Bottou, Orr & Mueller 1998)", {}},
              [](const Params&, std::vector<ChildLayer>) { return std::make_unique<Tanh>(); });
}

}  // namespace

GRADLAB_PLUGIN("tanh", "1.0.0", "Hyperbolic tangent activation", register_tanh)
