// Conformance suite for every registered initializer: determinism (same seed,
// same weights), seed sensitivity, every entry written, and the statistics of
// a large matrix against the published formula (mean and standard deviation
// within a few standard errors, bounds for uniform draws, W W^T = gain^2 I for
// orthogonal).
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "conformance/conformance.hpp"
#include "gradlab/core/spec.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

Params params_for(const std::string& name, const std::string& yaml) {
  const auto& entry = test::bundled_registry().get(ComponentKind::initializer, name, "test");
  return validate_params("initializer '" + name + "'", entry.info.schema, YAML::Load(yaml), {},
                         [](const YAML::Node&) { return std::string("<test>"); });
}

std::shared_ptr<Initializer> make(const std::string& name, const std::string& yaml) {
  return test::bundled_registry().make_initializer(name, params_for(name, yaml));
}

using test::filled;

// What a large [rows, cols] = [fan_out, fan_in] matrix must look like.
struct Expectation {
  Index rows = 400, cols = 300;
  // i.i.d. entries: mean and standard deviation from the paper's formula.
  std::optional<double> mean, std;
  // uniform draws: every entry within [low, high].
  std::optional<std::pair<double, double>> bounds;
  // orthogonal: W W^T (wide) or W^T W (tall) = gain^2 I.
  std::optional<double> orthogonal_gain;
};

struct InitCase {
  std::string params;
  Expectation expect;
  InitSite site = {};  // where the matrix sits (depth-aware schemes: fixup)
};

Expectation iid(double mean, double std, Index rows = 400, Index cols = 300) {
  Expectation e;
  e.rows = rows;
  e.cols = cols;
  e.mean = mean;
  e.std = std;
  return e;
}

Expectation uniform_on(double low, double high, Index rows = 400, Index cols = 300) {
  // U(low, high): mean (low+high)/2, std (high-low)/sqrt(12).
  Expectation e = iid((low + high) / 2, (high - low) / std::sqrt(12.0), rows, cols);
  e.bounds = {low, high};
  return e;
}

Expectation orthogonal(double gain, Index rows, Index cols) {
  Expectation e;
  e.rows = rows;
  e.cols = cols;
  e.orthogonal_gain = gain;
  return e;
}

// Formulas written from the papers; fan_in = cols, fan_out = rows.
const std::map<std::string, std::vector<InitCase>>& init_cases() {
  static const std::map<std::string, std::vector<InitCase>> cases = {
      {"normal", {{"{}", iid(0.0, 0.01)}, {"{mean: 0.5, std: 2}", iid(0.5, 2.0)}}},
      {"uniform", {{"{}", uniform_on(-0.05, 0.05)}, {"{low: -0.2, high: 0.6}", uniform_on(-0.2, 0.6)}}},
      {"lecun_normal", {{"{}", iid(0, 1 / std::sqrt(300.0))}, {"{gain: 2}", iid(0, 2 / std::sqrt(300.0))}}},
      {"glorot_uniform",
       {{"{}", uniform_on(-std::sqrt(6.0 / 700), std::sqrt(6.0 / 700))},
        {"{gain: 2}", uniform_on(-2 * std::sqrt(6.0 / 40), 2 * std::sqrt(6.0 / 40), 30, 10)}}},
      {"glorot_normal",
       {{"{}", iid(0, std::sqrt(2.0 / 700))}, {"{gain: 0.5}", iid(0, 0.5 * std::sqrt(2.0 / 40), 30, 10)}}},
      {"he_normal",
       {{"{}", iid(0, std::sqrt(2.0 / 300))},
        {"{mode: fan_out, gain: 1.5}", iid(0, 1.5 * std::sqrt(2.0 / 400))},
        {"{mode: fan_in}", iid(0, std::sqrt(2.0 / 50), 1000, 50)}}},
      {"kumar", {{"{}", iid(0, 3.6 / std::sqrt(300.0))}, {"{constant: 1}", iid(0, 1 / std::sqrt(300.0))}}},
      {"yilmaz_poli",
       {{"{}", iid(-8.0 / 300, 0.1)},                     // mean max(-1, -8/300) = -0.0267
        {"{}", iid(-1.0, 0.1, 2000, 4)},                  // -8/4 = -2 < -1: clamped to -1
        {"{std: 0.05}", iid(-0.5, 0.05, 1000, 16)},       // -8/16
        {"{mean_numerator: 4}", iid(-4.0 / 300, 0.1)}}},  // the numerator is honoured
      {"orthogonal",
       {{"{}", orthogonal(1.0, 400, 300)},
        {"{}", orthogonal(1.0, 300, 400)},
        {"{gain: 2}", orthogonal(2.0, 300, 400)},
        {"{gain: 0.5}", orthogonal(0.5, 64, 64)},
        {"{gain: 1.5}", orthogonal(1.5, 1, 50)}}},
      // Zhang, Dauphin & Ma 2019: He normal outside residual branches, times
      // L^(-1/(2m-2)) inside one (L blocks, m weight layers per branch). The
      // zeroed layers (output, a branch's last) are checked in fixup_test.cpp.
      {"fixup",
       {{"{}", iid(0, std::sqrt(2.0 / 300)), InitSite{.layers = 3, .weight_layers = 2}},
        {"{}", iid(0, std::sqrt(2.0 / 300) * 0.5),  // 16^(-1/4)
         InitSite{.layers = 20, .weight_layers = 40, .blocks = 16, .block = 3, .branch_layer = 1, .branch_layers = 3}},
        {"{}", iid(0, std::sqrt(2.0 / 50) / 3, 1000, 50),  // 9^(-1/2)
         InitSite{.layers = 12, .weight_layers = 20, .blocks = 9, .block = 0, .branch_layer = 0, .branch_layers = 2}}}},
  };
  return cases;
}

