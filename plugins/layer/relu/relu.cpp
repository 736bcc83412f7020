// relu: the rectified linear unit max(0, x) (Nair & Hinton 2010; Glorot, Bordes
// & Bengio 2011). Its derivative is exactly 1 where a unit is active, so a deep
// stack does not shrink the gradient the way squashing functions do; its
// failure mode is the opposite: a unit whose input is negative for every
// example is "dead" and passes no gradient at all.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Relu final : public ElementwiseLayer {
 public:
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override {
    out.array() = in.array().max(Scalar(0));
  }
  // f'(x) = 1 for x > 0 and 0 for x <= 0 (the subgradient PyTorch uses at 0).
  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) grad_in->array() = (in.array() > Scalar(0)).select(grad_out.array(), Scalar(0));
  }
  // Saturation for a rectifier is the fraction of DEAD units: rows (units) whose
  // output is zero for every column of the probe batch (every example and every
  // time step). Such a unit gets no gradient from this batch at all; a unit that
  // is zero for only some examples is merely sparse, not dead. Judging per unit
  // rather than per entry is what separates "dying ReLU" from ordinary sparsity.
  double saturation(ConstMatrixMap, ConstMatrixMap out, const ForwardContext& ctx) const override {
    return dead_unit_fraction(out, ctx);
  }
};

void register_relu(Registrar& r) {
  r.add_layer({"relu", "Rectified linear unit max(0, x) (Nair & Hinton 2010; Glorot, Bordes & Bengio 2011)", {}},
              [](const Params&, std::vector<ChildLayer>) { return std::make_unique<Relu>(); });
}

}  // namespace

GRADLAB_PLUGIN("relu", "1.0.0", "Rectified linear unit", register_relu)
