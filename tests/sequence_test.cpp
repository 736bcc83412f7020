// Sequence data in the core: padding, per-step targets, success criteria, the
// model's output steps, and csv's `steps`. The recurrent layers have their own
// tests (plugins/layer/rnn, plugins/layer/lstm); these use only `dense`, which
// is applied to every step, so that what they check is the host's part.
#include <gtest/gtest.h>

#include <cmath>

#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/network.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

std::shared_ptr<Layer> dense(Index units) {
  return test::bundled_registry().make_layer("dense", Params({{"units", std::int64_t(units)}, {"bias", true}}), {});
}

std::vector<NetworkLayer> one_dense(Index units) { return {{"dense", dense(units), nullptr, "model.layers[0]"}}; }

// Two features, three steps, per-step regression targets of one output;
// example 1 has one valid step, example 2 two.
Split ragged_split() {
  Split s;
  s.examples = 3;
  s.inputs.resize(2, 9);
  s.targets.resize(1, 9);
  for (Index c = 0; c < 9; ++c) {
    s.inputs(0, c) = Scalar(0.1 * double(c + 1));
    s.inputs(1, c) = Scalar(-0.05 * double(c));
    s.targets(0, c) = Scalar(0.3 * double(c % 4) - 0.2);
  }
  s.lengths = {3, 1, 2};
  return s;
}

// Zeroes every padded step of a split (inputs and targets), the layout's convention.
void zero_padding(Split& s, Index steps) {
  for (Index e = 0; e < s.examples; ++e)
    for (Index t = s.length(e, steps); t < steps; ++t) {
      s.inputs.col(e * steps + t).setZero();
      s.targets.col(e * steps + t).setZero();
    }
}

struct Rig {
  Network net;
  explicit Rig(TargetAt at = TargetAt::every_step)
      : net(one_dense(1), Shape{2, 3}, Task::regression, 1, NetworkLimits{}, at) {
    Rng rng(3);
    auto init = test::bundled_registry().make_initializer("normal", Params({{"mean", 0.0}, {"std", 0.5}}));
    net.initialize(*init, rng);
  }
};

}  // namespace

// The loss of every_step data is the mean over the valid steps only: the same
// number computed by hand from the dense layer's parameters.
TEST(Sequences, EveryStepLossIsTheMeanOverValidSteps) {
  Rig rig;
  Split split = ragged_split();
  zero_padding(split, 3);
  const std::int64_t order[] = {0, 1, 2};
  const double loss = rig.net.loss(rig.net.gather(split, order, 3));
  const Vector p = rig.net.parameters();  // [w0, w1, b]
  double sum = 0.0;
  int count = 0;
  for (Index e = 0; e < 3; ++e)
    for (Index t = 0; t < split.length(e, 3); ++t) {
      const Index c = e * 3 + t;
      const double y = double(p[0]) * split.inputs(0, c) + double(p[1]) * split.inputs(1, c) + double(p[2]);
      sum += (y - split.targets(0, c)) * (y - split.targets(0, c));
      ++count;
    }
  EXPECT_EQ(count, 6);
  EXPECT_NEAR(loss, sum / count, 1e-6);
}

// Whatever a padded step holds, the loss, the gradient and every probe stay
// bit for bit the same.
TEST(Sequences, PaddedStepsChangeNoLossGradientOrProbe) {
  Rig a, b;
  Split clean = ragged_split();
  zero_padding(clean, 3);
  Split noisy = clean;
  for (Index e = 0; e < 3; ++e)
    for (Index t = clean.length(e, 3); t < 3; ++t) {
      noisy.inputs.col(e * 3 + t).setConstant(Scalar(1e3));
      noisy.targets.col(e * 3 + t).setConstant(Scalar(-7));
    }
  const std::int64_t order[] = {2, 0, 1};
  const double la = a.net.loss_and_gradient(a.net.gather(clean, order, 3));
  const double lb = b.net.loss_and_gradient(b.net.gather(noisy, order, 3));
  EXPECT_EQ(la, lb);
  EXPECT_TRUE(Vector(a.net.gradients()) == Vector(b.net.gradients()));
  const auto pa = a.net.probe(a.net.gather(clean, order, 3));
  const auto pb = b.net.probe(b.net.gather(noisy, order, 3));
  ASSERT_EQ(pa.size(), pb.size());
  EXPECT_EQ(pa[0].grad_norm, pb[0].grad_norm);
  const auto ea = a.net.evaluate(clean), eb = b.net.evaluate(noisy);
  EXPECT_EQ(ea.loss, eb.loss);
}