std::vector<std::string> registered() {
  std::vector<std::string> names;
  for (const auto* e : test::bundled_registry().entries(ComponentKind::initializer)) names.push_back(e->info.name);
  return names;
}

TEST(InitializerConformance, EveryInitializerHasACase) {
  const auto names = registered();
  ASSERT_FALSE(names.empty());
  for (const auto& name : names)
    EXPECT_TRUE(init_cases().count(name))
        << "initializer '" << name << "' has no case in initializer_conformance_test.cpp";
}

// The generic checks (conformance.hpp, also run on out-of-tree plugins).
TEST(InitializerConformance, SameSeedSameWeightsDifferentSeedDifferentWeights) {
  for (const auto& name : registered()) {
    auto it = init_cases().find(name);
    if (it == init_cases().end()) continue;
    for (const auto& c : it->second) test::check_initializer_determinism(name, c.params, c.site);
  }
}

TEST(InitializerConformance, EveryEntryIsWritten) {
  for (const auto& name : registered()) {
    auto it = init_cases().find(name);
    if (it == init_cases().end()) continue;
    test::check_initializer_writes_every_entry(name, it->second.front().params, it->second.front().site);
  }
}

TEST(InitializerConformance, LargeMatrixStatisticsMatchTheFormula) {
  for (const auto& name : registered()) {
    auto it = init_cases().find(name);
    if (it == init_cases().end()) continue;
    for (const auto& c : it->second) {
      const auto& e = c.expect;
      const std::string what =
          name + " " + c.params + " [" + std::to_string(e.rows) + "x" + std::to_string(e.cols) + "]";
      auto init = make(name, c.params);
      const RowMatrix w = filled(*init, e.rows, e.cols, 2024, c.site);
      ASSERT_TRUE(w.allFinite()) << what;
      const Eigen::MatrixXd wd = w.cast<double>();
      if (e.mean && e.std) {
        const double n = double(wd.size());
        const double mean = wd.mean();
        const double sd = std::sqrt((wd.array() - mean).square().sum() / (n - 1));
        // Standard errors of the sample mean and (for a normal) the sample std.
        const double se_mean = *e.std / std::sqrt(n);
        const double se_std = *e.std / std::sqrt(2 * n);
        EXPECT_NEAR(mean, *e.mean, 5 * se_mean) << what << ": mean";
        EXPECT_NEAR(sd, *e.std, 5 * se_std) << what << ": standard deviation";
      }
      if (e.bounds) {
        // Float rounding of a double draw may land on a bound, never beyond.
        EXPECT_GE(wd.minCoeff(), double(Scalar(e.bounds->first))) << what;
        EXPECT_LE(wd.maxCoeff(), double(Scalar(e.bounds->second))) << what;
        // and the whole interval is used: the extremes come close to the bounds
        // (the chance that no draw of n lands in an end slice of 20/n is e^-20).
        const double slice = std::min(0.05, 20.0 / double(wd.size())) * (e.bounds->second - e.bounds->first);
        EXPECT_LT(wd.minCoeff(), e.bounds->first + slice) << what;
        EXPECT_GT(wd.maxCoeff(), e.bounds->second - slice) << what;
      }
      if (e.orthogonal_gain) {
        const double g2 = *e.orthogonal_gain * *e.orthogonal_gain;
        const bool wide = e.rows < e.cols;
        const Eigen::MatrixXd gram = wide ? Eigen::MatrixXd(wd * wd.transpose()) : Eigen::MatrixXd(wd.transpose() * wd);
        const Eigen::MatrixXd target = g2 * Eigen::MatrixXd::Identity(gram.rows(), gram.cols());
        EXPECT_LT((gram - target).cwiseAbs().maxCoeff(), 1e-4 * g2) << what << ": not gain^2 * identity";
      }
    }
  }
}

// torch.nn.init.orthogonal_ multiplies Q's columns by sign(diag(R)) so that Q is
// uniformly (Haar) distributed; without it a Householder QR gives a first column
// whose leading entry is always of one sign. Under the Haar measure each entry
// of a 4x4 orthogonal matrix has mean 0 and variance 1/4.
TEST(InitializerConformance, OrthogonalIsUniformlyDistributed) {
  auto init = make("orthogonal", "{}");
  Rng rng(5);
  RowMatrix w(4, 4);
  const int draws = 4000;
  Eigen::Matrix4d sum = Eigen::Matrix4d::Zero();
  for (int k = 0; k < draws; ++k) {
    init->fill(RowMatrixMap(w.data(), 4, 4), rng, InitSite{});
    sum += w.cast<double>();
  }
  const Eigen::Matrix4d mean = sum / draws;
  const double se = 0.5 / std::sqrt(double(draws));
  EXPECT_LT(mean.cwiseAbs().maxCoeff(), 5 * se) << "entry means:\n" << mean;
}

TEST(InitializerConformance, UniformRejectsLowAboveHigh) {
  try {
    make("uniform", "{low: 0.5, high: -0.5}");
    FAIL() << "uniform accepted low > high";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("low"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("high"), std::string::npos) << e.what();
  }
  // low == high is a constant, and allowed.
  EXPECT_NO_THROW(make("uniform", "{low: 0.25, high: 0.25}"));
}

}  // namespace
