#include <gtest/gtest.h>

#include <cmath>

#include "../schedule_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(ExponentialSchedule, GammaToTheEpochsBefore) {
  const auto s = make_schedule("{name: exponential, gamma: 0.8}");
  // 6 epochs of 10 steps: the factor is constant within an epoch and is
  // multiplied by gamma from one epoch to the next.
  double expected = 1.0;
  for (std::int64_t epoch = 1; epoch <= 6; ++epoch) {
    SCOPED_TRACE(epoch);
    const std::int64_t first = (epoch - 1) * 10 + 1;
    EXPECT_NEAR(s->factor(step_at(first, 10, 6)), expected, 1e-15);
    EXPECT_NEAR(s->factor(step_at(first + 9, 10, 6)), expected, 1e-15);  // the epoch's last step
    expected *= 0.8;
  }
  EXPECT_EQ(s->factor(step_at(1, 10, 6)), 1.0);  // the first epoch trains at the base rate
}

TEST(ExponentialSchedule, GammaBounds) {
  EXPECT_ANY_THROW(make_schedule("{name: exponential, gamma: 0}"));
  EXPECT_ANY_THROW(make_schedule("{name: exponential, gamma: 1.01}"));
  EXPECT_EQ(make_schedule("{name: exponential, gamma: 1}")->factor(step_at(50, 10, 6)), 1.0);
}
