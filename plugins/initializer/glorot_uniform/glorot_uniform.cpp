// glorot_uniform: W ~ U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))
// (Glorot & Bengio 2010, "Understanding the difficulty of training deep
// feedforward neural networks", eq. 16), so Var(W) = gain^2 * 2/(fan_in+fan_out).
// Same as torch.nn.init.xavier_uniform_.
#include <cmath>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class GlorotUniform final : public Initializer {
 public:
  explicit GlorotUniform(const Params& p) : gain_(p.real("gain")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    const double fan_in = double(w.cols()), fan_out = double(w.rows());
    const double a = gain_ * std::sqrt(6.0 / (fan_in + fan_out));
    std::uniform_real_distribution<double> uniform(-a, a);
    fill_iid(w, rng, uniform);
  }

 private:
  double gain_;
};

void register_glorot_uniform(Registrar& r) {
  r.add_initializer({"glorot_uniform",
                     "W ~ U(-a, a), a = gain*sqrt(6/(fan_in+fan_out)) (Glorot & Bengio 2010)",
                     {ParamSpec::real("gain", 1.0)
                          .positive()
                          .describe("multiplies the bound a (and so the standard deviation); 1 as in the paper")}},
                    [](const Params& p) { return std::make_unique<GlorotUniform>(p); });
}

}  // namespace

GRADLAB_PLUGIN("glorot_uniform", "1.0.0", "Glorot (Xavier) uniform initialization", register_glorot_uniform)
