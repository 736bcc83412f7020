// Gradient clipping, available to every optimizer through the run spec
// (optimizer.clip_value / optimizer.clip_norm): one SGD step with lr 1 must move
// the parameters by exactly the clipped gradient.
#include <gtest/gtest.h>

#include <numeric>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

struct Step {
  Vector raw_gradient;  // the unclipped gradient of the batch
  Vector update;        // params_before - params_after
};

Step one_sgd_step(const std::string& optimizer_yaml) {
  auto spec = test::spec_from_yaml(R"(
data: {name: digits}
model: {layers: [{type: dense, units: 8}, {type: tanh}, {type: dense, units: 10}]}
init: {name: he_normal, gain: 3}
optimizer: )" + optimizer_yaml + "\n");
  const auto& registry = test::bundled_registry();
  auto data = load_dataset(spec, registry);
  auto network = build_network(spec, registry, *data);
  Rng rng(7);
  network->reserve(32);
  network->initialize(*registry.make_initializer(spec.init.name, spec.init.params), rng);
  auto optimizer = registry.make_optimizer(spec.optimizer.name, spec.optimizer.params);
  optimizer->reset(network->param_count());
  std::vector<std::int64_t> order(32);
  std::iota(order.begin(), order.end(), 0);

  Step step;
  network->loss_and_gradient(network->gather(data->train, order.data(), 32));
  step.raw_gradient = network->gradients();
  const Vector before = network->parameters();
  train_step(*network, *optimizer, data->train, order.data(), 32, StepInfo{}, spec.clip_value, spec.clip_norm);
  step.update = before - Vector(network->parameters());
  return step;
}

}  // namespace

TEST(Clipping, SpecKeysReachTheRun) {
  auto spec = test::spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\n"
      "optimizer: {name: adam, clip_norm: 2.5, clip_value: 0.1}\n");
  EXPECT_EQ(spec.clip_norm, 2.5);
  EXPECT_EQ(spec.clip_value, 0.1);
  EXPECT_FALSE(spec.optimizer.params.has("clip_norm")) << "clipping belongs to the host, not the optimizer";
}

TEST(Clipping, OffMeansThePlainGradient) {
  auto s = one_sgd_step("{name: sgd, lr: 1}");
  ASSERT_GT(s.raw_gradient.norm(), 0);
  EXPECT_TRUE(s.update.isApprox(s.raw_gradient, 1e-5f));
}

TEST(Clipping, ByValueClampsEachEntry) {
  auto s = one_sgd_step("{name: sgd, lr: 1, clip_value: 0.01}");
  ASSERT_GT(s.raw_gradient.cwiseAbs().maxCoeff(), 0.01f) << "the test needs entries above the clip";
  const Vector expected = s.raw_gradient.cwiseMax(-0.01f).cwiseMin(0.01f);
  EXPECT_TRUE(s.update.isApprox(expected, 1e-5f));
  EXPECT_LE(s.update.cwiseAbs().maxCoeff(), 0.01f + 2e-6f);  // + rounding of params_before - params_after
}

TEST(Clipping, ByNormRescalesTheWholeGradient) {
  auto s = one_sgd_step("{name: sgd, lr: 1, clip_norm: 0.05}");
  ASSERT_GT(s.raw_gradient.norm(), 0.05f) << "the test needs a gradient above the clip";
  EXPECT_NEAR(s.update.norm(), 0.05, 1e-6);
  // Same direction as the raw gradient.
  EXPECT_NEAR(s.update.normalized().dot(s.raw_gradient.normalized()), 1.0, 1e-5);
}

TEST(Clipping, ByNormLeavesASmallGradientAlone) {
  auto s = one_sgd_step("{name: sgd, lr: 1, clip_norm: 1e6}");
  EXPECT_TRUE(s.update.isApprox(s.raw_gradient, 1e-5f));
}

TEST(Clipping, ValueThenNorm) {
  auto s = one_sgd_step("{name: sgd, lr: 1, clip_value: 0.01, clip_norm: 0.02}");
  Vector expected = s.raw_gradient.cwiseMax(-0.01f).cwiseMin(0.01f);
  ASSERT_GT(expected.norm(), 0.02f);
  expected *= 0.02f / expected.norm();
  EXPECT_TRUE(s.update.isApprox(expected, 1e-4f));
}
