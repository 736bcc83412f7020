#include <gtest/gtest.h>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(LeakyReluLayer, SlopeAppliesToNegativeInputs) {
  for (float slope : {0.01f, 0.2f, 2.0f}) {
    SCOPED_TRACE(slope);
    LayerRig r(build_layer(bundled_registry(), "{type: leaky_relu, negative_slope: " + std::to_string(slope) + "}"),
               {1, 1}, 4, 1);
    Matrix x(1, 4);
    x << -2.0f, 0.0f, 0.5f, 3.0f;
    const Matrix y = r.forward(x, Mode::train);
    EXPECT_FLOAT_EQ(y(0, 0), -2.0f * slope);
    EXPECT_FLOAT_EQ(y(0, 1), 0.0f);
    EXPECT_FLOAT_EQ(y(0, 2), 0.5f);
    EXPECT_FLOAT_EQ(y(0, 3), 3.0f);
    const Matrix gin = r.backward(x, y, Matrix::Constant(1, 4, 2.0f), Mode::train);
    EXPECT_FLOAT_EQ(gin(0, 0), 2.0f * slope);
    EXPECT_FLOAT_EQ(gin(0, 1), 2.0f * slope);  // x <= 0 takes the slope, as in PyTorch
    EXPECT_FLOAT_EQ(gin(0, 3), 2.0f);
  }
}

TEST(LeakyReluLayer, DefaultSlopeAndBounds) {
  const auto* entry = bundled_registry().find(ComponentKind::layer, "leaky_relu");
  ASSERT_NE(entry, nullptr);
  EXPECT_DOUBLE_EQ(params_from_node(*entry, YAML::Load("{}"), {}).real("negative_slope"), 0.01);
  EXPECT_ANY_THROW(params_from_node(*entry, YAML::Load("{negative_slope: -0.1}"), {}));
}

TEST(LeakyReluLayer, SaturationCountsUnitsNegativeForTheWholeBatch) {
  LayerRig r(build_layer(bundled_registry(), "{type: leaky_relu}"), {3, 1}, 3, 1);
  Matrix x(3, 3);
  x << -1, -2, -3,  // only ever gets the small-slope gradient
      -1, 2, -5,    // positive once
      1, 2, 3;
  const Matrix y = r.forward(x, Mode::train);
  EXPECT_DOUBLE_EQ(r.layer->saturation(ConstMatrixMap(x.data(), 3, 3), ConstMatrixMap(y.data(), 3, 3),
                                       LayerRig::context(Mode::train, false, 3)),
                   1.0 / 3.0);
}
