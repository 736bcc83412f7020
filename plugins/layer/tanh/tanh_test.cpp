#include <gtest/gtest.h>

#include <cmath>

#include "conformance/layer_harness.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(TanhLayer, ForwardAndSaturation) {
  LayerRig r(build_layer(bundled_registry(), "{type: tanh}"), {2, 1}, 4, 1);
  Matrix x(2, 4);
  // 1 - tanh(x)^2 < 0.01 exactly when |x| > atanh(sqrt(0.99)) ~ 2.99.
  x << 0.0f, 0.5f, -1.0f, 2.9f, 3.1f, -4.0f, 10.0f, -2.0f;
  const Matrix y = r.forward(x, Mode::train);
  for (Index i = 0; i < x.size(); ++i) EXPECT_NEAR(y.data()[i], std::tanh(x.data()[i]), 1e-6);
  const double s = r.layer->saturation(ConstMatrixMap(x.data(), 2, 4), ConstMatrixMap(y.data(), 2, 4),
                                       LayerRig::context(Mode::train, false, 4));
  EXPECT_DOUBLE_EQ(s, 3.0 / 8.0);  // 3.1, -4 and 10 are flat; 2.9 is not
}

TEST(TanhLayer, SaturationSkipsPaddedSteps) {
  // Two examples of two steps, time-major: columns (t0,b0) (t0,b1) (t1,b0) (t1,b1).
  // Example 1 has one valid step, so column 3 is padding and must not count.
  LayerRig r(build_layer(bundled_registry(), "{type: tanh}"), {1, 2}, 2, 1);
  Matrix x(1, 4);
  x << 5.0f, 0.0f, 0.0f, 9.0f;
  const Matrix y = r.forward(x, Mode::train);
  const std::int32_t lengths[] = {2, 1};
  ForwardContext ctx = LayerRig::context(Mode::train, false, 2);
  ctx.lengths = lengths;
  EXPECT_DOUBLE_EQ(r.layer->saturation(ConstMatrixMap(x.data(), 1, 4), ConstMatrixMap(y.data(), 1, 4), ctx), 1.0 / 3.0);
  ctx.lengths = nullptr;
  EXPECT_DOUBLE_EQ(r.layer->saturation(ConstMatrixMap(x.data(), 1, 4), ConstMatrixMap(y.data(), 1, 4), ctx), 2.0 / 4.0);
}
