// Conformance suite for every registered optimizer.
//
// Each optimizer takes steps on the quadratic f(x) = 0.5 * sum_i a_i x_i^2
// (gradient g_i = a_i x_i) from a known x0 with non-default hyper-parameters,
// and the iterates are compared with values computed here by hand from the
// published update rule (written out step by step, not taken from the plugin).
// Rprop's four variants are also driven with hand-chosen gradient sequences
// through sign changes, where they differ.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "conformance/conformance.hpp"
#include "gradlab/core/spec.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

using Vec = std::vector<double>;

Params params_for(const std::string& name, const std::string& yaml) {
  const auto& entry = test::bundled_registry().get(ComponentKind::optimizer, name, "test");
  return validate_params("optimizer '" + name + "'", entry.info.schema, YAML::Load(yaml), {},
                         [](const YAML::Node&) { return std::string("<test>"); });
}

std::shared_ptr<Optimizer> make(const std::string& name, const std::string& yaml) {
  return test::bundled_registry().make_optimizer(name, params_for(name, yaml));
}

// The quadratic every optimizer is tested on (conformance.hpp).
const Vec kA = test::quadratic_a();
const Vec kX0 = test::quadratic_x0();
using test::run_quadratic;

// Hand-computed iterates x_1, x_2, ... for one coordinate (a, x0).
using PerCoordinate = std::function<Vec(double a, double x0)>;

struct QuadraticCase {
  std::string params;  // YAML map of hyper-parameters (non-default)
  PerCoordinate expected;
};

double sgn(double v) { return double((v > 0) - (v < 0)); }

// LARS (You, Gitman & Ginsburg 2017, Algorithm 1) on the quadratic with one
// group: lambda = eta ||x|| / (||g|| + beta ||x||); v = m v + lr lambda (g + beta x);
// x -= v. Returns the iterates of the coordinate (a, x0) of kA/kX0.
Vec lars_quadratic(double a, double x0, double lr, double m, double beta, double eta, int steps) {
  std::size_t k = 0;
  while (!(kA[k] == a && kX0[k] == x0)) ++k;
  Vec x = kX0, v(x.size(), 0.0), out;
  for (int t = 0; t < steps; ++t) {
    double xx = 0, gg = 0;
    for (std::size_t i = 0; i < x.size(); ++i) xx += x[i] * x[i], gg += kA[i] * x[i] * kA[i] * x[i];
    const double lambda = eta * std::sqrt(xx) / (std::sqrt(gg) + beta * std::sqrt(xx));
    for (std::size_t i = 0; i < x.size(); ++i) {
      v[i] = m * v[i] + lr * lambda * (kA[i] * x[i] + beta * x[i]);
      x[i] -= v[i];
    }
    out.push_back(x[k]);
  }
  return out;
}

