// glorot_normal: W ~ N(0, gain^2 * 2 / (fan_in + fan_out)) (Glorot & Bengio
// 2010, "Understanding the difficulty of training deep feedforward neural
// networks": the normalized variance 2/(n_in+n_out) of their eq. 12, drawn from
// a Gaussian). Same as torch.nn.init.xavier_normal_.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class GlorotNormal final : public Initializer {
 public:
  explicit GlorotNormal(const Params& p) : gain_(p.real("gain")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    const double fan_in = double(w.cols()), fan_out = double(w.rows());
    std::normal_distribution<double> normal(0.0, gain_ * std::sqrt(2.0 / (fan_in + fan_out)));
    fill_iid(w, rng, normal);
  }

 private:
  double gain_;
};

void register_glorot_normal(Registrar& r) {
  r.add_initializer(
      {"glorot_normal",
       "W ~ N(0, gain^2*2/(fan_in+fan_out)) (Glorot & Bengio 2010)",
       {ParamSpec::real("gain", 1.0).positive().describe("multiplies the standard deviation; 1 as in the paper")}},
      [](const Params& p) { return std::make_unique<GlorotNormal>(p); });
}

}  // namespace

GRADLAB_PLUGIN("glorot_normal", "1.0.0", "Glorot (Xavier) normal initialization", register_glorot_normal)
