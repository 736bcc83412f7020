#include <gtest/gtest.h>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

Index hot(const Matrix& m, Index col) {
  Index h = -1, count = 0;
  for (Index k = 0; k < m.rows(); ++k) {
    EXPECT_TRUE(m(k, col) == 0 || m(k, col) == 1);
    if (m(k, col) == 1) h = k, ++count;
  }
  EXPECT_EQ(count, 1);
  return h;
}

}  // namespace

TEST(NoiseFreeLagDataset, TheTwoSequencesOfThePaper) {
  const Index P = 10, x = P - 1, y = P;
  auto d = make_data("{name: noise_free_lag, p: 10, train: 200, test: 20}");
  EXPECT_EQ(d->input, (Shape{P + 1, P}));
  EXPECT_EQ(d->outputs, P + 1);
  EXPECT_EQ(d->target_at, TargetAt::every_step);
  EXPECT_TRUE(d->train.lengths.empty());
  int ys = 0;
  for (Index e = 0; e < d->train.examples; ++e) {
    // Rebuild s_0..s_p from the inputs and the last target, and check it is
    // (y, a1, ..., a_{p-1}, y) or (x, a1, ..., a_{p-1}, x).
    std::vector<Index> s;
    for (Index t = 0; t < P; ++t) s.push_back(hot(d->train.inputs, e * P + t));
    s.push_back(hot(d->train.targets, e * P + P - 1));
    ASSERT_TRUE(s[0] == x || s[0] == y);
    ys += s[0] == y;
    EXPECT_EQ(s[P], s[0]);
    for (Index t = 1; t < P; ++t) EXPECT_EQ(s[t], t - 1) << "a_" << t;
    // Next-symbol targets: the target at step t is the input at t + 1.
    for (Index t = 0; t + 1 < P; ++t) EXPECT_EQ(hot(d->train.targets, e * P + t), s[t + 1]);
  }
  EXPECT_GT(ys, 60);
  EXPECT_LT(ys, 140);
}

TEST(NoiseFreeLagDataset, SmallestLag) {
  auto d = make_data("{name: noise_free_lag, p: 1, train: 10, test: 10}");
  EXPECT_EQ(d->input, (Shape{2, 1}));
  for (Index e = 0; e < 10; ++e) EXPECT_EQ(d->train.inputs.col(e), d->train.targets.col(e));  // (x, x) / (y, y)
}

TEST(NoiseFreeLagDataset, Deterministic) {
  expect_deterministic("{name: noise_free_lag, p: 5, train: 64, test: 64}",
                       "{name: noise_free_lag, p: 5, train: 64, test: 64, seed: 4}");
}

TEST(NoiseFreeLagDataset, SuccessLooksAtTheFinalPredictionOnly) {
  auto d = make_data("{name: noise_free_lag, p: 3, train: 1, test: 1}");
  Matrix target = Matrix::Zero(4, 3);
  target(0, 0) = target(1, 1) = target(3, 2) = 1;
  Matrix out = target;
  EXPECT_TRUE(solved(*d, out, target));
  out(0, 0) = 0.5f;  // an earlier step wrong: the criterion is about the last one
  EXPECT_TRUE(solved(*d, out, target));
  out(3, 2) = 0.76f;
  out(2, 2) = 0.24f;
  EXPECT_TRUE(solved(*d, out, target));
  out(3, 2) = 0.74f;
  EXPECT_FALSE(solved(*d, out, target));
  out(3, 2) = 1;
  out(2, 2) = 0.26f;
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(NoiseFreeLagDataset, RefusesImpossibleParameters) {
  for (std::string bad : {"0", "-3"})
    EXPECT_NE(make_error("{name: noise_free_lag, p: " + bad + "}").find("'p'"), std::string::npos);
  EXPECT_NE(make_error("{name: noise_free_lag, test: 0}").find("'test'"), std::string::npos);
}
