// Test-only plugin: a tanh whose backward is wrong by 3% (it returns
// 1.03 * f'(x) * grad_out). The layer conformance suite loads it to prove that
// its finite-difference gradient check reports a mismatch of that size.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class WrongGradientTanh final : public ElementwiseLayer {
 public:
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override { out.array() = in.array().tanh(); }
  void backward(ConstMatrixMap, ConstMatrixMap out, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) grad_in->array() = Scalar(1.03) * grad_out.array() * (Scalar(1) - out.array().square());
  }
};

void register_wrong_gradient(Registrar& r) {
  r.add_layer({"wrong_gradient_tanh", "tanh with a backward wrong by 3%, for testing gradient checks (test only)", {}},
              [](const Params&, std::vector<ChildLayer>) { return std::make_unique<WrongGradientTanh>(); });
}

}  // namespace

GRADLAB_PLUGIN("wrong_gradient_layer", "1.0.0", "Test-only tanh with a wrong gradient", register_wrong_gradient)
