// fixup: the weights of a built network with residual blocks, layer class by
// layer class, against Zhang, Dauphin & Ma's rules; and the effect the method
// exists for, on a deep residual stack without normalization.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

// A network after initialization only (epochs: 0), its tensors by name.
struct Initialized {
  std::shared_ptr<Network> network;
  std::map<std::string, NamedTensor> tensors;
  const NamedTensor& operator[](const std::string& name) const {
    auto it = tensors.find(name);
    if (it == tensors.end()) throw std::out_of_range("no tensor " + name);
    return it->second;
  }
};

Initialized init_only(const std::string& model, const std::string& init) {
  auto spec = test::spec_from_yaml("data: {name: digits}\nmodel: {layers: " + model + "}\ninit: " + init +
                                   "\noptimizer: {name: sgd}\ntraining: {epochs: 0, seed: 3}\n");
  auto result = train_run(spec, test::bundled_registry());
  EXPECT_EQ(result.summary.status, RunStatus::ok);
  Initialized out{result.network, {}};
  for (const auto& t : out.network->named_tensors(false)) out.tensors[t.name] = t;
  return out;
}

double sample_std(const NamedTensor& t) {
  double sum = 0, sq = 0;
  for (Index i = 0; i < t.size; ++i) sum += t.data[i], sq += double(t.data[i]) * t.data[i];
  const double mean = sum / double(t.size);
  return std::sqrt((sq - double(t.size) * mean * mean) / double(t.size - 1));
}

bool all_zero(const NamedTensor& t) {
  for (Index i = 0; i < t.size; ++i)
    if (t.data[i] != 0) return false;
  return true;
}

// The standard deviation of a [fan_out, fan_in] normal matrix, within five
// standard errors of the sample std (sigma / sqrt(2n)).
void expect_std(const NamedTensor& t, double sigma) {
  ASSERT_EQ(t.shape.size(), 2u) << t.name;
  const double n = double(t.size);
  EXPECT_NEAR(sample_std(t), sigma, 5 * sigma / std::sqrt(2 * n)) << t.name;
}

// Input layer (0), then L = 5 blocks: two with m = 3 weight layers, two with
// m = 2, one with m = 1; then the classifier (7).
const std::string kModel =
    "[{type: dense, units: 96}, {type: relu},"
    " {repeat: 2, layers: [{type: residual, layers: [{type: dense, units: 96}, {type: relu}, {type: dense, units: 96},"
    "  {type: relu}, {type: dense, units: 96}]}]},"
    " {repeat: 2, layers: [{type: residual, layers: [{type: dense, units: 96}, {type: relu}, {type: dense, units: "
    "96}]}]},"
    " {type: residual, layers: [{type: dense, units: 96}]},"
    " {type: dense, units: 10}]";

TEST(Fixup, EveryLayerClassGetsItsRule) {
  const auto net = init_only(kModel, "{name: fixup}");
  const double he = std::sqrt(2.0 / 96), L = 5;
  // Outside the branches: He normal (input fan_in = 64 pixels).
  expect_std(net["0.weight"], std::sqrt(2.0 / 64));
  // m = 3 branches: layers 0 and 1 scaled by L^(-1/4), the last zero.
  for (const std::string block : {"2", "3"}) {
    expect_std(net[block + ".0.weight"], he * std::pow(L, -1.0 / 4));
    expect_std(net[block + ".2.weight"], he * std::pow(L, -1.0 / 4));
    EXPECT_TRUE(all_zero(net[block + ".4.weight"])) << block;
  }
  // m = 2 branches: the first scaled by L^(-1/2), the last zero.
  for (const std::string block : {"4", "5"}) {
    expect_std(net[block + ".0.weight"], he * std::pow(L, -1.0 / 2));
    EXPECT_TRUE(all_zero(net[block + ".2.weight"])) << block;
  }
  // m = 1: the single layer is the branch's last, zero.
  EXPECT_TRUE(all_zero(net["6.0.weight"]));
  // The classifier is zero; biases start at zero everywhere.
  EXPECT_TRUE(all_zero(net["7.weight"]));
  for (const auto& [name, t] : net.tensors)
    if (name.ends_with("bias")) EXPECT_TRUE(all_zero(t)) << name;
  // So the network computes a constant at the start: every block is the identity.
  const auto& first = net["2.0.weight"];
  EXPECT_FALSE(all_zero(first));
}

TEST(Fixup, DepthSetsTheBranchScale) {
  // The same block shape in a stack of 16 blocks: L^(-1/(2m-2)) = 16^(-1/4) = 1/2.
  const auto net = init_only(
      "[{type: dense, units: 128}, {repeat: 16, layers: [{type: residual, layers: [{type: dense, units: 128}, "
      "{type: relu}, {type: dense, units: 128}, {type: relu}, {type: dense, units: 128}]}]}, {type: dense, units: "
      "10}]",
      "{name: fixup}");
  const double he = std::sqrt(2.0 / 128);
  for (int block = 1; block <= 16; block += 5) {
    expect_std(net[std::to_string(block) + ".0.weight"], he / 2);
    expect_std(net[std::to_string(block) + ".2.weight"], he / 2);
    EXPECT_TRUE(all_zero(net[std::to_string(block) + ".4.weight"]));
  }
  expect_std(net["0.weight"], std::sqrt(2.0 / 64));
  EXPECT_TRUE(all_zero(net["17.weight"]));
}

TEST(Fixup, APerLayerInitializerStillWins) {
  // A layer's own `init:` overrides the run's, inside a branch too.
  const auto net = init_only(
      "[{type: dense, units: 32}, {type: residual, layers: [{type: dense, units: 32}, {type: relu}, {type: dense, "
      "units: 32, init: {name: normal, std: 0.5}}]}, {type: dense, units: 10}]",
      "{name: fixup}");
  EXPECT_NEAR(sample_std(net["1.2.weight"]), 0.5, 0.1);
  EXPECT_TRUE(all_zero(net["2.weight"]));
}

// The effect at a size the suite can afford (examples/specs/fixup_residual50.yaml
// is the full one, measured in the README): 12 residual blocks of dense + relu,
// no normalization, SGD at lr 0.1. A standard initializer lets every block
// double the signal's variance and the run blows up in its first epoch; fixup
// starts every block as the identity and the network learns the digits.
TEST(Fixup, TrainsADeepResidualStackThatHeNormalBlowsUp) {
  const std::string yaml = R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 32}
    - {type: relu}
    - repeat: 12
      layers: [{type: residual, layers: [{type: dense, units: 32}, {type: relu}, {type: dense, units: 32}]}]
    - {type: dense, units: 10}
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 5, batch_size: 32, shuffle: true}
)";
  for (std::int64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    RunOptions options;
    options.seed = seed;
    const auto fixup =
        train_run(test::spec_from_yaml(yaml + "init: {name: fixup}\n"), test::bundled_registry(), options);
    ASSERT_EQ(fixup.summary.status, RunStatus::ok);
    EXPECT_GT(final_epoch(fixup.summary)->test_accuracy, 0.75);
    const auto he =
        train_run(test::spec_from_yaml(yaml + "init: {name: he_normal}\n"), test::bundled_registry(), options);
    EXPECT_EQ(he.summary.status, RunStatus::diverged);
  }
}

}  // namespace
