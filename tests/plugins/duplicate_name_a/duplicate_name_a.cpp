// Test-only plugin "duplicate_name" (first of two libraries with that name, the
// one that loads first by file name): provides the layer `twin_scale`, which
// multiplies its input by a `factor`.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Scale final : public ElementwiseLayer {
 public:
  explicit Scale(Scalar factor) : factor_(factor) {}
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override { out = in * factor_; }
  void backward(ConstMatrixMap, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) *grad_in = grad_out * factor_;
  }

 private:
  Scalar factor_;
};

void register_a(Registrar& r) {
  r.add_layer({"twin_scale",
               "Multiplies its input by a constant (test only)",
               {ParamSpec::real("factor", 1.0).describe("the constant factor")}},
              [](const Params& p, std::vector<ChildLayer>) {
                return std::make_unique<Scale>(static_cast<Scalar>(p.real("factor")));
              });
}

}  // namespace

GRADLAB_PLUGIN("duplicate_name", "1.0.0", "Test plugin: the first of two libraries named duplicate_name", register_a)
