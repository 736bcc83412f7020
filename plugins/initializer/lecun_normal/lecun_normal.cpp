// lecun_normal: W ~ N(0, 1/fan_in) (LeCun, Bottou, Orr & Mueller 1998, "Efficient
// BackProp"): keeps the variance of a unit's input near 1 for unit-variance inputs.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class LecunNormal final : public Initializer {
 public:
  explicit LecunNormal(const Params& p) : gain_(p.real("gain")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    const double std = gain_ / std::sqrt(double(std::max<Index>(w.cols(), 1)));
    std::normal_distribution<double> normal(0.0, std);
    fill_iid(w, rng, normal);
  }

 private:
  double gain_;
};

void register_lecun_normal(Registrar& r) {
  r.add_initializer({"lecun_normal",
                     "W ~ N(0, gain^2/fan_in) (LeCun, Bottou, Orr & Mueller 1998, Efficient BackProp)",
                     {ParamSpec::real("gain", 1.0).positive().describe("multiplies the standard deviation")}},
                    [](const Params& p) { return std::make_unique<LecunNormal>(p); });
}

}  // namespace

GRADLAB_PLUGIN("lecun_normal", "1.0.0", "LeCun normal initialization", register_lecun_normal)
