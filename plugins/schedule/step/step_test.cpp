#include <gtest/gtest.h>

#include <cmath>

#include "../schedule_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(StepSchedule, DecaysByGammaEveryNEpochs) {
  // 7 epochs of 5 steps, every: 3, gamma: 0.5: epochs 1-3 at 1, 4-6 at 0.5, 7 at 0.25.
  const auto s = make_schedule("{name: step, every: 3, gamma: 0.5}");
  struct Case {
    std::int64_t iteration;
    double expected;
  };
  for (const Case c :
       {Case{1, 1.0}, Case{15, 1.0}, Case{16, 0.5}, Case{20, 0.5}, Case{30, 0.5}, Case{31, 0.25}, Case{35, 0.25}}) {
    SCOPED_TRACE(c.iteration);
    EXPECT_DOUBLE_EQ(s->factor(step_at(c.iteration, 5, 7)), c.expected);
  }
}

TEST(StepSchedule, EveryOneEpochIsExponential) {
  const auto s = make_schedule("{name: step, every: 1, gamma: 0.9}");
  for (std::int64_t epoch = 1; epoch <= 12; ++epoch)
    EXPECT_NEAR(s->factor(step_at((epoch - 1) * 4 + 1, 4, 12)), std::pow(0.9, double(epoch - 1)), 1e-15) << epoch;
}

TEST(StepSchedule, ParameterBounds) {
  EXPECT_ANY_THROW(make_schedule("{name: step, gamma: 0}"));
  EXPECT_ANY_THROW(make_schedule("{name: step, gamma: 1.5}"));
  EXPECT_ANY_THROW(make_schedule("{name: step, every: 0}"));
  EXPECT_NO_THROW(make_schedule("{name: step, every: 1, gamma: 1}"));
}
