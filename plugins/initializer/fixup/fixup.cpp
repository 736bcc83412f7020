// fixup: the initialization half of Fixup (Zhang, Dauphin & Ma 2019, "Fixup
// initialization: residual learning without normalization", ICLR, Sec. 3,
// rules 1 and 2). With L = site.blocks residual blocks and m = the number of
// layers with parameters in a block's branch (site.branch_layers):
//  - the network's output layer (site.output()) is zero;
//  - the last layer with parameters of each residual branch is zero;
//  - the other layers of a branch get He normal, N(0, 2/fan_in), scaled by
//    L^(-1/(2m-2));
//  - every other layer gets He normal.
// With m = 1 the single branch layer is the branch's last, so it is zero (the
// exponent -1/(2m-2) is undefined there; the block starts as the identity,
// which is what the rule achieves for m >= 2).
// Fixup's rule 3 (a scalar multiplier per branch, initialized at 1, and scalar
// biases before each layer) adds parameters, which an initializer cannot: a
// residual block with learn_scale: true has the learned multiplier.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Fixup final : public Initializer {
 public:
  void fill(RowMatrixMap w, Rng& rng, const InitSite& site) const override {
    if (w.size() == 0) return;
    const bool last_of_branch = site.in_branch() && site.branch_layer == site.branch_layers - 1;
    if (site.output() || last_of_branch) {
      w.setZero();
      return;
    }
    double std = std::sqrt(2.0 / double(w.cols()));
    if (site.in_branch()) std *= std::pow(double(site.blocks), -1.0 / double(2 * site.branch_layers - 2));
    std::normal_distribution<double> normal(0.0, std);
    fill_iid(w, rng, normal);
  }
};

void register_fixup(Registrar& r) {
  r.add_initializer({"fixup",
                     "He normal scaled by L^(-1/(2m-2)) in residual branches, zero last branch layer and "
                     "classifier (Fixup; Zhang, Dauphin & Ma 2019)",
                     {}},
                    [](const Params&) { return std::make_unique<Fixup>(); });
}

}  // namespace

GRADLAB_PLUGIN("fixup", "1.0.0", "Fixup initialization", register_fixup)
