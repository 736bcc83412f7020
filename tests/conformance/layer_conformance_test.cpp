// The layer conformance suite: every layer registered by the bundled plugins is
// run through the same checks, using the example configurations in kExamples.
// A registered layer without an example fails EveryRegisteredLayerHasAnExample,
// so a new layer plugin must add its configurations here.
//
// For each example:
//  (a) shapes: configure() returns the expected output shape; param_count and
//      buffer_count equal the sizes of the tensors, which have unique names and
//      tile their blocks without overlap;
//  (b) gradients: input gradient and every parameter tensor against central
//      finite differences (layer_harness.hpp), in train mode and in eval mode
//      (after running statistics have moved, for layers that keep them);
//  (c) determinism: two instances with the same seed and initializer give
//      bit-identical parameters, buffers and outputs;
//  (d) backward accumulates parameter gradients (two calls double them),
//      overwrites the input gradient, uses the latest forward only, and gives
//      the same parameter gradients when grad_in is null (first layer);
//  (e) a forward with update_statistics = false changes no buffer, in either
//      mode.
// Then batch_norm-specific checks: hand-computed values on a tiny batch,
// eval mode using the running statistics, and the unbiased running variance.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <map>
#include <set>

#include "conformance/conformance.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

// One or more configurations per registered layer name. Add yours here.
const std::vector<LayerExample>& examples() {
  static const std::vector<LayerExample> table{
      {"dense", "dense", "{type: dense, units: 3}", {4, 1}, {3, 1}},
      {"dense_no_bias", "dense", "{type: dense, units: 5, bias: false}", {3, 1}, {5, 1}},
      {"dense_steps", "dense", "{type: dense, units: 2}", {3, 2}, {2, 2}},
      {"sigmoid", "sigmoid", "{type: sigmoid}", {5, 1}, {5, 1}},
      {"tanh", "tanh", "{type: tanh}", {5, 1}, {5, 1}},
      {"tanh_steps", "tanh", "{type: tanh}", {3, 3}, {3, 3}},
      {"relu", "relu", "{type: relu}", {5, 1}, {5, 1}, true},
      {"leaky_relu", "leaky_relu", "{type: leaky_relu}", {5, 1}, {5, 1}, true},
      {"leaky_relu_slope", "leaky_relu", "{type: leaky_relu, negative_slope: 0.3}", {4, 2}, {4, 2}, true},
      {"batch_norm", "batch_norm", "{type: batch_norm}", {4, 1}, {4, 1}},
      {"batch_norm_steps", "batch_norm", "{type: batch_norm, momentum: 0.3, eps: 0.001}", {3, 2}, {3, 2}},
      {"batch_norm_no_affine", "batch_norm", "{type: batch_norm, affine: false}", {4, 1}, {4, 1}},
      {"residual", "residual", "{type: residual, layers: [{type: dense, units: 4}, {type: tanh}]}", {4, 1}, {4, 1}},
      {"residual_learn_scale",
       "residual",
       "{type: residual, scale: 0.5, learn_scale: true, layers: [{type: dense, units: 3}, {type: tanh}, "
       "{type: dense, units: 4}]}",
       {4, 1},
       {4, 1}},
      {"residual_batch_norm",
       "residual",
       "{type: residual, scale: 0.7, layers: [{type: dense, units: 3, init: {name: lecun_normal}}, "
       "{type: batch_norm}]}",
       {3, 1},
       {3, 1}},
      {"residual_nested",
       "residual",
       "{type: residual, layers: [{type: residual, layers: [{type: dense, units: 3}, {type: tanh}]}, "
       "{type: dense, units: 3}]}",
       {3, 1},
       {3, 1}},
      // Recurrent layers: sequence input of 4 steps (time-major batch).
      {"rnn_tanh_last", "rnn", "{type: rnn, units: 3}", {2, 4}, {3, 1}},
      {"rnn_tanh_all", "rnn", "{type: rnn, units: 3, sequence: all}", {2, 4}, {3, 4}},
      {"rnn_sigmoid_all", "rnn", "{type: rnn, units: 4, activation: sigmoid, sequence: all}", {3, 4}, {4, 4}},
      // relu: a bias or W_hh step of 1e-2 moves every step's pre-activation,
      // and a shape where none crosses 0 within it (the kink) was chosen; the
      // relu rnn is also checked against torch.nn.RNN (tests/recurrent).
      {"rnn_relu_last", "rnn", "{type: rnn, units: 4, activation: relu}", {3, 4}, {4, 1}, true},
      // tbptt: a window as long as the sequences (the truncation path, exact
      // gradient); shorter windows are not the loss's gradient and are checked
      // against truncated references in tests/recurrent/recurrent_test.cpp.
      {"rnn_tbptt_all", "rnn", "{type: rnn, units: 3, sequence: all, tbptt: 5}", {2, 5}, {3, 5}},
      {"rnn_tbptt_last_orthogonal",
       "rnn",
       "{type: rnn, units: 3, tbptt: 7, recurrent_init: {name: orthogonal}}",
       {2, 5},
       {3, 1}},
      // The weight-guessing experiments' fully recurrent net: units see every unit.
      {"fully_recurrent_last", "fully_recurrent", "{type: fully_recurrent, units: 3, outputs: 2}", {2, 4}, {2, 1}},
      {"fully_recurrent_a1_all",
       "fully_recurrent",
       "{type: fully_recurrent, units: 2, bias: hidden, activation: sigmoid, sequence: all}",
       {1, 4},
       {1, 4}},
      {"fully_recurrent_synchronous",
       "fully_recurrent",
       "{type: fully_recurrent, units: 3, update: synchronous, sequence: all}",
       {2, 4},
       {1, 4}},
      {"lstm_last", "lstm", "{type: lstm, units: 3}", {2, 4}, {3, 1}},
      {"lstm_all", "lstm", "{type: lstm, units: 3, sequence: all}", {2, 4}, {3, 4}},
      {"lstm_no_forget_gate", "lstm", "{type: lstm, units: 3, forget_gate: false, sequence: all}", {2, 4}, {3, 4}},
      {"lstm_1997", "lstm", "{type: lstm, units: 3, squash: lstm1997}", {2, 4}, {3, 1}},
      {"lstm_1997_no_forget_gate",
       "lstm",
       "{type: lstm, units: 2, forget_gate: false, squash: lstm1997, sequence: all, input_bias: -1, output_bias: -2}",
       {3, 4},
       {2, 4}},
      {"lstm_tbptt_all", "lstm", "{type: lstm, units: 3, sequence: all, tbptt: 5}", {2, 5}, {3, 5}},
      {"lstm_tbptt_last", "lstm", "{type: lstm, units: 3, tbptt: 5}", {2, 5}, {3, 1}},
      {"lstm_orthogonal_biases",
       "lstm",
       "{type: lstm, units: 3, recurrent_init: {name: orthogonal, gain: 0.9}, input_bias: 0.5, forget_bias: 2, "
       "output_bias: -0.5, init: {name: glorot_uniform}}",
       {2, 4},
       {3, 1}},
  };
  return table;
}