// One entry per bundled optimizer; a new optimizer without an entry fails
// EveryOptimizerHasACase.
const std::map<std::string, std::vector<QuadraticCase>>& quadratic_cases() {
  static const std::map<std::string, std::vector<QuadraticCase>> cases = {
      {"sgd",
       {{"{lr: 0.3}",
         [](double a, double x0) {
           const double lr = 0.3;
           const double x1 = x0 - lr * a * x0;  // theta -= lr * g
           const double x2 = x1 - lr * a * x1;
           return Vec{x1, x2};
         }},
        {"{lr: 0.1, weight_decay: 0.2}",
         [](double a, double x0) {
           const double lr = 0.1, wd = 0.2;
           const double x1 = x0 - lr * (a * x0 + wd * x0);  // theta -= lr * (g + wd * theta)
           const double x2 = x1 - lr * (a * x1 + wd * x1);
           return Vec{x1, x2};
         }}}},
      {"momentum",
       {{"{lr: 0.1, momentum: 0.5}",
         [](double a, double x0) {
           const double lr = 0.1, mu = 0.5;
           // v1 = g0; x1 = x0 - lr v1; v2 = mu v1 + g1; x2 = x1 - lr v2; v3 = mu v2 + g2; ...
           const double g0 = a * x0, v1 = g0, x1 = x0 - lr * v1;
           const double g1 = a * x1, v2 = mu * v1 + g1, x2 = x1 - lr * v2;
           const double g2 = a * x2, v3 = mu * v2 + g2, x3 = x2 - lr * v3;
           return Vec{x1, x2, x3};
         }},
        {"{lr: 0.05, momentum: 0.8, nesterov: true}",
         [](double a, double x0) {
           const double lr = 0.05, mu = 0.8;
           // Sutskever et al. 2013 in torch's form: v = mu v + g; x -= lr (g + mu v).
           const double g0 = a * x0, v1 = g0, x1 = x0 - lr * (g0 + mu * v1);
           const double g1 = a * x1, v2 = mu * v1 + g1, x2 = x1 - lr * (g1 + mu * v2);
           const double g2 = a * x2, v3 = mu * v2 + g2, x3 = x2 - lr * (g2 + mu * v3);
           return Vec{x1, x2, x3};
         }},
        {"{lr: 0.1, momentum: 0.3, weight_decay: 0.5}",
         [](double a, double x0) {
           const double lr = 0.1, mu = 0.3, wd = 0.5;
           const double d0 = a * x0 + wd * x0, v1 = d0, x1 = x0 - lr * v1;
           const double d1 = a * x1 + wd * x1, v2 = mu * v1 + d1, x2 = x1 - lr * v2;
           return Vec{x1, x2};
         }}}},
      {"rmsprop",
       {{"{lr: 0.02, alpha: 0.9, eps: 0.001}",
         [](double a, double x0) {
           const double lr = 0.02, al = 0.9, eps = 1e-3;
           // s = al s + (1 - al) g^2; x -= lr g / (sqrt(s) + eps), s0 = 0.
           const double g0 = a * x0, s1 = (1 - al) * g0 * g0, x1 = x0 - lr * g0 / (std::sqrt(s1) + eps);
           const double g1 = a * x1, s2 = al * s1 + (1 - al) * g1 * g1, x2 = x1 - lr * g1 / (std::sqrt(s2) + eps);
           const double g2 = a * x2, s3 = al * s2 + (1 - al) * g2 * g2, x3 = x2 - lr * g2 / (std::sqrt(s3) + eps);
           return Vec{x1, x2, x3};
         }},
        {"{lr: 0.01, alpha: 0.5, eps: 0.01, weight_decay: 0.25}",
         [](double a, double x0) {
           const double lr = 0.01, al = 0.5, eps = 0.01, wd = 0.25;
           const double d0 = a * x0 + wd * x0, s1 = (1 - al) * d0 * d0, x1 = x0 - lr * d0 / (std::sqrt(s1) + eps);
           const double d1 = a * x1 + wd * x1, s2 = al * s1 + (1 - al) * d1 * d1;
           const double x2 = x1 - lr * d1 / (std::sqrt(s2) + eps);
           return Vec{x1, x2};
         }}}},
      {"adam",
       {{"{lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 0.001}",
         [](double a, double x0) {
           const double lr = 0.05, b1 = 0.8, b2 = 0.95, eps = 1e-3;
           // Kingma & Ba 2015, Algorithm 1, with eps added to sqrt(v_hat) as in torch.
           const double g0 = a * x0, m1 = (1 - b1) * g0, v1 = (1 - b2) * g0 * g0;
           const double x1 = x0 - lr * (m1 / (1 - b1)) / (std::sqrt(v1 / (1 - b2)) + eps);
           const double g1 = a * x1, m2 = b1 * m1 + (1 - b1) * g1, v2 = b2 * v1 + (1 - b2) * g1 * g1;
           const double x2 = x1 - lr * (m2 / (1 - b1 * b1)) / (std::sqrt(v2 / (1 - b2 * b2)) + eps);
           const double g2 = a * x2, m3 = b1 * m2 + (1 - b1) * g2, v3 = b2 * v2 + (1 - b2) * g2 * g2;
           const double x3 = x2 - lr * (m3 / (1 - b1 * b1 * b1)) / (std::sqrt(v3 / (1 - b2 * b2 * b2)) + eps);
           return Vec{x1, x2, x3};
         }},
        {"{lr: 0.01, beta1: 0.5, beta2: 0.9, eps: 0.1, weight_decay: 0.3}",
         [](double a, double x0) {
           const double lr = 0.01, b1 = 0.5, b2 = 0.9, eps = 0.1, wd = 0.3;
           const double d0 = a * x0 + wd * x0, m1 = (1 - b1) * d0, v1 = (1 - b2) * d0 * d0;
           const double x1 = x0 - lr * (m1 / (1 - b1)) / (std::sqrt(v1 / (1 - b2)) + eps);
           const double d1 = a * x1 + wd * x1, m2 = b1 * m1 + (1 - b1) * d1, v2 = b2 * v1 + (1 - b2) * d1 * d1;
           const double x2 = x1 - lr * (m2 / (1 - b1 * b1)) / (std::sqrt(v2 / (1 - b2 * b2)) + eps);
           return Vec{x1, x2};
         }}}},
      {"adamw",
       {{"{lr: 0.05, beta1: 0.8, beta2: 0.95, eps: 0.001, weight_decay: 0.3}",
         [](double a, double x0) {
           const double lr = 0.05, b1 = 0.8, b2 = 0.95, eps = 1e-3, wd = 0.3;
           // Loshchilov & Hutter 2019, Algorithm 2 (torch form): x -= lr (m_hat / (sqrt(v_hat) + eps) + wd x).
           const double g0 = a * x0, m1 = (1 - b1) * g0, v1 = (1 - b2) * g0 * g0;
           const double x1 = x0 - lr * ((m1 / (1 - b1)) / (std::sqrt(v1 / (1 - b2)) + eps) + wd * x0);
           const double g1 = a * x1, m2 = b1 * m1 + (1 - b1) * g1, v2 = b2 * v1 + (1 - b2) * g1 * g1;
           const double x2 = x1 - lr * ((m2 / (1 - b1 * b1)) / (std::sqrt(v2 / (1 - b2 * b2)) + eps) + wd * x1);
           return Vec{x1, x2};
         }}}},
      {"lars",
       // One group (run_quadratic resets with n alone), so lambda uses the
       // norms of the whole vector: lars_quadratic simulates all coordinates.
       {{"{lr: 3, momentum: 0.5, weight_decay: 0.1, eta: 0.05}",
         [](double a, double x0) { return lars_quadratic(a, x0, 3, 0.5, 0.1, 0.05, 3); }}}},
      {"rprop",
       // No coordinate crosses zero in two steps (|x0| > d0 + d0 * eta_plus), so
       // every variant does: first step -sign(g) d0 (g_prev = 0), then -sign(g) d0 eta_plus.
       {{"{variant: rprop-, delta_init: 0.05, eta_plus: 1.5, eta_minus: 0.3}",
         [](double a, double x0) {
           const double x1 = x0 - sgn(a * x0) * 0.05;
           return Vec{x1, x1 - sgn(a * x1) * 0.05 * 1.5};
         }},
        {"{variant: rprop+, delta_init: 0.05, eta_plus: 1.5, eta_minus: 0.3}",
         [](double a, double x0) {
           const double x1 = x0 - sgn(a * x0) * 0.05;
           return Vec{x1, x1 - sgn(a * x1) * 0.05 * 1.5};
         }},
        {"{variant: irprop-, delta_init: 0.05, eta_plus: 1.5, eta_minus: 0.3}",
         [](double a, double x0) {
           const double x1 = x0 - sgn(a * x0) * 0.05;
           return Vec{x1, x1 - sgn(a * x1) * 0.05 * 1.5};
         }},
        {"{variant: irprop+, delta_init: 0.05, eta_plus: 1.5, eta_minus: 0.3, delta_max: 0.06}",
         [](double a, double x0) {
           const double x1 = x0 - sgn(a * x0) * 0.05;
           return Vec{x1, x1 - sgn(a * x1) * 0.06};  // 0.05 * 1.5 clamped to delta_max
         }}}},
  };
  return cases;
}

