// adamw: steps against Loshchilov & Hutter's Algorithm 2 written out by hand
// (torch.optim.AdamW's form), the schedule's lr_scale, and the difference from
// adam's L2 weight_decay.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <vector>

#include "gradlab/core/spec.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

std::shared_ptr<Optimizer> make(const std::string& name, const std::string& yaml) {
  const auto& registry = test::bundled_registry();
  const auto& entry = registry.get(ComponentKind::optimizer, name, "test");
  return registry.make_optimizer(
      name, validate_params(name, entry.info.schema, YAML::Load(yaml), {}, [](const YAML::Node&) { return "<test>"; }));
}

using Vec = std::vector<double>;

// Runs the optimizer over the given gradients (one vector per step) from w0,
// with two parameter groups ([0, 2) and [2, n)) and the given lr_scale per
// step; returns w after each step.
std::vector<Vec> run(Optimizer& opt, const Vec& w0, const std::vector<Vec>& grads, const Vec& lr_scales) {
  const Index n = Index(w0.size());
  Vector w(n), g(n);
  for (Index i = 0; i < n; ++i) w[i] = Scalar(w0[i]);
  const ParamGroup groups[] = {{"0.dense", 0, 2}, {"2.dense", 2, n - 2}};
  opt.reset(n, groups);
  std::vector<Vec> out;
  for (std::size_t t = 0; t < grads.size(); ++t) {
    for (Index i = 0; i < n; ++i) g[i] = Scalar(grads[t][i]);
    StepInfo info;
    info.iteration = std::int64_t(t + 1);
    info.lr_scale = lr_scales[t];
    opt.step(VectorMap(w.data(), n), ConstVectorMap(g.data(), n), info);
    out.emplace_back(w.data(), w.data() + n);
  }
  return out;
}

const Vec kW0 = {0.5, -1.0, 2.0, -0.25};
const std::vector<Vec> kGrads = {{0.2, -0.4, 1.5, 0.0}, {-0.1, 0.3, 1.0, 0.05}, {0.4, 0.2, -0.5, -0.3}};

TEST(AdamW, StepsMatchAlgorithm2ByHand) {
  const double lr = 0.05, b1 = 0.8, b2 = 0.95, eps = 1e-3, wd = 0.4;
  const Vec scales = {1.0, 0.5, 2.0};
  auto opt = make("adamw", "{lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 0.001, weight_decay: 0.4}");
  const auto actual = run(*opt, kW0, kGrads, scales);
  for (std::size_t i = 0; i < kW0.size(); ++i) {
    double theta = kW0[i], m = 0, v = 0;
    for (int t = 1; t <= 3; ++t) {
      const double g = kGrads[t - 1][i];
      const double lr_t = lr * scales[t - 1];  // alpha * eta_t
      m = b1 * m + (1 - b1) * g;
      v = b2 * v + (1 - b2) * g * g;
      const double m_hat = m / (1 - std::pow(b1, t)), v_hat = v / (1 - std::pow(b2, t));
      theta = theta - lr_t * (m_hat / (std::sqrt(v_hat) + eps) + wd * theta);
      EXPECT_NEAR(actual[t - 1][i], theta, 1e-6 * std::abs(theta) + 1e-7) << "coordinate " << i << ", step " << t;
    }
  }
}

TEST(AdamW, LrScaleMultipliesTheStepAndTheDecay) {
  // lr 0.1 at scale 0.25 is lr 0.025 at scale 1, decay included.
  auto a = make("adamw", "{lr: 0.1, weight_decay: 0.5}");
  auto b = make("adamw", "{lr: 0.025, weight_decay: 0.5}");
  const auto scaled = run(*a, kW0, kGrads, {0.25, 0.25, 0.25});
  const auto plain = run(*b, kW0, kGrads, {1, 1, 1});
  auto c = make("adamw", "{lr: 0.1, weight_decay: 0.5}");
  const auto full = run(*c, kW0, kGrads, {1, 1, 1});
  for (int t = 0; t < 3; ++t)
    for (std::size_t i = 0; i < kW0.size(); ++i) {
      EXPECT_NEAR(scaled[t][i], plain[t][i], 1e-6) << "step " << t + 1 << ", coordinate " << i;
      EXPECT_GT(std::abs(full[t][i] - scaled[t][i]), 1e-3) << "lr_scale was ignored";
    }
  // A zero factor (a warmup's first step) leaves the weights where they are.
  auto z = make("adamw", "{lr: 0.1, weight_decay: 0.5}");
  const auto frozen = run(*z, kW0, kGrads, {0, 0, 0});
  for (std::size_t i = 0; i < kW0.size(); ++i) EXPECT_EQ(frozen[2][i], float(kW0[i]));
}

TEST(AdamW, DecayIsDecoupledFromTheGradientNormalization) {
  // With a zero gradient AdamW shrinks every weight by exactly 1 - lr * wd per
  // step, whatever its size; Adam's L2 term goes through 1/sqrt(v_hat), so its
  // first step moves every weight by about lr whatever its size.
  const Vec w0 = {0.01, -0.1, 1.0, 10.0};
  const std::vector<Vec> zero(2, Vec(4, 0.0));
  auto adamw = make("adamw", "{lr: 0.01, weight_decay: 0.1}");
  const auto decoupled = run(*adamw, w0, zero, {1, 1});
  for (std::size_t i = 0; i < w0.size(); ++i)
    EXPECT_NEAR(decoupled[1][i], w0[i] * (1 - 0.001) * (1 - 0.001), 1e-6 * std::abs(w0[i]));
  auto adam = make("adam", "{lr: 0.01, weight_decay: 0.1}");
  const auto l2 = run(*adam, w0, zero, {1, 1});
  for (std::size_t i = 0; i < w0.size(); ++i)
    EXPECT_NEAR(std::abs(w0[i] - l2[0][i]), 0.01, 1e-4) << "adam's L2 step of coordinate " << i;
}

TEST(AdamW, DefaultsAreTorchs) {
  const auto& entry = test::bundled_registry().get(ComponentKind::optimizer, "adamw", "test");
  const auto p =
      validate_params("adamw", entry.info.schema, YAML::Load("{}"), {}, [](const YAML::Node&) { return ""; });
  EXPECT_DOUBLE_EQ(p.real("lr"), 1e-3);
  EXPECT_DOUBLE_EQ(p.real("beta1"), 0.9);
  EXPECT_DOUBLE_EQ(p.real("beta2"), 0.999);
  EXPECT_DOUBLE_EQ(p.real("eps"), 1e-8);
  EXPECT_DOUBLE_EQ(p.real("weight_decay"), 1e-2);
}

// Bad hyper-parameters are bad input: one line naming the place, exit code 2.
TEST(AdamW, BadParametersAreOneLineWithThePlace) {
  test::TempDir dir;
  test::write_text(dir / "spec.yaml",
                   "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n"
                   "optimizer: {name: adamw, beta1: 1}\ntraining: {epochs: 1}\n");
  auto r = test::run_cli({"train", (dir / "spec.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(test::lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("spec.yaml:3:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("beta1"), std::string::npos) << r.err;
  r = test::run_cli(
      {"train", (dir / "spec.yaml").string(), "--set", "optimizer.beta1=0.9", "--set", "optimizer.weight_decay=-0.1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(test::lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--set optimizer.weight_decay=-0.1"), std::string::npos) << r.err;
}

}  // namespace
