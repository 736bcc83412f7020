// What the host gives a pretraining strategy (plugin API 4): model clones,
// whole-split evaluation, random streams, validated helper components, the
// check() before training, and the recorded series in the run summary.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <stdexcept>
#include <thread>

#include "gradlab/chain.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/study/distributed.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

// A strategy whose check() and pretrain() are the test's own functions.
class ScriptedStrategy final : public PretrainStrategy {
 public:
  ScriptedStrategy(std::function<void(const Model&, const Dataset&)> check, std::function<void(PretrainContext&)> run)
      : check_(std::move(check)), run_(std::move(run)) {}
  void check(const Model& model, const Dataset& data) const override {
    if (check_) check_(model, data);
  }
  void pretrain(PretrainContext& ctx) override { run_(ctx); }

 private:
  std::function<void(const Model&, const Dataset&)> check_;
  std::function<void(PretrainContext&)> run_;
};

// The bundled plugins plus a strategy "scripted" running the given functions.
std::unique_ptr<Registry> registry_with(std::function<void(const Model&, const Dataset&)> check,
                                        std::function<void(PretrainContext&)> run) {
  auto registry = std::make_unique<Registry>();
  for (const auto& p : registry->load_directory(Registry::bundled_plugin_dir()))
    throw std::runtime_error("bundled plugin failed to load: " + p.path + ": " + p.message);
  Registry::Entry entry;
  entry.kind = ComponentKind::pretrain;
  entry.info = ComponentInfo{"scripted", "a test strategy", {}};
  entry.pretrain = [check, run](const Params&) { return std::make_unique<ScriptedStrategy>(check, run); };
  registry->add_builtin(std::move(entry));
  return registry;
}

const char* small_model = R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 16}
    - {type: batch_norm}
    - {type: residual, layers: [{type: dense, units: 16}, {type: tanh}], scale: 0.5}
    - {type: dense, units: 10}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.05}
training: {epochs: 1, batch_size: 64, seed: 3}
probes: {every: 1, batch: 64}
pretrain: {name: scripted}
)";

RunSpec spec_for(const Registry& registry, const std::string& yaml = small_model) {
  return parse_run_spec(yaml, "test.yaml", {}, registry, test::source_dir().string());
}

TEST(PretrainHost, CloneStartsEqualAndStaysIndependent) {
  const auto& registry = test::bundled_registry();
  auto spec = test::spec_from_yaml(std::string(small_model)
                                       .replace(std::string(small_model).find("pretrain:"),
                                                std::string("pretrain: {name: scripted}").size(), "pretrain: null"));
  auto data = load_dataset(spec, registry);
  auto net = build_network(spec, registry, *data);
  net->reserve(64);
  Rng rng(7);
  auto init = registry.make_initializer(spec.init.name, spec.init.params);
  net->initialize(*init, rng);
  // Give batch_norm's running statistics values other than their start.
  std::vector<std::int64_t> order(64);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  net->loss_and_gradient(net->gather(data->train, order.data(), 64));

  auto clone = net->clone();
  ASSERT_EQ(clone->parameters().size(), net->parameters().size());
  EXPECT_EQ(clone->parameters(), net->parameters());
  const ModelScore a = net->evaluate(data->test), b = clone->evaluate(data->test);
  EXPECT_EQ(a.loss, b.loss);  // buffers copied too: eval mode reads the running statistics
  EXPECT_EQ(a.accuracy, b.accuracy);

  const Vector before = net->parameters();
  clone->parameters().setConstant(Scalar(0.25));
  clone->loss_and_gradient(clone->gather(data->train, order.data(), 64));
  EXPECT_EQ(net->parameters(), before);
  EXPECT_NE(clone->evaluate(data->test).loss, a.loss);
  EXPECT_EQ(net->evaluate(data->test).loss, a.loss);
  // Per-layer views cover the flat vectors.
  Index total = 0;
  for (Index i = 0; i < net->layer_count(); ++i) {
    EXPECT_EQ(net->layer_gradients(i).size(), net->layer_parameters(i).size());
    total += net->layer_parameters(i).size();
  }
  EXPECT_EQ(total, net->param_count());
}