void expect_near_vec(const Vec& actual, const Vec& expected, const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual[i], expected[i], 1e-6 + 2e-6 * std::abs(expected[i])) << what << ", coordinate " << i;
}

TEST(OptimizerConformance, EveryOptimizerHasACase) {
  const auto entries = test::bundled_registry().entries(ComponentKind::optimizer);
  ASSERT_FALSE(entries.empty());
  for (const auto* e : entries)
    EXPECT_TRUE(quadratic_cases().count(e->info.name))
        << "optimizer '" << e->info.name << "' has no case in optimizer_conformance_test.cpp";
}

TEST(OptimizerConformance, QuadraticStepsMatchHandComputedValues) {
  for (const auto* e : test::bundled_registry().entries(ComponentKind::optimizer)) {
    auto it = quadratic_cases().find(e->info.name);
    if (it == quadratic_cases().end()) continue;  // reported by EveryOptimizerHasACase
    for (const auto& c : it->second) {
      const std::string what = e->info.name + " " + c.params;
      auto opt = make(e->info.name, c.params);
      std::vector<Vec> expected_by_coord;
      for (std::size_t i = 0; i < kX0.size(); ++i) expected_by_coord.push_back(c.expected(kA[i], kX0[i]));
      const int steps = int(expected_by_coord[0].size());
      ASSERT_GE(steps, 1) << what;
      const auto actual = run_quadratic(*opt, steps);
      for (int t = 0; t < steps; ++t) {
        Vec expected;
        for (const auto& coord : expected_by_coord) expected.push_back(coord[t]);
        expect_near_vec(actual[t], expected, what + ", step " + std::to_string(t + 1));
        // Each step must actually move: a no-op optimizer must not pass.
        const Vec& before = t == 0 ? kX0 : actual[t - 1];
        EXPECT_NE(actual[t], before) << what << ", step " << (t + 1);
      }
    }
  }
}

