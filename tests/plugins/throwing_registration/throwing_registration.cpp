// Test-only plugin whose registration adds one component and then throws: the
// host must report it and keep none of its components.
#include <gradlab/sdk.hpp>
#include <stdexcept>

namespace {

using namespace gradlab;

class Identity final : public ElementwiseLayer {
 public:
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override { out = in; }
  void backward(ConstMatrixMap, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) *grad_in = grad_out;
  }
};

void register_then_throw(Registrar& r) {
  r.add_layer({"half_registered", "Identity layer registered before the plugin throws (test only)", {}},
              [](const Params&, std::vector<ChildLayer>) { return std::make_unique<Identity>(); });
  throw std::runtime_error("simulated failure while registering");
}

}  // namespace

GRADLAB_PLUGIN("throwing_registration", "1.0.0", "Test plugin whose registration throws", register_then_throw)
