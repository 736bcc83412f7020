#include <gtest/gtest.h>

#include <cmath>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

bool have_layer() { return bundled_registry().find(ComponentKind::layer, "fully_recurrent") != nullptr; }

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

}  // namespace

TEST(FullyRecurrentLayer, TensorsFollowTheBiasOption) {
  if (!have_layer()) GTEST_SKIP();
  struct Case {
    const char* bias;
    Index biased;
  };
  for (Case c : {Case{"all", 3}, Case{"hidden", 2}, Case{"none", 0}}) {
    SCOPED_TRACE(c.bias);
    auto built = build_layer(bundled_registry(),
                             std::string("{type: fully_recurrent, units: 3, outputs: 1, bias: ") + c.bias + "}");
    EXPECT_EQ(built.layer->configure({2, 5}), (Shape{1, 1}));
    const auto t = built.layer->tensors();
    ASSERT_EQ(t.size(), c.biased ? 3u : 2u);
    EXPECT_EQ(t[0].name, "weight_ih");
    EXPECT_EQ(t[0].shape, (std::vector<Index>{3, 2}));
    EXPECT_EQ(t[1].name, "weight_hh");
    EXPECT_EQ(t[1].shape, (std::vector<Index>{3, 3}));
    EXPECT_EQ(t[1].offset, 6);
    if (c.biased) {
      EXPECT_EQ(t[2].name, "bias");
      EXPECT_EQ(t[2].shape, (std::vector<Index>{c.biased}));
    }
    EXPECT_EQ(built.layer->param_count(), 6 + 9 + c.biased);
  }
  // The 2001 report's latch variant II: one tanh unit, self + input + bias = 3 weights.
  auto latch = build_layer(bundled_registry(), "{type: fully_recurrent, units: 1}");
  latch.layer->configure({1, 600});
  EXPECT_EQ(latch.layer->param_count(), 3);
  // A1 with n = 1 hidden unit: 2 units, 2 input weights, 4 recurrent, 1 hidden bias.
  auto a1 = build_layer(bundled_registry(), "{type: fully_recurrent, units: 2, bias: hidden}");
  a1.layer->configure({1, 600});
  EXPECT_EQ(a1.layer->param_count(), 7);
}

TEST(FullyRecurrentLayer, RefusesMoreOutputsThanUnitsAndNonSequences) {
  if (!have_layer()) GTEST_SKIP();
  try {
    build_layer(bundled_registry(), "{type: fully_recurrent, units: 2, outputs: 3}");
    FAIL() << "accepted 3 outputs of 2 units";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("outputs"), std::string::npos) << e.what();
  }
  auto built = build_layer(bundled_registry(), "{type: fully_recurrent, units: 2}");
  EXPECT_THROW(built.layer->configure({3, 1}), std::invalid_argument);
}

TEST(FullyRecurrentLayer, ForwardMatchesTheDefinition) {
  if (!have_layer()) GTEST_SKIP();
  // Unit 0 hidden (tanh, biased), unit 1 the output (sigmoid, no bias). Layered:
  // h_t = tanh(w0 x_t + r00 h_{t-1} + r01 o_{t-1} + b0), o_t = sigmoid(w1 x_t + r10 h_t + r11 o_{t-1});
  // synchronous: o_t reads h_{t-1} instead.
  for (bool layered : {true, false}) {
    SCOPED_TRACE(layered ? "layered" : "synchronous");
    const std::string options = std::string("units: 2, bias: hidden, activation: tanh, output_activation: sigmoid, ") +
                                "update: " + (layered ? "layered" : "synchronous");
    LayerRig r(build_layer(bundled_registry(), "{type: fully_recurrent, " + options + ", sequence: all}"), {1, 4}, 2,
               1);
    ASSERT_EQ(r.params.size(), 2 + 4 + 1);
    const double wih[2] = {0.7, -1.3}, whh[2][2] = {{0.5, -0.8}, {1.1, 0.4}}, b0 = 0.25;
    r.params << Scalar(wih[0]), Scalar(wih[1]), Scalar(whh[0][0]), Scalar(whh[0][1]), Scalar(whh[1][0]),
        Scalar(whh[1][1]), Scalar(b0);
    r.lengths = {4, 2};  // example 1 ends after 2 steps
    Matrix x(1, 8);      // time-major: column t * 2 + b
    x << 0.4f, -1.0f, -2.0f, 0.5f, 1.0f, 9.0f, 0.3f, 9.0f;
    const Matrix y = r.forward(x, Mode::eval);
    for (Index b = 0; b < 2; ++b) {
      double h = 0, o = 0;
      for (Index t = 0; t < 4; ++t) {
        const Index c = t * 2 + b;
        if (t >= r.lengths[std::size_t(b)]) {
          EXPECT_EQ(y(0, c), 0) << "padded step " << t;
          continue;
        }
        const double xt = x(0, c);
        const double h1 = std::tanh(wih[0] * xt + whh[0][0] * h + whh[0][1] * o + b0);
        const double o1 = sigmoid(wih[1] * xt + whh[1][0] * (layered ? h1 : h) + whh[1][1] * o);
        h = h1;
        o = o1;
        EXPECT_NEAR(y(0, c), o, 1e-6) << "example " << b << " step " << t;
      }
    }
    // sequence: last gives the output units at each example's last valid step.
    LayerRig last(build_layer(bundled_registry(), "{type: fully_recurrent, " + options + "}"), {1, 4}, 2, 1);
    last.params = r.params;
    last.lengths = r.lengths;
    const Matrix yl = last.forward(x, Mode::eval);
    ASSERT_EQ(yl.cols(), 2);
    EXPECT_EQ(yl(0, 0), y(0, 3 * 2 + 0));
    EXPECT_EQ(yl(0, 1), y(0, 1 * 2 + 1));
  }
}

