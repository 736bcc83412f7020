#include <gtest/gtest.h>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

// The symbol (input unit) at step t of example e, checking the coding is one-hot.
Index symbol_at(const Split& s, Index e, Index t, Index steps) {
  Index hot = -1, count = 0;
  for (Index k = 0; k < s.inputs.rows(); ++k) {
    const Scalar v = s.inputs(k, e * steps + t);
    EXPECT_TRUE(v == 0 || v == 1);
    if (v == 1) hot = k, ++count;
  }
  EXPECT_LE(count, 1);
  return hot;
}

void check_split(const Split& s, Index classes) {
  constexpr Index steps = 110, E = 0, B = 1, X = 6, Y = 7;
  const std::vector<std::pair<Index, Index>> ranges =
      classes == 4 ? std::vector<std::pair<Index, Index>>{{10, 20}, {50, 60}}
                   : std::vector<std::pair<Index, Index>>{{10, 20}, {33, 43}, {66, 76}};
  std::vector<int> per_class(static_cast<std::size_t>(classes));
  for (Index e = 0; e < s.examples; ++e) {
    const Index L = s.length(e, steps);
    EXPECT_GE(L, 100);
    EXPECT_LE(L, 110);
    EXPECT_EQ(symbol_at(s, e, 0, steps), E);
    EXPECT_EQ(symbol_at(s, e, L - 1, steps), B);
    Index cls = 0;
    std::size_t found = 0;
    for (Index t = 1; t + 1 < L; ++t) {
      const Index sym = symbol_at(s, e, t, steps);
      if (sym == X || sym == Y) {
        ASSERT_LT(found, ranges.size()) << "too many X/Y in example " << e;
        const Index pos = t + 1;  // 1-based
        EXPECT_GE(pos, ranges[found].first);
        EXPECT_LE(pos, ranges[found].second);
        cls = 2 * cls + (sym == Y ? 1 : 0);
        ++found;
      } else {
        EXPECT_GE(sym, 2);  // a, b, c, d
        EXPECT_LE(sym, 5);
      }
    }
    EXPECT_EQ(found, ranges.size());
    for (Index t = L; t < steps; ++t) EXPECT_EQ(symbol_at(s, e, t, steps), -1);  // padding
    // The target is the one-hot code of the class.
    for (Index k = 0; k < classes; ++k) EXPECT_EQ(s.targets(k, e), k == cls ? 1 : 0);
    ++per_class[static_cast<std::size_t>(cls)];
  }
  for (auto n : per_class) EXPECT_GT(n, 0);
}

}  // namespace

TEST(TemporalOrderDataset, Experiment6aDefinition) {
  auto d = make_data("{name: temporal_order, train: 400, test: 100}");
  EXPECT_EQ(d->input, (Shape{8, 110}));
  EXPECT_EQ(d->outputs, 4);
  EXPECT_EQ(d->target_at, TargetAt::sequence_end);
  check_split(d->train, 4);
  check_split(d->test, 4);
}

TEST(TemporalOrderDataset, Experiment6bDefinition) {
  auto d = make_data("{name: temporal_order, classes: 8, train: 400, test: 50}");
  EXPECT_EQ(d->outputs, 8);
  check_split(d->train, 8);
}

TEST(TemporalOrderDataset, Deterministic) {
  expect_deterministic("{name: temporal_order, train: 50, test: 50}",
                       "{name: temporal_order, train: 50, test: 50, seed: 3}");
}

TEST(TemporalOrderDataset, SuccessIsEveryOutputWithin03) {
  auto d = make_data("{name: temporal_order, train: 1, test: 1}");
  ASSERT_TRUE(d->success);
  Matrix target = Matrix::Zero(4, 1);
  target(2, 0) = 1;
  Matrix out = target;
  EXPECT_TRUE(solved(*d, out, target));
  out(2, 0) = 0.71f;
  out(0, 0) = 0.29f;
  EXPECT_TRUE(solved(*d, out, target));
  out(0, 0) = 0.31f;  // one output off by more than 0.3
  EXPECT_FALSE(solved(*d, out, target));
  out(0, 0) = 0;
  out(2, 0) = 0.69f;
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(TemporalOrderDataset, RefusesClassesOtherThan4Or8) {
  for (std::string bad : {"0", "-4", "3", "5", "6", "7", "9"}) {
    const auto msg = make_error("{name: temporal_order, classes: " + bad + "}");
    EXPECT_NE(msg.find("'classes'"), std::string::npos) << bad << ": " << msg;
  }
  EXPECT_NE(make_error("{name: temporal_order, test: 0}").find("'test'"), std::string::npos);
  EXPECT_EQ(make_error("{name: temporal_order, classes: 8, train: 2, test: 2}"), "");
}
