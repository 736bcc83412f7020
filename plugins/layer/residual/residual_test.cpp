#include <gtest/gtest.h>

#include "conformance/layer_harness.hpp"
#include "gradlab/core/weights.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

class ConstantInit final : public Initializer {
 public:
  explicit ConstantInit(Scalar v) : v_(v) {}
  void fill(RowMatrixMap w, Rng&, const InitSite&) const override { w.setConstant(v_); }

 private:
  Scalar v_;
};

const TensorInfo* find(const std::vector<TensorInfo>& t, const std::string& name) {
  for (const auto& i : t)
    if (i.name == name) return &i;
  return nullptr;
}

}  // namespace

TEST(ResidualLayer, ChildTensorsArePrefixedLikeNnSequential) {
  auto built = build_layer(bundled_registry(),
                           "{type: residual, learn_scale: true, scale: 0.25, layers: [{type: dense, units: 3}, "
                           "{type: batch_norm}, {type: dense, units: 4}]}");
  ASSERT_EQ(built.layer->configure({4, 1}), (Shape{4, 1}));
  const auto t = built.layer->tensors();
  std::vector<std::string> names;
  for (const auto& i : t) names.push_back(i.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"alpha", "0.weight", "0.bias", "1.weight", "1.bias", "2.weight", "2.bias"}));
  EXPECT_TRUE(find(t, "alpha")->shape.empty());
  EXPECT_EQ(find(t, "0.weight")->shape, (std::vector<Index>{3, 4}));
  EXPECT_EQ(find(t, "0.weight")->offset, 1);
  EXPECT_EQ(find(t, "1.weight")->offset, 1 + 12 + 3);
  EXPECT_EQ(find(t, "2.weight")->shape, (std::vector<Index>{4, 3}));
  EXPECT_EQ(built.layer->param_count(), 1 + 15 + 6 + 16);
  const auto b = built.layer->buffer_tensors();
  ASSERT_EQ(b.size(), 3u);
  EXPECT_EQ(b[0].name, "1.running_mean");
  EXPECT_EQ(b[2].name, "1.num_batches_tracked");
  EXPECT_EQ(built.layer->buffer_count(), 7);

  auto fixed =
      build_layer(bundled_registry(), "{type: residual, layers: [{type: dense, units: 2}, {type: dense, units: 2}]}");
  fixed.layer->configure({2, 1});
  EXPECT_EQ(fixed.layer->tensors().front().name, "0.weight");
  EXPECT_EQ(find(fixed.layer->tensors(), "alpha"), nullptr);
}

TEST(ResidualLayer, RejectsABranchThatChangesTheShape) {
  auto built = build_layer(bundled_registry(), "{type: residual, layers: [{type: dense, units: 3}, {type: tanh}]}");
  try {
    built.layer->configure({4, 1});
    FAIL() << "configure accepted a 4 -> 3 branch";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("4 features"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("3 features"), std::string::npos) << e.what();
  }
}

TEST(ResidualLayer, OutputIsInputPlusScaledBranch) {
  for (bool learn : {false, true}) {
    SCOPED_TRACE(learn);
    LayerRig r(build_layer(bundled_registry(), std::string("{type: residual, scale: 0.5, learn_scale: ") +
                                                   (learn ? "true" : "false") +
                                                   ", layers: [{type: dense, units: 3, bias: false}]}"),
               {3, 1}, 2, 1);
    const Index w0 = learn ? 1 : 0;
    if (learn) EXPECT_EQ(r.params[0], 0.5f) << "alpha must start at scale";
    // Branch weight = 2 * identity: f(x) = 2x, y = x + 0.5 * 2x = 2x.
    RowMatrixMap(r.params.data() + w0, 3, 3) = RowMatrix::Identity(3, 3) * 2.0f;
    Matrix x(3, 2);
    x << 1, -2, 3, 0.5, -1, 4;
    const Matrix y = r.forward(x, Mode::train);
    EXPECT_TRUE(y.isApprox(2.0f * x)) << y;
    if (learn) {
      r.params[0] = -1.0f;  // y = x - 2x = -x
      EXPECT_TRUE(r.forward(x, Mode::train).isApprox(-x));
    }
  }
}

