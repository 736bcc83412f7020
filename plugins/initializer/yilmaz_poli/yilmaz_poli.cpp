// yilmaz_poli: W ~ N(mu, std^2) with the negative mean mu = max(-1, -8/fan_in)
// (Yilmaz & Poli 2022, "Successfully and efficiently training deep multi-layer
// perceptrons with logistic activation function simply requires initializing
// the weights with an appropriate negative mean", Neural Networks 153:87-103).
//
// Sources of the constants:
//  - mu = max(-1, -8/fan_in): the paper's rule (initial back-propagated
//    gradients do not vanish when the mean is negative and inversely
//    proportional to the number of inputs of a unit), clipped at -1.
//  - std = 0.1: the paper's text itself was not available to us; 0.1 is the
//    value attributed to the paper by a public implementation of this rule
//    ("The paper recommends stddev = 0.1"). It is a parameter so it can be
//    changed once checked against the paper.
//  - the mean's numerator (8) and floor (-1) are parameters too, with the
//    paper's values as defaults.
#include <algorithm>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class YilmazPoli final : public Initializer {
 public:
  explicit YilmazPoli(const Params& p)
      : numerator_(p.real("mean_numerator")), floor_(p.real("mean_floor")), std_(p.real("std")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    const double mean = std::max(floor_, -numerator_ / double(w.cols()));
    std::normal_distribution<double> normal(mean, std_);
    fill_iid(w, rng, normal);
  }

 private:
  double numerator_, floor_, std_;
};

void register_yilmaz_poli(Registrar& r) {
  r.add_initializer(
      {"yilmaz_poli",
       "W ~ N(max(-1, -8/fan_in), std^2), std 0.1 by default (not checked against the paper), for logistic "
       "nets (Yilmaz & Poli 2022, Neural Networks 153)",
       {ParamSpec::real("std", 0.1)
            .positive()
            .describe("standard deviation around the negative mean; 0.1 as attributed to the paper by a public "
                      "implementation (the paper's text was not checked)"),
        ParamSpec::real("mean_numerator", 8.0)
            .positive()
            .describe("k in mean = max(floor, -k/fan_in); 8 from Yilmaz & Poli 2022"),
        ParamSpec::real("mean_floor", -1.0)
            .at_most(0)
            .describe("lowest mean allowed, max(floor, -k/fan_in); -1 from Yilmaz & Poli 2022")}},
      [](const Params& p) { return std::make_unique<YilmazPoli>(p); });
}

}  // namespace

GRADLAB_PLUGIN("yilmaz_poli", "1.0.0", "Negative-mean initialization for logistic-sigmoid nets", register_yilmaz_poli)