// The state must be fully re-zeroed by reset(): a step after reset equals the
// first step of a fresh optimizer.
TEST(OptimizerConformance, ResetClearsAllState) {
  for (const auto* e : test::bundled_registry().entries(ComponentKind::optimizer)) {
    auto it = quadratic_cases().find(e->info.name);
    if (it == quadratic_cases().end()) continue;
    for (const auto& c : it->second) test::check_optimizer_reset_clears_state(e->info.name, c.params);
  }
}

// With its defaults every optimizer descends the quadratic without a
// non-finite step (conformance.hpp; the check out-of-tree plugins get).
TEST(OptimizerConformance, DefaultsDescendAQuadratic) {
  for (const auto* e : test::bundled_registry().entries(ComponentKind::optimizer))
    test::check_optimizer_descends(e->info.name, "{}");
}

TEST(OptimizerConformance, DefaultsAreTheDocumentedOnes) {
  const std::map<std::string, std::map<std::string, double>> defaults = {
      {"momentum", {{"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 0.0}}},
      {"rmsprop", {{"lr", 0.01}, {"alpha", 0.99}, {"eps", 1e-8}}},
      {"adam", {{"lr", 0.001}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}}},
      {"adamw", {{"lr", 0.001}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8}, {"weight_decay", 0.01}}},
      {"lars", {{"momentum", 0.9}, {"weight_decay", 5e-4}, {"eta", 0.001}}},
      {"rprop",
       {{"eta_plus", 1.2}, {"eta_minus", 0.5}, {"delta_init", 0.0125}, {"delta_min", 1e-6}, {"delta_max", 50}}},
  };
  for (const auto& [name, values] : defaults) {
    const auto p = params_for(name, "{}");
    for (const auto& [key, value] : values) EXPECT_DOUBLE_EQ(p.real(key), value) << name << "." << key;
  }
  EXPECT_FALSE(params_for("momentum", "{}").boolean("nesterov"));
  EXPECT_EQ(params_for("rprop", "{}").string("variant"), "irprop-");
}

// ---------------------------------------------------------------------------
// Rprop through sign changes.
//
// Hyper-parameters: delta_init d0 = 0.1, eta_plus = 2, eta_minus = 0.25,
// delta_min = 0.01, delta_max = 0.3. Gradient sequence for coordinate 0
// (coordinate 1 gets the negated gradients from -w0, so it must mirror it):
//   t:   1    2    3    4   5   6   7   8   9   10  11
//   g:  +3  +0.5  +1   -2  -1  +4  +1  -1  -1   0  -1
// Loss sequence (used by irprop+ only; sign changes at t = 4, 6, 8):
//   E:   5    4    3  3.5   3 2.5   2 2.2   2 1.9 1.8
// so the error rose at t = 4 and t = 8, and fell at t = 6.

const std::string kRpropParams = "delta_init: 0.1, eta_plus: 2, eta_minus: 0.25, delta_min: 0.01, delta_max: 0.3";
const Vec kRpropGrads = {3, 0.5, 1, -2, -1, 4, 1, -1, -1, 0, -1};
const Vec kRpropLoss = {5, 4, 3, 3.5, 3, 2.5, 2, 2.2, 2, 1.9, 1.8};

std::vector<Vec> run_rprop(const std::string& variant) {
  auto opt = make("rprop", "{variant: " + variant + ", " + kRpropParams + "}");
  Vector w(2), g(2);
  w << 1, -1;
  opt->reset(2);
  std::vector<Vec> out;
  for (std::size_t t = 0; t < kRpropGrads.size(); ++t) {
    g << Scalar(kRpropGrads[t]), Scalar(-kRpropGrads[t]);
    StepInfo info;
    info.iteration = std::int64_t(t + 1);
    info.loss = kRpropLoss[t];
    opt->step(VectorMap(w.data(), 2), ConstVectorMap(g.data(), 2), info);
    out.push_back({double(w[0]), double(w[1])});
  }
  return out;
}

void expect_trajectory(const std::string& variant, const Vec& expected) {
  const auto actual = run_rprop(variant);
  ASSERT_EQ(actual.size(), expected.size());
  for (std::size_t t = 0; t < expected.size(); ++t) {
    EXPECT_NEAR(actual[t][0], expected[t], 1e-6) << variant << " after step " << (t + 1);
    EXPECT_NEAR(actual[t][1], -expected[t], 1e-6) << variant << " (mirrored) after step " << (t + 1);
  }
}

TEST(RpropConformance, RpropMinusStepsWithTheShrunkStepOnASignChange) {
  // Riedmiller & Braun without backtracking: on a sign change Delta shrinks
  // and the weight still moves by -sign(g) * Delta.
  expect_trajectory("rprop-", {
                                  0.9,      // t1  g_prev=0: Delta=0.1, w = 1 - 0.1
                                  0.7,      // t2  same sign: Delta=0.2, w -= 0.2
                                  0.4,      // t3  same sign: Delta=min(0.4, 0.3)=0.3, w -= 0.3
                                  0.475,    // t4  sign change: Delta=0.075, g<0 so w += 0.075
                                  0.625,    // t5  same sign: Delta=0.15, w += 0.15
                                  0.5875,   // t6  sign change: Delta=0.0375, w -= 0.0375
                                  0.5125,   // t7  same sign: Delta=0.075, w -= 0.075
                                  0.53125,  // t8  sign change: Delta=0.01875, w += 0.01875
                                  0.56875,  // t9  same sign: Delta=0.0375, w += 0.0375
                                  0.56875,  // t10 g=0: Delta kept, no move, g_prev=0
                                  0.60625,  // t11 g_prev=0: Delta kept (0.0375), w += 0.0375
                              });
}

TEST(RpropConformance, RpropPlusBacktracksOnEverySignChange) {
  // Riedmiller & Braun 1993: on a sign change Delta shrinks, the previous
  // weight step is undone, and g_prev is set to 0 (next step uses Delta as is).
  expect_trajectory("rprop+", {
                                  0.9,      // t1  dw=-0.1
                                  0.7,      // t2  Delta=0.2, dw=-0.2
                                  0.4,      // t3  Delta=0.3 (clamped), dw=-0.3
                                  0.7,      // t4  sign change: Delta=0.075, undo dw=-0.3 -> w += 0.3
                                  0.775,    // t5  g_prev=0: dw=+0.075
                                  0.7,      // t6  sign change: Delta=0.01875, undo dw=+0.075
                                  0.68125,  // t7  g_prev=0: dw=-0.01875
                                  0.7,      // t8  sign change: Delta=max(0.0046875, 0.01)=0.01, undo dw=-0.01875
                                  0.71,     // t9  g_prev=0: dw=+0.01
                                  0.71,     // t10 g=0: no move
                                  0.72,     // t11 g_prev=0: Delta kept 0.01, dw=+0.01
                              });
}

TEST(RpropConformance, IRpropMinusSkipsTheStepAfterASignChange) {
  // Igel & Huesken 2000: on a sign change Delta shrinks and g is set to 0, so
  // the weight does not move and the next step uses the shrunk Delta.
  expect_trajectory("irprop-", {
                                   0.9,      // t1  Delta=0.1
                                   0.7,      // t2  Delta=0.2
                                   0.4,      // t3  Delta=0.3 (clamped)
                                   0.4,      // t4  sign change: Delta=0.075, no move
                                   0.475,    // t5  g_prev=0: Delta kept, w += 0.075
                                   0.475,    // t6  sign change: Delta=0.01875, no move
                                   0.45625,  // t7  g_prev=0: w -= 0.01875
                                   0.45625,  // t8  sign change: Delta=max(0.0046875, 0.01)=0.01, no move
                                   0.46625,  // t9  g_prev=0: w += 0.01
                                   0.46625,  // t10 g=0: no move
                                   0.47625,  // t11 g_prev=0: w += 0.01
                               });
}

TEST(RpropConformance, IRpropPlusBacktracksOnlyWhenTheErrorRose) {
  // Igel & Huesken 2000: like irprop-, and on a sign change the previous step
  // is undone only if E(t) > E(t-1).
  expect_trajectory("irprop+", {
                                   0.9,      // t1  dw=-0.1
                                   0.7,      // t2  Delta=0.2
                                   0.4,      // t3  Delta=0.3 (clamped), dw=-0.3
                                   0.7,      // t4  sign change, E 3 -> 3.5 rose: Delta=0.075, undo -> w += 0.3
                                   0.775,    // t5  g_prev=0: dw=+0.075
                                   0.775,    // t6  sign change, E 3 -> 2.5 fell: Delta=0.01875, no undo, no move
                                   0.75625,  // t7  g_prev=0: dw=-0.01875
                                   0.775,    // t8  sign change, E 2 -> 2.2 rose: Delta=0.01, undo dw=-0.01875
                                   0.785,    // t9  dw=+0.01
                                   0.785,    // t10 g=0
                                   0.795,    // t11 dw=+0.01
                               });
}

TEST(RpropConformance, DefaultVariantIsIRpropMinus) {
  // Same gradients, default variant vs explicit irprop-: identical; vs rprop-: different.
  auto run = [](const std::string& params) {
    auto opt = make("rprop", params);
    Vector w = Vector::Constant(1, 1.0f), g(1);
    opt->reset(1);
    Vec out;
    for (double gv : {1.0, 1.0, -1.0, -1.0}) {
      g[0] = Scalar(gv);
      opt->step(VectorMap(w.data(), 1), ConstVectorMap(g.data(), 1), StepInfo{});
      out.push_back(w[0]);
    }
    return out;
  };
  EXPECT_EQ(run("{}"), run("{variant: irprop-}"));
  EXPECT_NE(run("{}"), run("{variant: rprop-}"));
  // First step moves by delta_init = 0.0125 (Igel & Huesken 2000).
  EXPECT_NEAR(run("{}")[0], 1.0 - 0.0125, 1e-7);
}

}  // namespace