constexpr Index kBatch = kConformanceBatch;

// The checks themselves are in conformance.hpp (installed with the SDK for
// out-of-tree plugins).
class LayerConformance : public ::testing::TestWithParam<LayerExample> {
 protected:
  void SetUp() override {
    if (!bundled_registry().find(ComponentKind::layer, GetParam().layer))
      GTEST_SKIP() << "layer '" << GetParam().layer << "' is not built";
  }
};

TEST_P(LayerConformance, ShapesAndTensors) { check_layer_shapes_and_tensors(GetParam()); }

TEST_P(LayerConformance, GradientsMatchFiniteDifferences) { check_layer_gradients(GetParam()); }

TEST_P(LayerConformance, SameSeedGivesIdenticalResults) { check_layer_determinism(GetParam()); }

TEST_P(LayerConformance, BackwardAccumulatesAndUsesTheLatestForward) { check_layer_backward_accumulates(GetParam()); }

TEST_P(LayerConformance, ForwardWithoutUpdateLeavesBuffers) { check_layer_forward_without_update(GetParam()); }

TEST_P(LayerConformance, SaturationIsAFraction) { check_layer_saturation(GetParam()); }

INSTANTIATE_TEST_SUITE_P(Bundled, LayerConformance, ::testing::ValuesIn(examples()),
                         [](const ::testing::TestParamInfo<LayerExample>& info) { return info.param.label; });

