// kumar: W ~ N(0, (c / sqrt(fan_in))^2) with c = 3.6 for the logistic sigmoid
// (Kumar 2017, "On weight initialization in deep neural networks",
// arXiv:1704.08863): the variance that keeps activations' variance at the
// sigmoid's fixed point; c is exposed so other activations can be explored.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Kumar final : public Initializer {
 public:
  explicit Kumar(const Params& p) : constant_(p.real("constant")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    std::normal_distribution<double> normal(0.0, constant_ / std::sqrt(double(w.cols())));
    fill_iid(w, rng, normal);
  }

 private:
  double constant_;
};

void register_kumar(Registrar& r) {
  r.add_initializer(
      {"kumar",
       "W ~ N(0, (3.6/sqrt(fan_in))^2) for logistic nets (Kumar 2017, On weight initialization "
       "in deep neural networks)",
       {ParamSpec::real("constant", 3.6)
            .positive()
            .describe("c in std = c/sqrt(fan_in); 3.6 is Kumar's (2017) value for the logistic sigmoid")}},
      [](const Params& p) { return std::make_unique<Kumar>(p); });
}

}  // namespace

GRADLAB_PLUGIN("kumar", "1.0.0", "Kumar initialization for logistic-sigmoid nets", register_kumar)
