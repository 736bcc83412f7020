#include <gtest/gtest.h>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

// Checks the paper's definition on every example of a split; returns the number
// of examples whose first pair was marked (the rare case).
int check_marked_pairs(const Split& s, Index T, bool add) {
  const Index steps = T + T / 10;
  int first_marked = 0;
  for (Index e = 0; e < s.examples; ++e) {
    const Index L = s.length(e, steps);
    EXPECT_GE(L, T);
    EXPECT_LE(L, T + T / 10);
    std::vector<Index> marks;
    for (Index t = 0; t < steps; ++t) {
      const Scalar v = s.inputs(0, e * steps + t), m = s.inputs(1, e * steps + t);
      if (t >= L) {
        EXPECT_EQ(v, 0);
        EXPECT_EQ(m, 0);
        continue;
      }
      EXPECT_GE(v, add ? -1 : 0);
      EXPECT_LE(v, 1);
      if (m == 1)
        marks.push_back(t);
      else if (t == 0 || t == L - 1)
        EXPECT_EQ(m, -1) << "example " << e << " step " << t;
      else
        EXPECT_EQ(m, 0) << "example " << e << " step " << t;
    }
    if (marks.size() != 2) {
      ADD_FAILURE() << "example " << e << " has " << marks.size() << " marks";
      continue;
    }
    // One mark in the first ten pairs, the other within the first T/2 - 1
    // unmarked pairs, i.e. at position <= T/2 - 1 counting the skipped one.
    // One mark (f) in the first ten pairs, the other (s) among the first
    // T/2 - 1 pairs not marked by f: its rank skipping f is at most T/2 - 2.
    auto fits = [&](Index f, Index s) { return f < 10 && s - (f < s ? 1 : 0) <= T / 2 - 2; };
    EXPECT_TRUE(fits(marks[0], marks[1]) || fits(marks[1], marks[0])) << marks[0] << " " << marks[1];
    EXPECT_LT(marks[1], L - 1);
    if (marks[0] == 0) {
      ++first_marked;
      EXPECT_EQ(s.inputs(0, e * steps), add ? 0 : 1);
    }
    const double x1 = s.inputs(0, e * steps + marks[0]), x2 = s.inputs(0, e * steps + marks[1]);
    const double expected = add ? 0.5 + (x1 + x2) / 4.0 : x1 * x2;
    EXPECT_NEAR(s.targets(0, e), expected, 1e-6);
  }
  return first_marked;
}

}  // namespace

TEST(AddingDataset, FollowsThePapersDefinition) {
  auto d = make_data("{name: adding, length: 100, train: 500, test: 300}");
  EXPECT_EQ(d->input, (Shape{2, 110}));
  EXPECT_EQ(d->outputs, 1);
  EXPECT_EQ(d->task, Task::regression);
  EXPECT_EQ(d->target_at, TargetAt::sequence_end);
  ASSERT_EQ(d->train.lengths.size(), 500u);
  const int rare = check_marked_pairs(d->train, 100, true) + check_marked_pairs(d->test, 100, true);
  // The first pair is marked with probability 1/10 + 9/10 * 1/49.
  EXPECT_GT(rare, 40);
  EXPECT_LT(rare, 150);
  // Lengths cover the whole range [100, 110].
  std::set<std::int32_t> seen(d->train.lengths.begin(), d->train.lengths.end());
  EXPECT_EQ(seen.size(), 11u);
  // Values are spread over [-1, 1] and the targets over most of [0, 1].
  EXPECT_LT(d->train.inputs.row(0).minCoeff(), -0.99);
  EXPECT_GT(d->train.targets.maxCoeff(), 0.85);
  EXPECT_LT(d->train.targets.minCoeff(), 0.15);
}

TEST(AddingDataset, LongSequencesAndTheSmallestT) {
  auto d = make_data("{name: adding, length: 1000, train: 20, test: 20}");
  EXPECT_EQ(d->input.steps, 1100);
  check_marked_pairs(d->train, 1000, true);
  auto s = make_data("{name: adding, length: 11, train: 300, test: 1}");
  check_marked_pairs(s->train, 11, true);
}

TEST(MultiplicationDataset, FollowsThePapersDefinition) {
  auto d = make_data("{name: multiplication, length: 100, train: 500, test: 100}");
  EXPECT_GT(check_marked_pairs(d->train, 100, false), 20);
  EXPECT_GE(d->train.inputs.row(0).minCoeff(), 0);
  EXPECT_LT(d->train.targets.minCoeff(), 0.05);
}

TEST(AddingDataset, Deterministic) {
  expect_deterministic("{name: adding, length: 50, train: 64, test: 64}",
                       "{name: adding, length: 50, train: 64, test: 64, seed: 2}");
  expect_deterministic("{name: multiplication, length: 50, train: 64, test: 64}",
                       "{name: multiplication, length: 50, train: 64, test: 64, seed: 2}");
  // The test split does not depend on the train size.
  auto a = make_data("{name: adding, train: 10, test: 30}"), b = make_data("{name: adding, train: 20, test: 30}");
  EXPECT_TRUE(same_split(a->test, b->test));
}

TEST(AddingDataset, SuccessIsAbsoluteErrorBelow004) {
  auto d = make_data("{name: adding, train: 1, test: 1}");
  ASSERT_TRUE(d->success);
  EXPECT_NE(d->success.description.find("0.04"), std::string::npos);
  EXPECT_NE(d->success.description.find("Hochreiter"), std::string::npos);
  Matrix target(1, 1);
  target << 0.5f;
  Matrix out = target;
  EXPECT_TRUE(solved(*d, out, target));
  out(0, 0) = 0.5f + 0.039f;
  EXPECT_TRUE(solved(*d, out, target));
  out(0, 0) = 0.5f - 0.039f;
  EXPECT_TRUE(solved(*d, out, target));
  out(0, 0) = 0.5f + 0.041f;
  EXPECT_FALSE(solved(*d, out, target));
  out(0, 0) = 0.5f - 0.05f;
  EXPECT_FALSE(solved(*d, out, target));
  out(0, 0) = std::nanf("");
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(AddingDataset, RefusesImpossibleParameters) {
  for (std::string bad : {"length: 1", "length: 0", "length: -5", "length: 10"}) {
    const auto msg = make_error("{name: adding, " + bad + "}");
    EXPECT_NE(msg.find("'length'"), std::string::npos) << bad << ": " << msg;
  }
  EXPECT_NE(make_error("{name: multiplication, test: 0}").find("'test'"), std::string::npos);
  EXPECT_NE(make_error("{name: adding, train: 0}").find("'train'"), std::string::npos);
  EXPECT_NE(make_error("{name: adding, lenght: 100}").find("unknown key 'lenght'"), std::string::npos);
  EXPECT_EQ(make_error("{name: adding, length: 11}"), "");
}

TEST(AddingDataset, RefusesDataBeyondTheMemoryLimit) {
  const auto& reg = bundled_registry();
  const auto& entry = reg.get(ComponentKind::dataset, "adding", "test");
  DataContext ctx;
  ctx.max_bytes = 1000000;
  const YAML::Node node = YAML::Load("{name: adding, length: 1000, train: 10000}");
  try {
    reg.make_dataset("adding", params_from_node(entry, node, {"name"}), ctx);
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'train'"), std::string::npos) << e.what();
  }
}
