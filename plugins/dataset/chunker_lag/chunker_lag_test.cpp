#include <gtest/gtest.h>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(ChunkerLagDataset, TheTwoSequencesOf22Symbols) {
  auto d = make_data("{name: chunker_lag, train: 200, test: 50}");
  EXPECT_EQ(d->input, (Shape{22, 21}));
  EXPECT_EQ(d->outputs, 1);
  int as = 0;
  for (Index e = 0; e < d->train.examples; ++e) {
    // One-hot everywhere; the first symbol a (0) or x (1), then b1..b20 (2..21).
    for (Index t = 0; t < 21; ++t) EXPECT_EQ(d->train.inputs.col(e * 21 + t).sum(), 1);
    const bool a = d->train.inputs(0, e * 21) == 1, x = d->train.inputs(1, e * 21) == 1;
    EXPECT_NE(a, x);
    for (Index t = 1; t < 21; ++t) EXPECT_EQ(d->train.inputs(t + 1, e * 21 + t), 1) << "b" << t;
    EXPECT_EQ(d->train.targets(0, e), a ? 1 : 0);
    as += a;
  }
  EXPECT_GT(as, 60);
  EXPECT_LT(as, 140);
}

TEST(ChunkerLagDataset, Deterministic) {
  expect_deterministic("{name: chunker_lag, train: 64, test: 64}", "{name: chunker_lag, train: 64, test: 64, seed: 2}");
}

TEST(ChunkerLagDataset, SuccessIsTheRightSideOfOneHalf) {
  auto d = make_data("{name: chunker_lag, train: 1, test: 1}");
  Matrix target(1, 1), out(1, 1);
  target << 1.0f;
  out << 0.51f;
  EXPECT_TRUE(solved(*d, out, target));
  out << 0.49f;
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(ChunkerLagDataset, RefusesImpossibleParameters) {
  EXPECT_NE(make_error("{name: chunker_lag, lag: 0}").find("'lag'"), std::string::npos);
  EXPECT_NE(make_error("{name: chunker_lag, lag: -1}").find("'lag'"), std::string::npos);
  EXPECT_NE(make_error("{name: chunker_lag, test: 0}").find("'test'"), std::string::npos);
}
