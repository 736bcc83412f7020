#include <gtest/gtest.h>

#include <cmath>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

}  // namespace

TEST(LstmLayer, GateBlocksAndTorchShapes) {
  auto four = build_layer(bundled_registry(), "{type: lstm, units: 3}");
  EXPECT_EQ(four.layer->configure({2, 5}), (Shape{3, 1}));
  auto t = four.layer->tensors();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].name, "weight_ih_l0");
  EXPECT_EQ(t[0].shape, (std::vector<Index>{12, 2}));
  EXPECT_EQ(t[1].shape, (std::vector<Index>{12, 3}));
  EXPECT_EQ(t[2].name, "bias_ih_l0");
  EXPECT_EQ(t[3].name, "bias_hh_l0");
  EXPECT_EQ(t[3].shape, (std::vector<Index>{12}));
  auto three = build_layer(bundled_registry(), "{type: lstm, units: 3, forget_gate: false, sequence: all}");
  EXPECT_EQ(three.layer->configure({2, 5}), (Shape{3, 5}));
  EXPECT_EQ(three.layer->tensors()[1].shape, (std::vector<Index>{9, 3}));
  EXPECT_EQ(three.layer->param_count(), 9 * 2 + 9 * 3 + 18);
}

TEST(LstmLayer, InitialGateBiasesGoToBiasIh) {
  LayerRig r(build_layer(bundled_registry(), "{type: lstm, units: 2, input_bias: -1, output_bias: -2}"), {3, 4}, 2, 1);
  const Index b_ih = 8 * 3 + 8 * 2;
  const Vector bih = r.params.segment(b_ih, 8), bhh = r.params.segment(b_ih + 8, 8);
  Vector want(8);
  want << -1, -1, 1, 1, 0, 0, -2, -2;  // i, f (default forget_bias 1), g, o
  EXPECT_EQ(bih, want);
  EXPECT_TRUE(bhh.isZero(0));
  LayerRig no_f(build_layer(bundled_registry(), "{type: lstm, units: 2, forget_gate: false, input_bias: -1}"), {3, 4},
                2, 1);
  const Index b3 = 6 * 3 + 6 * 2;
  Vector want3(6);
  want3 << -1, -1, 0, 0, 0, 0;  // i, g, o
  EXPECT_EQ(Vector(no_f.params.segment(b3, 6)), want3);
}

TEST(LstmLayer, OrthogonalRecurrentInitMakesEachGateBlockOrthogonal) {
  LayerRig r(build_layer(bundled_registry(), "{type: lstm, units: 4, recurrent_init: {name: orthogonal}}"), {3, 4}, 2,
             1);
  const Index whh = 16 * 3;
  for (Index g = 0; g < 4; ++g) {
    const Matrix U = ConstRowMatrixMap(r.params.data() + whh + g * 16, 4, 4);
    EXPECT_TRUE((U * U.transpose()).isApprox(Matrix::Identity(4, 4), 1e-5f)) << "gate " << g << "\n" << U;
  }
  // The whole [16, 4] matrix is not one orthogonal draw of that shape: its
  // blocks are independent (U^T U = 4 I, not I).
  const Matrix all = ConstRowMatrixMap(r.params.data() + whh, 16, 4);
  EXPECT_TRUE((all.transpose() * all).isApprox(4 * Matrix::Identity(4, 4), 1e-5f));
}

// With all weights 0 the gates are constants of the biases: the 1997 cell
// (no forget gate) grows linearly, c_t = (t+1) i g (the constant error
// carousel); with a forget gate c_t = f c_{t-1} + i g.
TEST(LstmLayer, CellMatchesTheEquations) {
  for (bool forget : {false, true}) {
    for (std::string squash : {"tanh", "lstm1997"}) {
      SCOPED_TRACE(std::string(forget ? "forget gate, " : "no forget gate, ") + squash);
      LayerRig r(build_layer(bundled_registry(), std::string("{type: lstm, units: 1, sequence: all, forget_gate: ") +
                                                     (forget ? "true" : "false") + ", squash: " + squash + "}"),
                 {1, 4}, 1, 1);
      const Index G = forget ? 4 : 3;
      r.params.setZero();
      // bias_ih per gate, in order i, (f,) g, o; bias_hh adds 0.1 to each.
      Scalar* bih = r.params.data() + 2 * G;
      Scalar* bhh = bih + G;
      const double zi = 0.3, zf = 1.2, zg = 0.7, zo = -0.4;
      int k = 0;
      bih[k++] = Scalar(zi - 0.1);
      if (forget) bih[k++] = Scalar(zf - 0.1);
      bih[k++] = Scalar(zg - 0.1);
      bih[k++] = Scalar(zo - 0.1);
      for (Index g = 0; g < G; ++g) bhh[g] = 0.1f;
      const Matrix x = Matrix::Zero(1, 4);
      const Matrix y = r.forward(x, Mode::train);
      const bool paper = squash == "lstm1997";
      const double i = sigmoid(zi), f = sigmoid(zf), o = sigmoid(zo);
      const double g = paper ? 4 * sigmoid(zg) - 2 : std::tanh(zg);
      double c = 0;
      for (int t = 0; t < 4; ++t) {
        c = (forget ? f * c : c) + i * g;
        if (!forget) EXPECT_NEAR(c, (t + 1) * i * g, 1e-12);
        const double h = o * (paper ? 2 * sigmoid(c) - 1 : std::tanh(c));
        EXPECT_NEAR(y(0, t), h, 2e-6) << "step " << t;
      }
    }
  }
}
