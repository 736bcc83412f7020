// lars: steps against You, Gitman & Ginsburg's Algorithm 1 written out by hand
// per group, the schedule's lr_scale, the zero-norm guard, and the point of the
// method: each layer gets its own rate, so every layer moves by the same
// fraction of its weight norm whatever the scale of its gradient.
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

// Group A = [0, 3), group B = [3, 5).
const std::vector<ParamGroup> kTwoGroups = {{"0.dense", 0, 3}, {"2.dense", 3, 2}};

std::vector<Vec> run(Optimizer& opt, const Vec& w0, const std::vector<Vec>& grads, const Vec& lr_scales,
                     const std::vector<ParamGroup>& groups) {
  const Index n = Index(w0.size());
  Vector w(n), g(n);
  for (Index i = 0; i < n; ++i) w[i] = Scalar(w0[i]);
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

double norm(const Vec& x, std::size_t from, std::size_t count) {
  double s = 0;
  for (std::size_t i = from; i < from + count; ++i) s += x[i] * x[i];
  return std::sqrt(s);
}

const Vec kW0 = {0.5, -1.0, 2.0, 30.0, -40.0};
const std::vector<Vec> kGrads = {
    {0.2, -0.4, 1.5, 0.003, 0.004}, {-0.1, 0.3, 1.0, -0.002, 0.001}, {0.4, 0.2, -0.5, 0.005, -0.002}};

TEST(Lars, StepsMatchAlgorithm1ByHandPerGroup) {
  const double gamma0 = 2.0, m = 0.9, beta = 0.01, eta = 0.02, eps = 1e-9;
  const Vec scales = {1.0, 0.5, 0.25};
  auto opt = make("lars", "{lr: 2, momentum: 0.9, weight_decay: 0.01, eta: 0.02}");
  const auto actual = run(*opt, kW0, kGrads, scales, kTwoGroups);
  Vec w = kW0, v(kW0.size(), 0.0);
  for (int t = 1; t <= 3; ++t) {
    const Vec& g = kGrads[t - 1];
    const double gamma_t = gamma0 * scales[t - 1];
    for (const auto& group : kTwoGroups) {
      const auto from = std::size_t(group.offset), count = std::size_t(group.size);
      const double wn = norm(w, from, count), gn = norm(g, from, count);
      const double lambda = eta * wn / (gn + beta * wn + eps);  // local LR of the layer
      for (std::size_t i = from; i < from + count; ++i) {
        v[i] = m * v[i] + gamma_t * lambda * (g[i] + beta * w[i]);
        w[i] = w[i] - v[i];
      }
    }
    for (std::size_t i = 0; i < w.size(); ++i)
      EXPECT_NEAR(actual[t - 1][i], w[i], 1e-6 * std::abs(w[i]) + 1e-7) << "coordinate " << i << ", step " << t;
  }
  // The groups matter: one group over everything is another trajectory.
  auto whole = make("lars", "{lr: 2, momentum: 0.9, weight_decay: 0.01, eta: 0.02}");
  const auto one_group = run(*whole, kW0, kGrads, scales, {{"all", 0, 5}});
  EXPECT_GT(std::abs(one_group[0][0] - actual[0][0]), 1e-3);
}

TEST(Lars, LrScaleMultipliesTheGlobalRate) {
  auto a = make("lars", "{lr: 4, weight_decay: 0.001, eta: 0.01}");
  auto b = make("lars", "{lr: 1, weight_decay: 0.001, eta: 0.01}");
  auto c = make("lars", "{lr: 4, weight_decay: 0.001, eta: 0.01}");
  const auto scaled = run(*a, kW0, kGrads, {0.25, 0.25, 0.25}, kTwoGroups);
  const auto plain = run(*b, kW0, kGrads, {1, 1, 1}, kTwoGroups);
  const auto full = run(*c, kW0, kGrads, {1, 1, 1}, kTwoGroups);
  for (int t = 0; t < 3; ++t)
    for (std::size_t i = 0; i < kW0.size(); ++i) {
      EXPECT_NEAR(scaled[t][i], plain[t][i], 1e-6 * std::abs(plain[t][i])) << "step " << t + 1 << ", coord " << i;
      EXPECT_NE(full[t][i], scaled[t][i]) << "lr_scale was ignored";
    }
}

TEST(Lars, EveryLayerMovesByTheSameFractionOfItsNormUnlikeSgd) {
  // Group B's weights are 50x group A's and its gradient 1e-3 of A's (a layer
  // deep in a network with a vanishing gradient). Without momentum or decay the
  // first step is gamma * lambda_l * g_l.
  const std::vector<Vec> grads = {{0.2, -0.4, 1.5, 0.0003, 0.0004}};
  auto lars = make("lars", "{lr: 1, momentum: 0, weight_decay: 0, eta: 0.001}");
  const auto after = run(*lars, kW0, grads, {1}, kTwoGroups);
  auto relative_step = [&](const Vec& w1, std::size_t from, std::size_t count) {
    Vec d(w1.size());
    for (std::size_t i = 0; i < d.size(); ++i) d[i] = w1[i] - kW0[i];
    return norm(d, from, count) / norm(kW0, from, count);
  };
  auto local_lr = [&](std::size_t i) { return (kW0[i] - after[0][i]) / grads[0][i]; };
  // lambda_l = eta * ||w_l|| / ||g_l||: four orders of magnitude apart.
  EXPECT_NEAR(local_lr(0), 0.001 * norm(kW0, 0, 3) / norm(grads[0], 0, 3), 1e-6);
  EXPECT_NEAR(local_lr(3), 0.001 * norm(kW0, 3, 2) / norm(grads[0], 3, 2), 0.05);  // float rounding of 30 - 0.03
  EXPECT_GT(local_lr(3) / local_lr(0), 1e4);
  // ... so both layers move by eta = 0.1% of their norm.
  EXPECT_NEAR(relative_step(after[0], 0, 3), 0.001, 1e-6);
  EXPECT_NEAR(relative_step(after[0], 3, 2), 0.001, 1e-6);
  // Plain SGD moves group A by 7% of its norm and group B by almost nothing.
  auto sgd = make("sgd", "{lr: 0.1}");
  const auto sgd_after = run(*sgd, kW0, grads, {1}, kTwoGroups);
  EXPECT_GT(relative_step(sgd_after[0], 0, 3) / relative_step(sgd_after[0], 3, 2), 1e4);
}

TEST(Lars, AZeroNormGroupTakesThePlainStep) {
  // Group A starts at zero (a zero-initialized layer): lambda = 1, so it moves
  // by gamma * g; group B has a zero gradient and stays where it is.
  const Vec w0 = {0, 0, 0, 3, -4};
  const std::vector<Vec> grads = {{0.2, -0.4, 1.5, 0, 0}};
  auto opt = make("lars", "{lr: 0.5, momentum: 0.9, weight_decay: 0, eta: 0.001}");
  const auto after = run(*opt, w0, grads, {1}, kTwoGroups);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_NEAR(after[0][i], -0.5 * grads[0][i], 1e-7);
  EXPECT_EQ(after[0][3], 3.0f);
  EXPECT_EQ(after[0][4], -4.0f);
  for (double x : after[0]) EXPECT_TRUE(std::isfinite(x));
}

TEST(Lars, DefaultsAreThePapers) {
  const auto& entry = test::bundled_registry().get(ComponentKind::optimizer, "lars", "test");
  const auto p = validate_params("lars", entry.info.schema, YAML::Load("{}"), {}, [](const YAML::Node&) { return ""; });
  EXPECT_DOUBLE_EQ(p.real("momentum"), 0.9);
  EXPECT_DOUBLE_EQ(p.real("weight_decay"), 5e-4);
  EXPECT_DOUBLE_EQ(p.real("eta"), 0.001);
}

// Bad hyper-parameters are bad input: one line naming the place, exit code 2.
TEST(Lars, BadParametersAreOneLineWithThePlace) {
  test::TempDir dir;
  test::write_text(dir / "spec.yaml",
                   "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n"
                   "optimizer:\n  name: lars\n  eta: 0\ntraining: {epochs: 1}\n");
  auto r = test::run_cli({"train", (dir / "spec.yaml").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(test::lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("spec.yaml:5:8"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'eta'"), std::string::npos) << r.err;
  r = test::run_cli(
      {"train", (dir / "spec.yaml").string(), "--set", "optimizer.eta=0.001", "--set", "optimizer.momentum=1.5"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_EQ(test::lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--set optimizer.momentum=1.5"), std::string::npos) << r.err;
}

}  // namespace
