// he_normal: W ~ N(0, gain^2 * 2 / fan) with fan = fan_in (forward) or fan_out
// (backward) (He, Zhang, Ren & Sun 2015, "Delving deep into rectifiers",
// eq. 10 / eq. 14). Same as torch.nn.init.kaiming_normal_(nonlinearity='relu')
// for gain 1.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class HeNormal final : public Initializer {
 public:
  explicit HeNormal(const Params& p) : gain_(p.real("gain")), fan_out_mode_(p.string("mode") == "fan_out") {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    const double fan = double(fan_out_mode_ ? w.rows() : w.cols());
    std::normal_distribution<double> normal(0.0, gain_ * std::sqrt(2.0 / fan));
    fill_iid(w, rng, normal);
  }

 private:
  double gain_;
  bool fan_out_mode_;
};

void register_he_normal(Registrar& r) {
  r.add_initializer(
      {"he_normal",
       "W ~ N(0, gain^2*2/fan_in) for rectifier nets (He, Zhang, Ren & Sun 2015)",
       {ParamSpec::real("gain", 1.0).positive().describe("multiplies the standard deviation; 1 as in the paper"),
        ParamSpec::choice("mode", "fan_in", {"fan_in", "fan_out"})
            .describe("fan_in keeps the forward signal's variance (paper eq. 10), fan_out the backward one (eq. 14)")}},
      [](const Params& p) { return std::make_unique<HeNormal>(p); });
}

}  // namespace

GRADLAB_PLUGIN("he_normal", "1.0.0", "He (Kaiming) normal initialization", register_he_normal)