TEST(LayerConformanceTable, EveryRegisteredLayerHasAnExample) {
  std::set<std::string> covered;
  for (const auto& ex : examples()) covered.insert(ex.layer);
  const auto entries = bundled_registry().entries(ComponentKind::layer);
  ASSERT_FALSE(entries.empty());
  for (const auto* entry : entries)
    EXPECT_TRUE(covered.count(entry->info.name))
        << "layer '" << entry->info.name
        << "' is registered but has no example in tests/conformance/layer_conformance_test.cpp; add one";
  // And each example's layer name really is what the example builds.
  for (const auto& ex : examples()) {
    if (!bundled_registry().find(ComponentKind::layer, ex.layer)) continue;
    EXPECT_EQ(YAML::Load(ex.yaml)["type"].as<std::string>(), ex.layer) << ex.label;
  }
}

TEST(LayerConformanceTable, CheckerCatchesAWrongGradient) {
  Registry registry;
  const auto problems = registry.load_directory(test_plugin_dir("wrong_gradient_layer"));
  ASSERT_TRUE(problems.empty()) << problems.front().path << ": " << problems.front().message;
  ASSERT_NE(registry.find(ComponentKind::layer, "wrong_gradient_tanh"), nullptr);
  Rng rng(1);
  const Matrix x = random_matrix(5, kBatch, rng, -1.5, 1.5);
  const Matrix w = random_matrix(5, kBatch, rng);
  LayerRig wrong(build_layer(registry, bundled_registry(), YAML::Load("{type: wrong_gradient_tanh}")), {5, 1}, kBatch,
                 1);
  const auto bad = check_gradients(wrong, x, w, Mode::train);
  EXPECT_FALSE(bad.ok()) << "a 3% gradient error went unnoticed:\n" << bad.report();
  // The same check passes the correct tanh on the same data.
  LayerRig right(build_layer(bundled_registry(), "{type: tanh}"), {5, 1}, kBatch, 1);
  const auto good = check_gradients(right, x, w, Mode::train);
  EXPECT_TRUE(good.ok()) << good.report();
}

// ---- batch_norm specifics ----

LayerRig batch_norm_rig(const std::string& yaml, Index features, Index batch) {
  return LayerRig(build_layer(bundled_registry(), yaml), {features, 1}, batch, 1);
}

TEST(BatchNormConformance, HandComputedTinyBatch) {
  // Two features, three examples. Feature 0: 1, 2, 6 -> mean 3, biased var
  // (4 + 1 + 9) / 3 = 14/3, unbiased 7. Feature 1: constant 5 -> var 0.
  LayerRig r = batch_norm_rig("{type: batch_norm, momentum: 0.5, eps: 0.01}", 2, 3);
  r.params << 2, -1, 0.5, 0.25;  // weight (gamma) = [2, -1], bias (beta) = [0.5, 0.25]
  Matrix x(2, 3);
  x << 1, 2, 6, 5, 5, 5;
  const Matrix y = r.forward(x, Mode::train, true);
  const double s0 = std::sqrt(14.0 / 3.0 + 0.01);
  const double expect0[3] = {2 * (1 - 3) / s0 + 0.5, 2 * (2 - 3) / s0 + 0.5, 2 * (6 - 3) / s0 + 0.5};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(y(0, c), expect0[c], 1e-5);
    EXPECT_NEAR(y(1, c), 0.25, 1e-6);  // (5 - 5) / sqrt(0 + eps) * -1 + 0.25
  }
  // Running stats: 0.5 * [0, 0] + 0.5 * [3, 5]; 0.5 * [1, 1] + 0.5 * [7, 0] (unbiased).
  EXPECT_NEAR(r.buffers[0], 1.5, 1e-6);
  EXPECT_NEAR(r.buffers[1], 2.5, 1e-6);
  EXPECT_NEAR(r.buffers[2], 4.0, 1e-5);
  EXPECT_NEAR(r.buffers[3], 0.5, 1e-6);
  EXPECT_EQ(r.buffers[4], 1.0f);  // num_batches_tracked
  // Backward for grad_out = ones on feature 0: d(sum y0)/dx = 0 (shift
  // invariance), d/dgamma0 = sum(xhat0) = 0, d/dbeta0 = 3.
  Matrix g(2, 3);
  g << 1, 1, 1, 0, 1, 0;
  r.grads.setZero();
  const Matrix gin = r.backward(x, y, g, Mode::train);
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(gin(0, c), 0.0, 1e-5);
  EXPECT_NEAR(r.grads[0], 0.0, 1e-5);  // d/dgamma0
  EXPECT_NEAR(r.grads[2], 3.0, 1e-6);  // d/dbeta0
  EXPECT_NEAR(r.grads[3], 1.0, 1e-6);  // d/dbeta1
  // Feature 1 has xhat = 0: dgamma1 = 0, and dx = gamma/sigma * (g - mean(g)).
  EXPECT_NEAR(r.grads[1], 0.0, 1e-6);
  const double k = -1.0 / std::sqrt(0.01);
  EXPECT_NEAR(gin(1, 0), k * (0 - 1.0 / 3), 1e-4);
  EXPECT_NEAR(gin(1, 1), k * (1 - 1.0 / 3), 1e-4);

  // Eval mode: (x - running_mean) / sqrt(running_var + eps) * gamma + beta.
  const Matrix ye = r.forward(x, Mode::eval);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(ye(0, c), (x(0, c) - 1.5) / std::sqrt(4.0 + 0.01) * 2 + 0.5, 1e-5);
    EXPECT_NEAR(ye(1, c), (x(1, c) - 2.5) / std::sqrt(0.5 + 0.01) * -1 + 0.25, 1e-5);
  }
  // Eval backward is the affine map gamma / sqrt(running_var + eps).
  const Matrix gine = r.backward(x, ye, g, Mode::eval);
  EXPECT_NEAR(gine(0, 0), 2 / std::sqrt(4.01), 1e-5);
  EXPECT_NEAR(gine(1, 1), -1 / std::sqrt(0.51), 1e-5);
}

