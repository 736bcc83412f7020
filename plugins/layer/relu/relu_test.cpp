#include <gtest/gtest.h>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(ReluLayer, ForwardBackwardAtAndAroundZero) {
  LayerRig r(build_layer(bundled_registry(), "{type: relu}"), {1, 1}, 4, 1);
  Matrix x(1, 4);
  x << -2.0f, 0.0f, 0.5f, 3.0f;
  const Matrix y = r.forward(x, Mode::train);
  EXPECT_EQ(y(0, 0), 0.0f);
  EXPECT_EQ(y(0, 1), 0.0f);
  EXPECT_EQ(y(0, 2), 0.5f);
  EXPECT_EQ(y(0, 3), 3.0f);
  const Matrix g = Matrix::Constant(1, 4, 2.0f);
  const Matrix gin = r.backward(x, y, g, Mode::train);
  EXPECT_EQ(gin(0, 0), 0.0f);
  EXPECT_EQ(gin(0, 1), 0.0f);  // the subgradient at 0 is 0, as in PyTorch
  EXPECT_EQ(gin(0, 2), 2.0f);
  EXPECT_EQ(gin(0, 3), 2.0f);
}

TEST(ReluLayer, SaturationCountsDeadUnits) {
  LayerRig r(build_layer(bundled_registry(), "{type: relu}"), {4, 1}, 3, 1);
  Matrix x(4, 3);
  x << -1, -2, -3,  // dead: negative for every example
      -1, 0, -5,    // dead: never positive
      -1, -1, 0.1,  // alive for one example: sparse, not dead
      1, 2, 3;      // alive
  const Matrix y = r.forward(x, Mode::train);
  EXPECT_DOUBLE_EQ(r.layer->saturation(ConstMatrixMap(x.data(), 4, 3), ConstMatrixMap(y.data(), 4, 3),
                                       LayerRig::context(Mode::train, false, 3)),
                   0.5);
}
