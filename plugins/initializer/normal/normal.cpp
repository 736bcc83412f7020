// normal: W ~ N(mean, std^2), i.i.d. -- the classic "small random weights"
// initialization of back-propagation (Rumelhart, Hinton & Williams 1986).
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Normal final : public Initializer {
 public:
  explicit Normal(const Params& p) : mean_(p.real("mean")), std_(p.real("std")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    std::normal_distribution<double> normal(mean_, std_);
    fill_iid(w, rng, normal);
  }

 private:
  double mean_, std_;
};

void register_normal(Registrar& r) {
  r.add_initializer(
      {"normal",
       "W ~ N(mean, std^2), small random weights (Rumelhart, Hinton & Williams 1986)",
       {ParamSpec::real("mean", 0.0).describe("mean of every weight"),
        ParamSpec::real("std", 0.01).positive().describe("standard deviation of every weight (default 0.01)")}},
      [](const Params& p) { return std::make_unique<Normal>(p); });
}

}  // namespace

GRADLAB_PLUGIN("normal", "1.0.0", "Normal (Gaussian) initialization with fixed mean and std", register_normal)