TEST(FullyRecurrentLayer, GradientsMatchFiniteDifferencesWithPaddingAndTruncation) {
  if (!have_layer()) GTEST_SKIP();
  for (std::string yaml :
       {"{type: fully_recurrent, units: 3, outputs: 2, sequence: all}",
        "{type: fully_recurrent, units: 3, outputs: 1, bias: hidden, output_activation: sigmoid}",
        "{type: fully_recurrent, units: 2, activation: sigmoid, bias: none, sequence: all}",
        // A window as long as the sequences: the truncation path with the exact gradient.
        "{type: fully_recurrent, units: 3, tbptt: 5, sequence: all}", "{type: fully_recurrent, units: 3, tbptt: 7}"}) {
    SCOPED_TRACE(yaml);
    const Index batch = 3;
    LayerRig r(build_layer(bundled_registry(), yaml), {2, 5}, batch, 4);
    Rng rng(17);
    for (Index k = 0; k < r.params.size(); ++k)
      r.params[k] += Scalar(std::uniform_real_distribution<double>(-0.5, 0.5)(rng));
    r.lengths = {5, 3, 1};
    const Matrix x = random_matrix(2, 5 * batch, rng, -1.5, 1.5);
    const Matrix w = random_matrix(r.out.features, r.out.steps * batch, rng);
    const auto check = check_gradients(r, x, w, Mode::train);
    EXPECT_TRUE(check.ok()) << check.report();
  }
}

TEST(FullyRecurrentLayer, LagProbeSeesTheErrorFlow) {
  if (!have_layer()) GTEST_SKIP();
  LayerRig r(build_layer(bundled_registry(), "{type: fully_recurrent, units: 2, tbptt: 2}"), {1, 4}, 2, 3);
  Rng rng(5);
  const Matrix x = random_matrix(1, 8, rng);
  const Matrix y = r.forward(x, Mode::train);
  LagProbe probe;
  probe.hidden.assign(4, 0.0);
  r.backward(x, y, Matrix::Ones(1, 2), Mode::train, true, &probe);
  EXPECT_TRUE(probe.reported);
  EXPECT_FALSE(probe.has_cell);
  EXPECT_GT(probe.hidden[0], 0);
  EXPECT_GT(probe.hidden[1], 0);
  EXPECT_EQ(probe.hidden[2], 0) << "beyond the truncation window";
  EXPECT_EQ(probe.hidden[3], 0);
}

TEST(FullyRecurrentLayer, TruncationZeroesTheInputGradientBeforeTheWindow) {
  if (!have_layer()) GTEST_SKIP();
  LayerRig r(build_layer(bundled_registry(), "{type: fully_recurrent, units: 3, tbptt: 2}"), {2, 5}, 2, 3);
  r.lengths = {5, 3};
  Rng rng(8);
  const Matrix x = random_matrix(2, 10, rng);
  const Matrix y = r.forward(x, Mode::train);
  const Matrix gin = r.backward(x, y, Matrix::Ones(1, 2), Mode::train);
  for (Index b = 0; b < 2; ++b) {
    const Index length = r.lengths[std::size_t(b)];
    for (Index t = 0; t < 5; ++t) {
      const bool in_window = t < length && t >= length - 2;
      const double norm = gin.col(t * 2 + b).norm();
      if (in_window)
        EXPECT_GT(norm, 0) << "example " << b << " step " << t;
      else
        EXPECT_EQ(norm, 0) << "example " << b << " step " << t;
    }
  }
}
