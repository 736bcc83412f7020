#include <gtest/gtest.h>

#include <cmath>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

void check_parity(const Split& s, Index steps, Index lo, Index hi, bool noise) {
  int odd = 0;
  for (Index e = 0; e < s.examples; ++e) {
    const Index L = s.length(e, steps);
    EXPECT_GE(L, lo);
    EXPECT_LE(L, hi);
    int ones = 0;
    for (Index t = 0; t < L; ++t) {
      const double v = s.inputs(0, e * steps + t);
      if (noise) {
        EXPECT_LE(std::abs(std::abs(v) - 1.0), 0.2 + 1e-6);
      } else {
        EXPECT_TRUE(v == 1 || v == -1);
      }
      ones += v > 0;
    }
    EXPECT_EQ(s.targets(0, e), ones % 2 == 1 ? 1 : 0) << "example " << e;
    odd += ones % 2;
  }
  EXPECT_EQ(odd, s.examples / 2);
}

}  // namespace

TEST(ParityDataset, TargetsAreTheParity) {
  auto d = make_data("{name: parity}");
  EXPECT_EQ(d->input, (Shape{1, 600}));
  check_parity(d->train, 600, 500, 600, false);
  check_parity(d->test, 600, 500, 600, false);
  // The bits are not all alike: about half are 1.
  EXPECT_NEAR(d->train.inputs.sum() / double(d->train.lengths.empty() ? 1 : 55000), 0, 0.05);
}

TEST(ParityDataset, NoisyInputs) {
  auto d = make_data("{name: parity, noise: true, min_length: 25, max_length: 50, train: 200}");
  check_parity(d->train, 50, 25, 50, true);
  bool some_noise = false;
  for (Index c = 0; c < d->train.inputs.cols(); ++c)
    some_noise = some_noise || (d->train.inputs(0, c) != 0 && std::abs(d->train.inputs(0, c)) != 1);
  EXPECT_TRUE(some_noise);
}

TEST(ParityDataset, Deterministic) {
  expect_deterministic("{name: parity, min_length: 20, max_length: 30}",
                       "{name: parity, min_length: 20, max_length: 30, seed: 2}");
}

TEST(ParityDataset, SuccessIsAbsoluteErrorBelow01) {
  auto d = make_data("{name: parity, train: 2, test: 2, min_length: 3, max_length: 3}");
  Matrix target(1, 1), out(1, 1);
  target << 0.0f;
  out << 0.09f;
  EXPECT_TRUE(solved(*d, out, target));
  out << 0.11f;
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(ParityDataset, RefusesImpossibleParameters) {
  EXPECT_NE(make_error("{name: parity, max_length: 0}").find("'max_length'"), std::string::npos);
  EXPECT_NE(make_error("{name: parity, min_length: 601}").find("'max_length'"), std::string::npos);
  EXPECT_NE(make_error("{name: parity, train: 0}").find("'train'"), std::string::npos);
}