// Evaluation in chunks smaller than the split gives the loss of the whole
// split, and the success criterion counts solved examples over all chunks.
TEST(Sequences, EvaluateCountsSolvedExamplesAcrossChunks) {
  Rig rig;
  Split split = ragged_split();
  zero_padding(split, 3);
  rig.net.reserve(2);  // chunks of 2 and 1
  // Solved: every valid step's output above the target (a criterion that
  // sees [outputs, length] and the targets the same way).
  SuccessCriterion above{"every output above its target",
                         [](ConstMatrixMap out, ConstMatrixMap target, const std::int32_t*) {
                           return (out.array() > target.array()).all();
                         }};
  const auto result = rig.net.evaluate(split, &above);
  const Vector p = rig.net.parameters();
  int solved = 0;
  for (Index e = 0; e < 3; ++e) {
    bool all = true;
    for (Index t = 0; t < split.length(e, 3); ++t) {
      const Index c = e * 3 + t;
      const double y = double(p[0]) * split.inputs(0, c) + double(p[1]) * split.inputs(1, c) + double(p[2]);
      all = all && y > split.targets(0, c);
    }
    solved += all ? 1 : 0;
  }
  ASSERT_TRUE(result.success_rate.has_value());
  EXPECT_DOUBLE_EQ(*result.success_rate, solved / 3.0);
  EXPECT_FALSE(rig.net.evaluate(split).success_rate.has_value());
}

// A model that keeps every step (here a dense layer over a sequence) cannot
// answer data with one target per example: refused at the last layer, with
// the way out.
TEST(Sequences, StepsAtTheOutputForPerExampleTargetsAreRefused) {
  try {
    Network net(one_dense(1), Shape{2, 3}, Task::regression, 1, NetworkLimits{}, TargetAt::sequence_end);
    FAIL() << "accepted a 3-step output for one target per example";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("model.layers[0]"), std::string::npos) << what;
    EXPECT_NE(what.find("3 time steps"), std::string::npos) << what;
    EXPECT_NE(what.find("sequence: last"), std::string::npos) << what;
  }
}

// csv `steps: T`: a row holds T x features values, step 0 first, then the label.
TEST(Sequences, CsvStepsReadsRowsAsSequences) {
  test::TempDir dir;
  test::write_text(dir / "seq.csv", "1,2,3,4,5,6,0\n7,8,9,10,11,12,1\n13,14,15,16,17,18,1\n");
  auto spec = test::spec_from_yaml("data: {name: csv, path: " + (dir / "seq.csv").string() +
                                   ", steps: 3, test_fraction: 0.34}\nmodel: {layers: [{type: dense, units: 2}]}\n");
  auto data = load_dataset(spec, test::bundled_registry());
  EXPECT_EQ(data->input, (Shape{2, 3}));
  ASSERT_EQ(data->train.examples, 2);
  // Example 1, step 2 = features 11, 12.
  EXPECT_EQ(data->train.inputs(0, 1 * 3 + 2), 11);
  EXPECT_EQ(data->train.inputs(1, 1 * 3 + 2), 12);
  EXPECT_EQ(data->train.labels[1], 1);
  test::write_text(dir / "bad.csv", "1,2,3,4,5,0\n");
  auto bad = test::spec_from_yaml("data: {name: csv, path: " + (dir / "bad.csv").string() +
                                  ", steps: 3}\nmodel: {layers: [{type: dense, units: 2}]}\n");
  try {
    load_dataset(bad, test::bundled_registry());
    FAIL() << "5 values accepted as 3 steps";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("steps = 3"), std::string::npos) << e.what();
  }
}

// check_dataset refuses lengths outside 1..steps and per-step labels out of range.
TEST(Sequences, CheckDatasetValidatesLengthsAndPerStepTargets) {
  Dataset d;
  d.task = Task::regression;
  d.input = {2, 3};
  d.outputs = 1;
  d.target_at = TargetAt::every_step;
  d.train = ragged_split();
  d.test = ragged_split();
  EXPECT_NO_THROW(check_dataset(d));
  d.train.lengths[1] = 4;
  EXPECT_THROW(check_dataset(d), std::invalid_argument);
  d.train.lengths[1] = 0;
  EXPECT_THROW(check_dataset(d), std::invalid_argument);
  d.train.lengths = {3, 1};
  EXPECT_THROW(check_dataset(d), std::invalid_argument);
  d.train = ragged_split();
  d.train.targets.resize(1, 3);  // one per example: wrong for every_step
  EXPECT_THROW(check_dataset(d), std::invalid_argument);
}