TEST(BatchNormConformance, EvalUsesRunningStatisticsAndTrainDoesNot) {
  LayerRig r = batch_norm_rig("{type: batch_norm}", 3, 8);
  Rng rng(4);
  // Data with mean ~2 and std ~3 per feature.
  Matrix x = random_matrix(3, 8, rng);
  x = (x.array() * Scalar(5) + Scalar(2)).matrix();
  // Before any update the running stats are (0, 1): eval output ~ x / sqrt(1 + eps).
  const Matrix y0 = r.forward(x, Mode::eval);
  EXPECT_TRUE(y0.isApprox(x / std::sqrt(1.0f + 1e-5f), 1e-5f));
  // Train output is normalised with the batch's own statistics: mean 0, biased var ~1.
  const Matrix yt = r.forward(x, Mode::train, false);
  for (Index f = 0; f < 3; ++f) {
    EXPECT_NEAR(yt.row(f).mean(), 0.0, 1e-5);
    EXPECT_NEAR(yt.row(f).squaredNorm() / 8, 1.0, 1e-3);
  }
  EXPECT_EQ(r.buffers[6], 0.0f) << "a forward without update counted a batch";
  // Many updates on the same batch: running mean -> batch mean, running var -> unbiased var.
  for (int i = 0; i < 200; ++i) r.forward(x, Mode::train, true);
  EXPECT_EQ(r.buffers[6], 200.0f);
  for (Index f = 0; f < 3; ++f) {
    const double mean = x.row(f).cast<double>().mean();
    const double ss = (x.row(f).cast<double>().array() - mean).square().sum();
    EXPECT_NEAR(r.buffers[f], mean, 1e-4);
    EXPECT_NEAR(r.buffers[3 + f], ss / 7, 1e-3 * ss / 7);
  }
  // Now eval normalises with the running (unbiased) variance: slightly less than train's.
  const Matrix ye = r.forward(x, Mode::eval);
  for (Index f = 0; f < 3; ++f) {
    const double ratio = std::sqrt(7.0 / 8.0);
    for (Index c = 0; c < 8; ++c) EXPECT_NEAR(ye(f, c), yt(f, c) * ratio, 1e-3);
  }
}

TEST(BatchNormConformance, TensorNamesMatchTorch) {
  auto built = build_layer(bundled_registry(), "{type: batch_norm}");
  built.layer->configure({6, 1});
  const auto t = built.layer->tensors();
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].name, "weight");
  EXPECT_EQ(t[1].name, "bias");
  EXPECT_EQ(t[1].shape, std::vector<Index>{6});
  const auto b = built.layer->buffer_tensors();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].name, "running_mean");
  EXPECT_EQ(b[1].name, "running_var");
  EXPECT_EQ(b[2].name, "num_batches_tracked");
  EXPECT_TRUE(b[2].shape.empty());
  auto plain = build_layer(bundled_registry(), "{type: batch_norm, affine: false}");
  plain.layer->configure({6, 1});
  EXPECT_EQ(plain.layer->param_count(), 0);
  EXPECT_TRUE(plain.layer->tensors().empty());
}

}  // namespace
