#include <gtest/gtest.h>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

class ConstantInit final : public Initializer {
 public:
  explicit ConstantInit(Scalar v) : v_(v) {}
  void fill(RowMatrixMap w, Rng&, const InitSite&) const override { w.setConstant(v_); }

 private:
  Scalar v_;
};

}  // namespace

TEST(RnnLayer, RefusesNonSequenceInput) {
  for (const char* yaml : {"{type: rnn, units: 3}", "{type: lstm, units: 3}"}) {
    auto built = build_layer(bundled_registry(), yaml);
    try {
      built.layer->configure({4, 1});
      FAIL() << yaml << " accepted one step per example";
    } catch (const std::invalid_argument& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("sequence data (steps > 1)"), std::string::npos) << what;
      EXPECT_NE(what.find("one step per example"), std::string::npos) << what;
    }
  }
}

TEST(RnnLayer, TensorsHaveTorchNamesAndShapes) {
  auto built = build_layer(bundled_registry(), "{type: rnn, units: 3, sequence: all}");
  EXPECT_EQ(built.layer->configure({5, 4}), (Shape{3, 4}));
  const auto t = built.layer->tensors();
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].name, "weight_ih_l0");
  EXPECT_EQ(t[0].shape, (std::vector<Index>{3, 5}));
  EXPECT_EQ(t[1].name, "weight_hh_l0");
  EXPECT_EQ(t[1].shape, (std::vector<Index>{3, 3}));
  EXPECT_EQ(t[1].offset, 15);
  EXPECT_EQ(t[2].name, "bias_ih_l0");
  EXPECT_EQ(t[3].name, "bias_hh_l0");
  EXPECT_EQ(built.layer->param_count(), 15 + 9 + 3 + 3);
  auto last = build_layer(bundled_registry(), "{type: rnn, units: 2}");
  EXPECT_EQ(last.layer->configure({5, 4}), (Shape{2, 1}));
}

TEST(RnnLayer, RecurrentInitFillsTheRecurrentWeightsOnly) {
  // No recurrent_init: W_hh comes from the layer's init too.
  auto plain = build_layer(bundled_registry(), "{type: rnn, units: 3}");
  plain.init = std::make_shared<ConstantInit>(0.5f);
  LayerRig a(plain, {2, 3}, 2, 1);
  EXPECT_TRUE((a.params.head(6 + 9).array() == 0.5f).all());
  EXPECT_TRUE(a.params.tail(6).isZero(0)) << "biases start at 0";
  // recurrent_init given: W_ih from init, W_hh from recurrent_init.
  auto split = build_layer(bundled_registry(), "{type: rnn, units: 3, recurrent_init: {name: orthogonal, gain: 2}}");
  split.init = std::make_shared<ConstantInit>(0.5f);
  LayerRig b(split, {2, 3}, 2, 1);
  EXPECT_TRUE((b.params.head(6).array() == 0.5f).all());
  const Matrix U = ConstRowMatrixMap(b.params.data() + 6, 3, 3);
  EXPECT_TRUE((U.transpose() * U).isApprox(4 * Matrix::Identity(3, 3), 1e-5f)) << U;
  // The layer takes no other initializer key.
  EXPECT_THROW(b.layer->set_initializer("gate_init", std::make_shared<ConstantInit>(1.0f)), std::invalid_argument);
}

TEST(RnnLayer, ActivationsMatchTheirDefinitions) {
  // One unit, one input, W_ih = 1, W_hh = 0.5, biases 0.1 + 0.2: h_t = f(x_t + 0.5 h_{t-1} + 0.3).
  for (std::string act : {"tanh", "sigmoid", "relu"}) {
    SCOPED_TRACE(act);
    LayerRig r(build_layer(bundled_registry(), "{type: rnn, units: 1, sequence: all, activation: " + act + "}"), {1, 3},
               1, 1);
    r.params << 1.0f, 0.5f, 0.1f, 0.2f;
    Matrix x(1, 3);
    x << 0.4f, -2.0f, 1.0f;
    const Matrix y = r.forward(x, Mode::train);
    auto f = [&](double z) {
      return act == "tanh" ? std::tanh(z) : act == "sigmoid" ? 1 / (1 + std::exp(-z)) : std::max(z, 0.0);
    };
    double h = 0;
    for (int t = 0; t < 3; ++t) {
      h = f(x(0, t) + 0.5 * h + 0.3);
      EXPECT_NEAR(y(0, t), h, 1e-6) << "step " << t;
    }
  }
}
