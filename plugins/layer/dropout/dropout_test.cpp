// dropout: the mask's statistics, the eval-mode identity, sequences, and what
// the layer does inside a run (same seed, same weights; its stream leaves the
// rest of the run untouched). The gradient, determinism and accumulation checks
// are the layer conformance suite's (tests/conformance).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "bad_input.hpp"
#include "conformance/layer_harness.hpp"
#include "gradlab/core/run.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

LayerRig dropout_rig(const std::string& yaml, Shape input, Index batch) {
  return LayerRig(build_layer(bundled_registry(), yaml), input, batch, 1);
}

bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(Scalar) * std::size_t(a.size())) == 0;
}

}  // namespace

TEST(DropoutLayer, EvalModeAndANullStreamAreTheExactIdentity) {
  LayerRig r = dropout_rig("{type: dropout, p: 0.5}", {6, 1}, 7);
  Rng rng(2);
  const Matrix x = random_matrix(6, 7, rng);
  const Matrix g = random_matrix(6, 7, rng);
  r.stochastic_seed = 3;
  EXPECT_TRUE(same_bits(r.forward(x, Mode::eval), x));
  EXPECT_TRUE(same_bits(r.backward(x, x, g, Mode::eval), g));
  r.stochastic_seed.reset();  // train mode without a stream (a probe): identity too
  EXPECT_TRUE(same_bits(r.forward(x, Mode::train), x));
  EXPECT_TRUE(same_bits(r.backward(x, x, g, Mode::train), g));
}

TEST(DropoutLayer, TrainModeZeroesOrScalesEachUnitAndBackwardReusesTheMask) {
  const double p = 0.25;
  LayerRig r = dropout_rig("{type: dropout, p: 0.25}", {8, 1}, 16);
  r.stochastic_seed = 5;
  Rng rng(4);
  Matrix x = random_matrix(8, 16, rng);
  push_away_from_zero(x, Scalar(0.1));  // a dropped unit is then the only zero
  const Matrix g = random_matrix(8, 16, rng);
  const Matrix y = r.forward(x, Mode::train);
  const Matrix gin = r.backward(x, y, g, Mode::train);
  const Scalar scale = static_cast<Scalar>(1.0 / (1.0 - p));
  Index dropped = 0;
  for (Index i = 0; i < x.size(); ++i) {
    if (y.data()[i] == 0) {
      ++dropped;
      EXPECT_EQ(gin.data()[i], 0) << "a dropped unit passed gradient at " << i;
    } else {
      EXPECT_EQ(y.data()[i], x.data()[i] * scale) << i;
      EXPECT_EQ(gin.data()[i], g.data()[i] * scale) << i;
    }
  }
  // 128 units at p = 0.25: some dropped, most kept (P(none dropped) ~ 1e-16).
  EXPECT_GT(dropped, 0);
  EXPECT_LT(dropped, x.size() / 2);
}

// Over 10^6 draws the kept fraction is 1 - p and the output's mean is the
// input's (inverted dropout is unbiased), each within 4 standard errors.
TEST(DropoutLayer, KeptFractionAndMeanMatchTheirExpectations) {
  for (double p : {0.1, 0.5, 0.8}) {
    SCOPED_TRACE("p = " + std::to_string(p));
    const Index features = 1000, batch = 1000;
    LayerRig r = dropout_rig("{type: dropout, p: " + std::to_string(p) + "}", {features, 1}, batch);
    r.stochastic_seed = 11;
    const Matrix x = Matrix::Constant(features, batch, Scalar(2));
    const Matrix y = r.forward(x, Mode::train);
    const double n = double(x.size());
    const double kept = double((y.array() != Scalar(0)).count());
    const double se_kept = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(kept, n * (1 - p), 4 * se_kept);
    // Each output is 2 / (1 - p) with probability 1 - p, else 0: mean 2,
    // standard deviation 2 sqrt(p / (1 - p)).
    const double mean = y.cast<double>().mean();
    EXPECT_NEAR(mean, 2.0, 4 * 2.0 * std::sqrt(p / (1 - p)) / std::sqrt(n));
  }
}

TEST(DropoutLayer, ZeroRateIsTheIdentityInTrainMode) {
  LayerRig r = dropout_rig("{type: dropout, p: 0}", {5, 1}, 9);
  r.stochastic_seed = 1;
  Rng rng(6);
  const Matrix x = random_matrix(5, 9, rng);
  EXPECT_TRUE(same_bits(r.forward(x, Mode::train), x));
}

