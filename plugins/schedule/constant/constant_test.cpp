#include <gtest/gtest.h>

#include "../schedule_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

TEST(ConstantSchedule, SameFactorAtEveryStep) {
  const auto one = make_schedule("constant");
  const auto c = make_schedule("{name: constant, factor: 0.25}");
  for (std::int64_t it : {1, 2, 10, 11, 99, 100}) {
    SCOPED_TRACE(it);
    EXPECT_EQ(one->factor(step_at(it, 10, 10)), 1.0);
    EXPECT_EQ(c->factor(step_at(it, 10, 10)), 0.25);
  }
}

TEST(ConstantSchedule, FactorMustNotBeNegative) {
  EXPECT_ANY_THROW(make_schedule("{name: constant, factor: -0.5}"));
  EXPECT_NO_THROW(make_schedule("{name: constant, factor: 0}"));
}