TEST(PretrainHost, ComponentSourceValidatesLikeASpec) {
  bool ran = false;
  auto registry = registry_with(nullptr, [&](PretrainContext& ctx) {
    ran = true;
    auto message = [&](auto&& make) {
      try {
        make();
      } catch (const std::invalid_argument& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    // A wrong type is a clear error, not std::bad_variant_access.
    const auto wrong_type = message([&] { ctx.components.make_layer("dense", Params({{"units", 1.5}})); });
    EXPECT_NE(wrong_type.find("'units'"), std::string::npos) << wrong_type;
    EXPECT_NE(wrong_type.find("an integer"), std::string::npos) << wrong_type;
    const auto bounds = message([&] { ctx.components.make_optimizer("sgd", Params({{"lr", -1.0}})); });
    EXPECT_NE(bounds.find("outside its bounds"), std::string::npos) << bounds;
    const auto unknown = message([&] { ctx.components.make_optimizer("sgd", Params({{"learning_rate", 0.1}})); });
    EXPECT_NE(unknown.find("unknown parameter 'learning_rate'"), std::string::npos) << unknown;
    const auto choice = message([&] {
      ctx.components.make_optimizer("rprop", Params({{"variant", std::string("rprop++")}}));
    });
    EXPECT_NE(choice.find("must be one of"), std::string::npos) << choice;
    const auto missing = message([&] { ctx.components.make_layer("dense", Params{}); });
    EXPECT_NE(missing.find("needs 'units'"), std::string::npos) << missing;
    // An integer where a real is expected is a number like any other.
    EXPECT_NO_THROW(ctx.components.make_optimizer("sgd", Params({{"lr", std::int64_t(1)}})));
    auto layer = ctx.components.make_layer("dense", Params({{"units", std::int64_t(5)}}));
    EXPECT_EQ(layer->configure(Shape{3, 1}).features, 5);
  });
  auto summary = train_run(spec_for(*registry), *registry).summary;
  EXPECT_TRUE(ran);
  EXPECT_EQ(summary.status, RunStatus::ok) << summary.message;
}

TEST(PretrainHost, CheckRefusesBeforeAnythingIsTrained) {
  bool pretrained = false;
  auto registry = registry_with(
      [](const Model& model, const Dataset&) {
        if (model.layer_type(0) != "rnn") throw std::invalid_argument("needs an rnn first layer");
      },
      [&](PretrainContext&) { pretrained = true; });
  try {
    train_run(spec_for(*registry), *registry);
    FAIL() << "a model the strategy cannot handle was trained";
  } catch (const InputError& e) {
    const std::string text = e.what();
    EXPECT_NE(text.find("pretrain"), std::string::npos) << text;
    EXPECT_NE(text.find("scripted"), std::string::npos) << text;
    EXPECT_NE(text.find("needs an rnn first layer"), std::string::npos) << text;
  }
  EXPECT_FALSE(pretrained);
}

TEST(PretrainHost, StreamsThreadsAndRecordedSeries) {
  auto registry = registry_with(nullptr, [](PretrainContext& ctx) {
    Rng a = ctx.stream(0), again = ctx.stream(0), b = ctx.stream(1);
    const auto first = a();
    EXPECT_EQ(first, again());
    EXPECT_NE(first, b());
    EXPECT_NE(derived_rng(ctx.seed, 0)(), derived_rng(ctx.seed + 1, 0)());
    ctx.note("threads", ctx.threads);
    ctx.note("series", 1.5);
    ctx.note("series", 0.5);
  });
  RunOptions options;
  options.threads = 3;
  auto summary = train_run(spec_for(*registry), *registry, options).summary;
  ASSERT_EQ(summary.status, RunStatus::ok) << summary.message;
  const auto json = to_json(summary);
  ASSERT_TRUE(json.contains("pretraining"));
  EXPECT_EQ(json["pretraining"]["threads"], nlohmann::json::array({3.0}));
  EXPECT_EQ(json["pretraining"]["series"], nlohmann::json::array({1.5, 0.5}));
  // The MPI wire carries it too.
  EXPECT_EQ(study::decode_summary(study::encode_summary(summary)).pretraining, summary.pretraining);
}

TEST(PretrainHost, ParallelClonesGiveTheSameScoresAsTheModel) {
  auto registry = registry_with(nullptr, [](PretrainContext& ctx) {
    const double expected = ctx.model.evaluate(ctx.data.train).loss;
    std::vector<std::unique_ptr<Model>> clones;
    for (int i = 0; i < 2; ++i) clones.push_back(ctx.model.clone());
    std::vector<double> losses(2);
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) threads.emplace_back([&, i] { losses[i] = clones[i]->evaluate(ctx.data.train).loss; });
    for (auto& t : threads) t.join();
    EXPECT_EQ(losses[0], expected);
    EXPECT_EQ(losses[1], expected);
  });
  auto summary = train_run(spec_for(*registry), *registry).summary;
  EXPECT_EQ(summary.status, RunStatus::ok) << summary.message;
}

std::shared_ptr<Layer> dense_layer(Index units) {
  return test::bundled_registry().make_layer("dense", Params({{"units", std::int64_t(units)}, {"bias", true}}));
}

TEST(LayerChain, NamesTheLayerThatRefusesItsInput) {
  const auto& registry = test::bundled_registry();
  auto first = dense_layer(4);
  std::vector<ChildLayer> children(1);
  children[0].layer = dense_layer(3);  // 4 -> 3: x + f(x) cannot be formed
  auto block = registry.make_layer("residual", Params({{"scale", 1.0}, {"learn_scale", false}}), children);
  LayerChain chain({first.get(), block.get()});
  try {
    chain.configure(Shape{5, 1});
    FAIL() << "the residual block took a branch that changes the shape";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("layer 1:"), std::string::npos) << e.what();
  }
}

