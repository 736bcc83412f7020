// uniform: W ~ U(low, high), i.i.d. -- small random weights drawn uniformly
// (Rumelhart, Hinton & Williams 1986).
#include <gradlab/sdk.hpp>
#include <stdexcept>
#include <string>

namespace {

using namespace gradlab;

class Uniform final : public Initializer {
 public:
  explicit Uniform(const Params& p) : low_(p.real("low")), high_(p.real("high")) {
    if (low_ > high_)
      throw std::invalid_argument("initializer 'uniform': low (" + std::to_string(low_) +
                                  ") must not be greater than high (" + std::to_string(high_) + ")");
  }
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    std::uniform_real_distribution<double> uniform(low_, high_);
    fill_iid(w, rng, uniform);
  }

 private:
  double low_, high_;
};

void register_uniform(Registrar& r) {
  r.add_initializer({"uniform",
                     "W ~ U(low, high), small random weights (Rumelhart, Hinton & Williams 1986)",
                     {ParamSpec::real("low", -0.05).describe("lower bound of the interval (must be <= high)"),
                      ParamSpec::real("high", 0.05).describe("upper bound of the interval (must be >= low)")}},
                    [](const Params& p) { return std::make_unique<Uniform>(p); });
}

}  // namespace

GRADLAB_PLUGIN("uniform", "1.0.0", "Uniform initialization on [low, high)", register_uniform)
