#include <gtest/gtest.h>

#include <cmath>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

struct Moments {
  double mean = 0, variance = 0;
  Index n = 0;
};

// Per class: informative elements exactly +-1 (3a) and the class's target;
// returns the moments of the non-informative elements and of the deviations of
// informative ones from +-1.
void check(const Split& s, Index T, Index N, bool noisy_inputs, double t1, double t2, bool noisy_targets,
           Moments& noise, Moments& informative_noise) {
  const Index steps = T + T / 10;
  double sum = 0, sq = 0, isum = 0, isq = 0;
  int class1 = 0;
  for (Index e = 0; e < s.examples; ++e) {
    const Index L = s.length(e, steps);
    EXPECT_GE(L, T);
    EXPECT_LE(L, T + T / 10);
    // The class: from the noise-free target when there is one (the noisy
    // informative elements can change sign), else from the first N inputs.
    const double target = s.targets(0, e);
    double first = 0;
    for (Index t = 0; t < N; ++t) first += s.inputs(0, e * steps + t);
    const bool is1 = noisy_targets ? first > 0 : target == static_cast<Scalar>(t1);
    if (!noisy_targets) EXPECT_TRUE(target == static_cast<Scalar>(t1) || target == static_cast<Scalar>(t2));
    class1 += is1 ? 1 : 0;
    for (Index t = 0; t < N; ++t) {
      const double v = s.inputs(0, e * steps + t), dev = v - (is1 ? 1.0 : -1.0);
      if (!noisy_inputs) EXPECT_EQ(v, is1 ? 1 : -1);
      isum += dev;
      isq += dev * dev;
    }
    for (Index t = N; t < L; ++t) {
      const double v = s.inputs(0, e * steps + t);
      sum += v;
      sq += v * v;
    }
    for (Index t = L; t < steps; ++t) EXPECT_EQ(s.inputs(0, e * steps + t), 0);
    noise.n += L - N;
    informative_noise.n += N;
    // Without input noise the target matches the sign of the informative elements.
    if (!noisy_inputs) EXPECT_EQ(is1, first > 0) << "example " << e;
  }
  noise.mean = sum / double(noise.n);
  noise.variance = sq / double(noise.n) - noise.mean * noise.mean;
  informative_noise.mean = isum / double(informative_noise.n);
  informative_noise.variance = isq / double(informative_noise.n) - informative_noise.mean * informative_noise.mean;
  EXPECT_GT(class1, s.examples / 3);
  EXPECT_LT(class1, 2 * s.examples / 3);
}

}  // namespace

TEST(TwoSequenceDataset, Task3a) {
  auto d = make_data("{name: two_sequence, train: 400, test: 50}");
  EXPECT_EQ(d->input, (Shape{1, 110}));
  Moments noise, inf;
  check(d->train, 100, 3, false, 1.0, 0.0, false, noise, inf);
  EXPECT_NEAR(noise.mean, 0, 0.01);
  EXPECT_NEAR(noise.variance, 0.2, 0.01);  // variance 0.2, not standard deviation
  EXPECT_EQ(inf.variance, 0);
}

TEST(TwoSequenceDataset, Task3bAddsNoiseToTheInformativeElements) {
  auto d = make_data("{name: two_sequence, variant: 3b, informative: 1, length: 50, train: 3000, test: 10}");
  Moments noise, inf;
  check(d->train, 50, 1, true, 1.0, 0.0, false, noise, inf);
  EXPECT_NEAR(noise.variance, 0.2, 0.01);
  EXPECT_NEAR(inf.variance, 0.2, 0.04);
}

TEST(TwoSequenceDataset, Task3cNoisyTrainingTargetsNoiseFreeTestTargets) {
  auto d = make_data("{name: two_sequence, variant: 3c, train: 2000, test: 300}");
  Moments noise, inf;
  check(d->test, 100, 3, true, 0.2, 0.8, false, noise, inf);  // the test split: exact 0.2 / 0.8
  check(d->train, 100, 3, true, 0.2, 0.8, true, noise, inf);
  // Training targets: 0.2 or 0.8 plus noise of variance 0.1.
  double sq = 0;
  for (Index e = 0; e < d->train.examples; ++e) {
    double first = 0;
    for (Index t = 0; t < 3; ++t) first += d->train.inputs(0, e * 110 + t);
    const double dev = d->train.targets(0, e) - (first > 0 ? 0.2 : 0.8);
    sq += dev * dev;
  }
  EXPECT_NEAR(sq / double(d->train.examples), 0.1, 0.015);
}

TEST(TwoSequenceDataset, Deterministic) {
  expect_deterministic("{name: two_sequence, train: 50, test: 50}",
                       "{name: two_sequence, train: 50, test: 50, seed: 9}");
}

TEST(TwoSequenceDataset, SuccessCriteria) {
  auto a = make_data("{name: two_sequence, train: 1, test: 1}");
  Matrix target(1, 1), out(1, 1);
  target << 1.0f;
  out << 0.81f;
  EXPECT_TRUE(solved(*a, out, target));
  out << 0.79f;
  EXPECT_FALSE(solved(*a, out, target));
  auto c = make_data("{name: two_sequence, variant: 3c, train: 1, test: 1}");
  target << 0.8f;
  out << 0.71f;
  EXPECT_TRUE(solved(*c, out, target));
  out << 0.69f;
  EXPECT_FALSE(solved(*c, out, target));
}

TEST(TwoSequenceDataset, RefusesImpossibleParameters) {
  EXPECT_NE(make_error("{name: two_sequence, variant: 3d}").find("'variant'"), std::string::npos);
  EXPECT_NE(make_error("{name: two_sequence, length: 1}").find("'length'"), std::string::npos);
  EXPECT_NE(make_error("{name: two_sequence, informative: 0}").find("'informative'"), std::string::npos);
  EXPECT_NE(make_error("{name: two_sequence, length: 10, informative: 10}").find("'informative'"), std::string::npos);
  EXPECT_NE(make_error("{name: two_sequence, test: 0}").find("'test'"), std::string::npos);
}