// backward gives the same gradients whether d(loss)/d(output) is the chain's
// own buffer (which the ping-pong must not overwrite) or the caller's matrix.
TEST(LayerChain, OwnOutputGradientBufferEqualsAnExternalOne) {
  const auto& registry = test::bundled_registry();
  auto a = dense_layer(6), b = registry.make_layer("tanh", Params{}), c = dense_layer(5), d = dense_layer(4);
  LayerChain chain({a.get(), b.get(), c.get(), d.get()});
  ASSERT_EQ(chain.configure(Shape{3, 1}).features, 4);
  Index count = 0;
  for (Index j = 0; j < chain.size(); ++j) count += chain.layer(j).param_count();
  Vector params(count), grads = Vector::Zero(count), none;
  Rng rng(11);
  std::normal_distribution<double> normal;
  for (Index k = 0; k < count; ++k) params[k] = static_cast<Scalar>(normal(rng));
  Index offset = 0;
  for (Index j = 0; j < chain.size(); ++j) {
    const Index n = chain.layer(j).param_count();
    chain.layer(j).bind(VectorMap(params.data() + offset, n), VectorMap(grads.data() + offset, n),
                        VectorMap(none.data(), 0));
    offset += n;
  }
  chain.reserve(8);
  Matrix in(3, 8), upstream(4, 8);
  for (Index k = 0; k < in.size(); ++k) in.data()[k] = static_cast<Scalar>(normal(rng));
  for (Index k = 0; k < upstream.size(); ++k) upstream.data()[k] = static_cast<Scalar>(normal(rng));
  ForwardContext ctx;
  ctx.batch = 8;
  const ConstMatrixMap input(in.data(), 3, 8);

  chain.forward(input, ctx);
  Matrix external_in(3, 8);
  MatrixMap external_in_map(external_in.data(), 3, 8);
  chain.backward(input, ConstMatrixMap(upstream.data(), 4, 8), &external_in_map, ctx);
  const Vector external_grads = grads;

  grads.setZero();
  chain.forward(input, ctx);
  MatrixMap own = chain.output_gradient(8);
  own = upstream;
  Matrix own_in(3, 8);
  MatrixMap own_in_map(own_in.data(), 3, 8);
  chain.backward(input, ConstMatrixMap(own.data(), 4, 8), &own_in_map, ctx);
  EXPECT_EQ(grads, external_grads);
  EXPECT_EQ(own_in, external_in);
  EXPECT_GT(external_grads.norm(), 0);
}

}  // namespace
}  // namespace gradlab
