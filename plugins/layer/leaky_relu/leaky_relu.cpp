// leaky_relu: max(0, x) + a * min(0, x) (Maas, Hannun & Ng 2013). The small
// slope a for negative inputs keeps a gradient flowing through units that a
// plain ReLU would leave dead.
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class LeakyRelu final : public ElementwiseLayer {
 public:
  explicit LeakyRelu(const Params& p) : slope_(static_cast<Scalar>(p.real("negative_slope"))) {}

  // Written as max(0,x) + a*min(0,x) so it holds for any a >= 0 (also a > 1)
  // and vectorises without a branch.
  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override {
    out.array() = in.array().max(Scalar(0)) + slope_ * in.array().min(Scalar(0));
  }
  // f'(x) = 1 for x > 0 and a for x <= 0, as PyTorch's LeakyReLU.
  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) grad_in->array() = (in.array() > Scalar(0)).select(grad_out.array(), slope_ * grad_out.array());
  }
  // Saturation: the fraction of units (rows) whose input is <= 0 for every
  // column of the probe batch. Such a unit is what would be a dead ReLU: here it
  // still learns, but only through the small slope a, so its gradient is
  // scaled down by a for the whole batch. Counted per unit, as for relu, so
  // the two rectifiers' numbers are comparable.
  double saturation(ConstMatrixMap in, ConstMatrixMap, const ForwardContext& ctx) const override {
    return dead_unit_fraction(in, ctx);
  }

 private:
  Scalar slope_;
};

void register_leaky_relu(Registrar& r) {
  r.add_layer({"leaky_relu",
               "Leaky rectifier max(0,x) + a*min(0,x), gradient a for negative inputs (Maas, Hannun & Ng 2013)",
               {ParamSpec::real("negative_slope", 0.01)
                    .at_least(0)
                    .describe("slope a of the negative part (0 gives a plain ReLU)")}},
              [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<LeakyRelu>(p); });
}

}  // namespace

GRADLAB_PLUGIN("leaky_relu", "1.0.0", "Leaky rectified linear unit", register_leaky_relu)
