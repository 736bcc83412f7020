// The experiments, run on the shipped specs in examples/specs (the same
// files `make demo` runs and the README reports): a deep sigmoid network's
// gradient vanishes and it does not learn; ReLU + He init, batch norm and Rprop
// each fix it.
#include <gtest/gtest.h>

#include <filesystem>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

RunSummary run_spec(const std::string& name) {
  auto path = test::source_dir() / "examples" / "specs" / (name + ".yaml");
  if (!std::filesystem::exists(path)) throw std::runtime_error("missing spec " + path.string());
  auto spec = load_run_spec(path, {}, test::bundled_registry());
  return train_run(spec, test::bundled_registry()).summary;
}

// Gradient norm of the first and the last layer that has parameters.
std::pair<double, double> first_last_grad(const EpochRecord& record) {
  const LayerProbe* first = nullptr;
  const LayerProbe* last = nullptr;
  for (const auto& l : record.layers)
    if (l.type == "dense") {
      if (!first) first = &l;
      last = &l;
    }
  if (!first) return {0, 0};
  return {first->grad_norm, last->grad_norm};
}

double final_test_accuracy(const RunSummary& s) { return s.epochs.back().test_accuracy; }

// "Learns clearly better than plain SGD", the words, made precise: at
// least 50 points more test accuracy and less than half the final training loss.

// Plain SGD's result, shared by the comparisons (one run, deterministic).
const RunSummary& plain_sigmoid() {
  static const RunSummary summary = run_spec("sigmoid_deep");
  return summary;
}

}  // namespace

TEST(Experiments, DeepSigmoidGradientVanishesAndItDoesNotLearn) {
  const auto& s = plain_sigmoid();
  ASSERT_EQ(s.status, RunStatus::ok);
  ASSERT_EQ(s.epochs_run, 30);
  // 21 flattened layers: 11 dense, 10 sigmoid.
  ASSERT_EQ(s.epochs.front().layers.size(), 21u);
  auto [first, last] = first_last_grad(s.epochs.front());
  ASSERT_GT(last, 0.0);
  EXPECT_LT(first / last, 1e-4) << "first dense grad " << first << ", last " << last;
  // Each sigmoid layer shrinks the gradient: it grows monotonically towards the output at epoch 0.
  double previous = 0.0;
  for (const auto& l : s.epochs.front().layers)
    if (l.type == "dense") {
      EXPECT_GT(l.grad_norm, previous) << "layer " << l.index;
      previous = l.grad_norm;
    }
  EXPECT_LT(final_test_accuracy(s), 0.25);
}

TEST(Experiments, ReluWithHeInitLearns) {
  auto s = run_spec("relu_he");
  ASSERT_EQ(s.status, RunStatus::ok);
  auto [first, last] = first_last_grad(s.epochs.front());
  EXPECT_GT(first / last, 1e-2) << "ReLU + He should keep the gradient within two orders of magnitude";
  EXPECT_GE(final_test_accuracy(s), 0.90);
}

namespace {
void expect_clearly_better_than_plain_sgd(const std::string& spec) {
  auto s = run_spec(spec);
  ASSERT_EQ(s.status, RunStatus::ok) << spec;
  EXPECT_GE(final_test_accuracy(s), final_test_accuracy(plain_sigmoid()) + 0.5) << spec;
  EXPECT_LT(s.epochs.back().train_loss, 0.5 * plain_sigmoid().epochs.back().train_loss) << spec;
}

}  // namespace

TEST(Experiments, BatchNormLearnsClearlyBetterThanPlainSgd) {
  expect_clearly_better_than_plain_sgd("sigmoid_batchnorm");
}

TEST(Experiments, RpropLearnsClearlyBetterThanPlainSgd) { expect_clearly_better_than_plain_sgd("sigmoid_rprop"); }

TEST(Experiments, ResidualBlocksLearnClearlyBetterThanPlainSgd) {
  expect_clearly_better_than_plain_sgd("sigmoid_residual");
}
