// Network construction through the public API (as a host application uses it).
#include "gradlab/core/network.hpp"

#include <gtest/gtest.h>

#include "gradlab/core/error.hpp"

using namespace gradlab;

// A network without layers has no output to take a loss of: refused as bad
// input (before the fix the constructor read layers_.back() of an empty vector).
TEST(Network, NoLayersIsBadInput) { EXPECT_THROW(Network({}, Shape{4, 1}, Task::classification, 3), InputError); }