TEST(DropoutLayer, EachForwardDrawsAFreshMaskFromTheStream) {
  auto built = build_layer(bundled_registry(), "{type: dropout}");
  built.layer->configure({20, 1});
  built.layer->reserve(10);
  const Matrix x = Matrix::Ones(20, 10);
  Matrix y1(20, 10), y2(20, 10), y3(20, 10);
  Rng stream(9), replay(9);
  auto run = [&](Rng& s, Matrix& y) {
    ForwardContext ctx = LayerRig::context(Mode::train, true, 10);
    ctx.rng = &s;
    MatrixMap out(y.data(), y.rows(), y.cols());
    built.layer->forward(ConstMatrixMap(x.data(), 20, 10), out, ctx);
  };
  run(stream, y1);
  run(stream, y2);
  EXPECT_FALSE(same_bits(y1, y2)) << "two forwards on one stream gave the same mask";
  run(replay, y3);
  EXPECT_TRUE(same_bits(y1, y3)) << "the mask is not a function of the stream alone";
}

// Padded steps may hold anything finite; valid steps follow the mask rule.
TEST(DropoutLayer, SequencesWithPaddedStepsStayFinite) {
  const Index steps = 4, batch = 3;
  LayerRig r = dropout_rig("{type: dropout, p: 0.5}", {2, steps}, batch);
  r.stochastic_seed = 2;
  r.lengths = {4, 1, 2};
  Rng rng(8);
  Matrix x = random_matrix(2, steps * batch, rng);
  push_away_from_zero(x, Scalar(0.1));
  const Matrix y = r.forward(x, Mode::train);
  const Matrix gin = r.backward(x, y, Matrix::Ones(2, steps * batch), Mode::train);
  EXPECT_TRUE(y.allFinite());
  EXPECT_TRUE(gin.allFinite());
  for (Index i = 0; i < y.size(); ++i) EXPECT_TRUE(y.data()[i] == 0 || y.data()[i] == x.data()[i] * Scalar(2)) << i;
}

// ---- inside a run ----

namespace {

std::string digits_spec(const std::string& middle) {
  return "data: {name: digits}\n"
         "model: {layers: [{type: dense, units: 32}, {type: tanh}, " +
         middle +
         "{type: dense, units: 10}]}\n"
         "optimizer: {name: sgd, lr: 0.1}\n"
         "training: {epochs: 3, batch_size: 64, seed: 4}\n"
         "probes: {every: 100, batch: 16}\n";
}

RunResult run_digits(const std::string& middle) {
  return train_run(spec_from_yaml(digits_spec(middle)), bundled_registry());
}

bool same_vector(const VectorMap& a, const VectorMap& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), sizeof(Scalar) * std::size_t(a.size())) == 0;
}

}  // namespace

TEST(DropoutRun, SameSeedGivesIdenticalWeights) {
  auto a = run_digits("{type: dropout, p: 0.5}, ");
  auto b = run_digits("{type: dropout, p: 0.5}, ");
  ASSERT_EQ(a.summary.status, RunStatus::ok) << a.summary.message;
  ASSERT_EQ(b.summary.status, RunStatus::ok) << b.summary.message;
  EXPECT_TRUE(same_vector(a.network->parameters(), b.network->parameters()));
  // And the layer acts in the run: without it the weights differ.
  auto without = run_digits("");
  EXPECT_FALSE(same_vector(a.network->parameters(), without.network->parameters()));
}

// Dropout draws from a stream of its own: with p = 0 it changes nothing, not
// even the shuffling or the initialization, so the run matches one without it
// bit for bit.
TEST(DropoutRun, ZeroRateTrainsBitForBitLikeNoLayer) {
  auto with = run_digits("{type: dropout, p: 0}, ");
  auto without = run_digits("");
  ASSERT_EQ(with.summary.status, RunStatus::ok) << with.summary.message;
  EXPECT_TRUE(same_vector(with.network->parameters(), without.network->parameters()));
  ASSERT_EQ(with.summary.epochs.size(), without.summary.epochs.size());
  for (std::size_t e = 0; e < with.summary.epochs.size(); ++e)
    EXPECT_EQ(with.summary.epochs[e].test_loss, without.summary.epochs[e].test_loss) << "epoch " << e;
}

TEST(DropoutRun, BadRateIsOneLineWithThePlace) {
  TempDir dir;
  expect_one_line_bad_input(dir, digits_spec("{type: dropout, p: 1}, "), {}, {"spec.yaml:2:", "'p'", "bounds"});
  expect_one_line_bad_input(dir, digits_spec("{type: dropout, p: -0.1}, "), {}, {"spec.yaml:2:", "'p'", "bounds"});
  expect_one_line_bad_input(dir, digits_spec("{type: dropout}, "), {"--set", "model.layers.2.p=1"},
                            {"--set model.layers.2.p=1", "'p'", "bounds"});
  expect_one_line_bad_input(dir, digits_spec("{type: dropout}, "), {"--set", "model.layers.2.p=-0.1"},
                            {"--set model.layers.2.p=-0.1", "'p'", "bounds"});
}
