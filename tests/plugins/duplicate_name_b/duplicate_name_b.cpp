// Test-only plugin "duplicate_name" (second of two libraries with that name):
// must be reported and skipped, so its layer `twin_b_only` never appears.
#include <gradlab/sdk.hpp>

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

void register_b(Registrar& r) {
  r.add_layer({"twin_b_only", "Identity layer of the skipped duplicate (test only)", {}},
              [](const Params&, std::vector<ChildLayer>) { return std::make_unique<Identity>(); });
}

}  // namespace

GRADLAB_PLUGIN("duplicate_name", "2.0.0", "Test plugin: the second of two libraries named duplicate_name", register_b)
