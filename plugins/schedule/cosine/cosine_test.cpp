#include <gtest/gtest.h>

#include <cmath>

#include "../schedule_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

const double pi = std::acos(-1.0);

}  // namespace

TEST(CosineSchedule, AnnealsFromOneToMinOverTheRun) {
  // 4 epochs of 25 steps = 100 steps: progress = (t-1)/100.
  for (double m : {0.0, 0.1}) {
    SCOPED_TRACE(m);
    const auto s = make_schedule("{name: cosine, min_factor: " + std::to_string(m) + "}");
    EXPECT_DOUBLE_EQ(s->factor(step_at(1, 25, 4)), 1.0);                   // first step
    EXPECT_NEAR(s->factor(step_at(51, 25, 4)), m + (1 - m) * 0.5, 1e-12);  // half way: cos(pi/2) = 0
    for (std::int64_t t : {2, 26, 75, 99, 100}) {
      SCOPED_TRACE(t);
      const double progress = (t - 1) / 100.0;
      EXPECT_NEAR(s->factor(step_at(t, 25, 4)), m + (1 - m) * 0.5 * (1 + std::cos(pi * progress)), 1e-12);
    }
    // The last step is just above m (progress 0.99), and the factor never rises.
    const double last = s->factor(step_at(100, 25, 4));
    EXPECT_GT(last, m);
    EXPECT_LT(last, m + 0.001);
    for (std::int64_t t = 2; t <= 100; ++t)
      EXPECT_LT(s->factor(step_at(t, 25, 4)), s->factor(step_at(t - 1, 25, 4))) << t;
  }
}

TEST(CosineSchedule, MinFactorBelowOne) {
  EXPECT_ANY_THROW(make_schedule("{name: cosine, min_factor: 1}"));
  EXPECT_ANY_THROW(make_schedule("{name: cosine, min_factor: -0.1}"));
  EXPECT_NO_THROW(make_schedule("{name: cosine, min_factor: 0.99}"));
}
