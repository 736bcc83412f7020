// sigmoid: the logistic function 1 / (1 + e^-x). Its derivative is at most 1/4,
// which is why a deep stack of them makes gradients vanish (Hochreiter 1991).
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Sigmoid final : public ElementwiseLayer {
 public:
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override {
    out.array() = in.array().logistic();
  }
  void backward(ConstMatrixMap, ConstMatrixMap out, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) grad_in->array() = grad_out.array() * out.array() * (Scalar(1) - out.array());
  }
  // Flat where f'(x) = y(1 - y) < 0.01 * max f' = 0.0025.
  double saturation(ConstMatrixMap in, ConstMatrixMap out, const ForwardContext& ctx) const override {
    return valid_fraction(in, out, ctx, [](Scalar, Scalar y) { return y * (Scalar(1) - y) < Scalar(0.0025); });
  }
};

void register_sigmoid(Registrar& r) {
  r.add_layer(
      {"sigmoid", "Logistic sigmoid 1/(1+e^-x); f' <= 1/4 makes deep stacks vanish gradients (Hochreiter 1991)", {}},
      [](const Params&, std::vector<ChildLayer>) { return std::make_unique<Sigmoid>(); });
}

}  // namespace

GRADLAB_PLUGIN("sigmoid", "1.0.0", "Logistic sigmoid activation", register_sigmoid)