TEST(ResidualLayer, ChildInitializerWinsOverTheBlocks) {
  auto with_own = build_layer(bundled_registry(), "{type: dense, units: 3}");
  with_own.init = std::make_shared<ConstantInit>(0.25f);
  auto plain = build_layer(bundled_registry(), "{type: dense, units: 3}");
  const auto* entry = bundled_registry().find(ComponentKind::layer, "residual");
  ASSERT_NE(entry, nullptr);
  ChildLayer block;
  block.layer =
      bundled_registry().make_layer("residual", params_from_node(*entry, YAML::Load("{}"), {}), {with_own, plain});
  LayerRig r(block, {3, 1}, 2, 1);
  const auto t = r.layer->tensors();
  ConstVectorMap w0(r.params.data() + find(t, "0.weight")->offset, 9);
  ConstVectorMap w1(r.params.data() + find(t, "1.weight")->offset, 9);
  EXPECT_TRUE((w0.array() == 0.25f).all());
  EXPECT_FALSE((w1.array() == 0.25f).all()) << "the second child should use the block's initializer";
  EXPECT_TRUE(ConstVectorMap(r.params.data() + find(t, "0.bias")->offset, 3).isZero());
}

TEST(ResidualLayer, ForwardsTheContextToItsChildren) {
  LayerRig r(build_layer(bundled_registry(), "{type: residual, layers: [{type: batch_norm}]}"), {2, 1}, 4, 1);
  Matrix x(2, 4);
  x << 1, 2, 3, 4, -1, 0, 5, 8;
  const Vector before = r.buffers;
  r.forward(x, Mode::train, false);
  EXPECT_EQ(r.buffers, before);
  const Matrix y = r.forward(x, Mode::train, true);
  EXPECT_NE(r.buffers, before) << "train mode with update_statistics did not reach the child batch_norm";
  EXPECT_EQ(r.buffers[4], 1.0f);  // 0.num_batches_tracked
  // Train mode: the branch is normalised by the batch statistics (mean 0).
  EXPECT_NEAR((y - x).row(0).mean(), 0.0, 1e-5);
  // Eval mode: the branch uses running statistics, so it differs from train mode.
  const Matrix ye = r.forward(x, Mode::eval);
  EXPECT_FALSE(ye.isApprox(y));
}

TEST(ResidualLayer, WeightsFileUsesNestedNamesAndLoadsBack) {
  TempDir dir;
  write_text(dir / "spec.yaml", R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 16}
    - {type: residual, learn_scale: true, scale: 0.5, layers: [{type: dense, units: 16}, {type: batch_norm}, {type: relu}]}
    - {type: batch_norm}
    - {type: leaky_relu}
    - {type: dense, units: 10}
optimizer: {name: sgd, lr: 0.05}
training: {epochs: 1, batch_size: 64}
)");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--save-weights", (dir / "w.safetensors").string(),
                    "--json", (dir / "run.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto file = read_safetensors((dir / "w.safetensors").string());
  for (const char* name : {"0.weight", "1.alpha", "1.0.weight", "1.0.bias", "1.1.weight", "1.1.bias",
                           "1.1.running_mean", "1.1.running_var", "1.1.num_batches_tracked", "2.weight",
                           "2.running_var", "2.num_batches_tracked", "4.weight", "4.bias"})
    EXPECT_TRUE(file.count(name)) << "no tensor " << name;
  EXPECT_TRUE(file.at("1.alpha").shape.empty());
  EXPECT_EQ(file.at("1.1.running_mean").shape, std::vector<Index>{16});
  // One epoch of 1437 examples in batches of 64: 23 updates of the statistics.
  EXPECT_EQ(file.at("2.num_batches_tracked").values.at(0), 23.0f);
  EXPECT_NE(file.at("1.alpha").values.at(0), 0.5f) << "alpha was not trained";
  auto again = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--set", "training.epochs=0", "--load-weights",
                        (dir / "w.safetensors").string(), "--save-weights", (dir / "w2.safetensors").string()});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  const auto reloaded = read_safetensors((dir / "w2.safetensors").string());
  for (const auto& [name, entry] : file) EXPECT_EQ(reloaded.at(name).values, entry.values) << name;
}
