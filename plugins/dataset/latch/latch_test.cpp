#include <gtest/gtest.h>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(LatchDataset, FirstInputIsTheClassTheRestNoise) {
  auto d = make_data("{name: latch}");
  EXPECT_EQ(d->input, (Shape{1, 600}));
  EXPECT_EQ(d->train.examples, 100);
  EXPECT_EQ(d->test.examples, 100);
  double sum = 0, sq = 0;
  Index n = 0;
  int class1 = 0;
  for (Index e = 0; e < d->train.examples; ++e) {
    const Index L = d->train.length(e, 600);
    EXPECT_GE(L, 500);
    EXPECT_LE(L, 600);
    const Scalar first = d->train.inputs(0, e * 600);
    ASSERT_TRUE(first == 1 || first == -1);
    EXPECT_EQ(d->train.targets(0, e), first);  // the class decides the target
    class1 += first == 1;
    for (Index t = 1; t < L; ++t) {
      const double v = d->train.inputs(0, e * 600 + t);
      sum += v;
      sq += v * v;
      ++n;
    }
    for (Index t = L; t < 600; ++t) EXPECT_EQ(d->train.inputs(0, e * 600 + t), 0);
  }
  EXPECT_EQ(class1, 50);
  EXPECT_NEAR(sum / double(n), 0, 0.01);
  EXPECT_NEAR(sq / double(n), 0.2, 0.01);
}

TEST(LatchDataset, Deterministic) {
  expect_deterministic("{name: latch, min_length: 50, max_length: 60}",
                       "{name: latch, min_length: 50, max_length: 60, seed: 2}");
}

TEST(LatchDataset, SuccessIsAbsoluteErrorBelow01) {
  auto d = make_data("{name: latch, train: 2, test: 2, min_length: 5, max_length: 5}");
  Matrix target(1, 1), out(1, 1);
  target << -1.0f;
  out << -0.91f;
  EXPECT_TRUE(solved(*d, out, target));
  out << -0.89f;
  EXPECT_FALSE(solved(*d, out, target));
  out << -1.11f;
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(LatchDataset, RefusesImpossibleParameters) {
  EXPECT_NE(make_error("{name: latch, min_length: 0}").find("'min_length'"), std::string::npos);
  EXPECT_NE(make_error("{name: latch, min_length: 10, max_length: 9}").find("'max_length'"), std::string::npos);
  EXPECT_NE(make_error("{name: latch, noise_variance: -1}").find("'noise_variance'"), std::string::npos);
  EXPECT_NE(make_error("{name: latch, test: 0}").find("'test'"), std::string::npos);
}
