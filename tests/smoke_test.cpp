#include <gtest/gtest.h>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

TEST(Smoke, DeepSigmoidTrainsWithoutCrashing) {
  auto spec = test::spec_from_yaml(R"(
data: {name: digits}
model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 3}
)");
  auto result = train_run(spec, test::bundled_registry());
  EXPECT_EQ(result.summary.status, RunStatus::ok);
  ASSERT_EQ(result.summary.epochs.size(), 4u);
  EXPECT_LT(result.summary.epochs.back().train_loss, result.summary.epochs.front().train_loss);
}
