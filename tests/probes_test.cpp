// The layer probes' finer readings: output_grad_norm (the backpropagated error
// at each layer's output), update_ratio (|dw|/|w| over the last step),
// probes.every_steps (probes between epochs), and `gradlab train --json -`.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"
#include "gradlab/core/study/distributed.hpp"
#include "test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

// dense -> tanh -> dense on 10 examples of 4 features, 3 classes.
const char* tiny_spec = R"(data: {name: digits}
model: {layers: [{type: dense, units: 5}, {type: tanh}, {type: dense, units: 3}]}
optimizer: {name: sgd, lr: 0.3}
training: {epochs: 3, batch_size: 3, shuffle: false}
probes: {batch: 10}
)";

std::shared_ptr<Dataset> tiny_data() {
  auto data = std::make_shared<Dataset>();
  data->name = "tiny";
  data->input = {4, 1};
  data->outputs = 3;
  data->train.examples = 10;
  data->train.inputs = Matrix(4, 10);
  for (Index c = 0; c < 10; ++c)
    for (Index r = 0; r < 4; ++r) data->train.inputs(r, c) = Scalar(std::sin(1.3 * double(c) + 0.7 * double(r)));
  data->train.labels = {0, 1, 2, 1, 0, 2, 2, 1, 0, 1};
  data->test = data->train;
  return data;
}

std::shared_ptr<Network> initialized(const RunSpec& spec, const Dataset& data) {
  auto net = build_network(spec, bundled_registry(), data);
  auto init = bundled_registry().make_initializer(spec.init.name, spec.init.params);
  Rng rng(7);
  net->initialize(*init, rng);
  return net;
}

Matrix weight_of(Network& net, const std::string& name) {
  for (const auto& t : net.named_tensors(false))
    if (t.name == name) return ConstRowMatrixMap(t.data, t.shape[0], t.shape[1]);
  ADD_FAILURE() << "no tensor " << name;
  return Matrix();
}

template <class M>
double norm(const M& m) {
  return std::sqrt(double(m.template cast<double>().squaredNorm()));
}

TEST(OutputGradNorm, IsTheLossGradientAtTheLastLayerAndTheChainBelowIt) {
  const RunSpec spec = spec_from_yaml(tiny_spec);
  const auto data = tiny_data();
  auto net = initialized(spec, *data);
  const BatchView batch = net->gather_range(data->train, 0, 10);
  const auto rows = net->probe(batch);
  ASSERT_EQ(rows.size(), 3u);

  // By hand: softmax cross-entropy's gradient (softmax - onehot) / n on the logits.
  Matrix logits(3, 10), hidden(5, 10);
  net->forward_prefix(batch, 3, MatrixMap(logits.data(), 3, 10));
  net->forward_prefix(batch, 2, MatrixMap(hidden.data(), 5, 10));
  Matrix g_out(3, 10);
  for (Index c = 0; c < 10; ++c) {
    const Eigen::VectorXd z = logits.col(c).cast<double>();
    const Eigen::VectorXd p = (z.array() - z.maxCoeff()).exp().matrix();
    for (Index k = 0; k < 3; ++k)
      g_out(k, c) = Scalar((p[k] / p.sum() - (k == data->train.labels[std::size_t(c)] ? 1.0 : 0.0)) / 10.0);
  }
  EXPECT_NEAR(rows[2].output_grad_norm, norm(g_out), 1e-5 * norm(g_out));
  // The tanh layer's output feeds the last dense layer: W2^T g.
  const Matrix g_hidden = weight_of(*net, "2.weight").transpose() * g_out;
  EXPECT_NEAR(rows[1].output_grad_norm, norm(g_hidden), 1e-5 * norm(g_hidden));
  // The first dense layer's output feeds tanh: g * (1 - tanh^2).
  const Matrix g_first = g_hidden.array() * (Scalar(1) - hidden.array().square());
  EXPECT_NEAR(rows[0].output_grad_norm, norm(g_first), 1e-5 * norm(g_first));
  // An activation has no parameters (grad_norm 0) but the error flows through it.
  EXPECT_EQ(rows[1].param_count, 0);
  EXPECT_EQ(rows[1].grad_norm, 0.0);
  EXPECT_GT(rows[1].output_grad_norm, 0.0);
  EXPECT_NE(rows[1].output_grad_norm, rows[0].output_grad_norm);
  for (const auto& r : rows) EXPECT_FALSE(r.update_ratio) << "no step was taken";
}

TEST(UpdateRatio, IsTheStepOverTheWeightsAndForSgdLrTimesGradOverWeights) {
  const RunSpec spec = spec_from_yaml(tiny_spec);
  const auto data = tiny_data();
  auto net = initialized(spec, *data);
  auto sgd = bundled_registry().make_optimizer(spec.optimizer.name, spec.optimizer.params);
  sgd->reset(net->param_count(), net->param_groups());
  std::vector<std::int64_t> order{0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const Vector before = net->parameters();
  net->loss_and_gradient(net->gather(data->train, order.data(), 10));
  const Vector grad = net->gradients();
  train_step(*net, *sgd, data->train, order.data(), 10, StepInfo{});
  const auto rows = net->probe(net->gather_range(data->train, 0, 10), &before);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_FALSE(rows[1].update_ratio) << "tanh has no parameters";
  for (Index i : {0, 2}) {
    const auto& row = rows[std::size_t(i)];
    ASSERT_TRUE(row.update_ratio) << i;
    const VectorMap after = net->layer_parameters(i);
    const auto w = before.segment(i == 0 ? 0 : 25, after.size());
    const double expected = norm(after - w) / norm(w);
    EXPECT_NEAR(*row.update_ratio, expected, 1e-5 * expected) << i;
    const double sgd_expected = 0.3 * norm(grad.segment(i == 0 ? 0 : 25, after.size())) / norm(w);
    EXPECT_NEAR(*row.update_ratio, sgd_expected, 1e-4 * sgd_expected) << i;
  }
}

RunResult run_tiny(const std::vector<std::string>& overrides) {
  const RunSpec spec = spec_from_yaml(tiny_spec, overrides);
  RunOptions options;
  options.dataset = tiny_data();
  return train_run(spec, bundled_registry(), options);
}

TEST(EverySteps, ProbesAfterEveryNthStepWithoutChangingTheTraining) {
  // 10 examples in batches of 3: 4 steps an epoch, 12 in 3 epochs.
  const RunResult with = run_tiny({"probes.every_steps=5"});
  ASSERT_EQ(with.summary.status, RunStatus::ok) << with.summary.message;
  const auto& probes = with.summary.step_probes;
  ASSERT_EQ(probes.size(), 2u);
  EXPECT_EQ(probes[0].step, 5);
  EXPECT_EQ(probes[0].epoch, 2);
  EXPECT_EQ(probes[1].step, 10);
  EXPECT_EQ(probes[1].epoch, 3);
  for (const auto& p : probes) {
    ASSERT_EQ(p.layers.size(), 3u);
    EXPECT_TRUE(p.layers[0].update_ratio && p.layers[2].update_ratio);
    EXPECT_FALSE(p.layers[1].update_ratio);
    EXPECT_GT(p.layers[1].output_grad_norm, 0.0);
  }
  EXPECT_EQ(run_tiny({"probes.every_steps=1"}).summary.step_probes.size(), 12u);
  const RunResult without = run_tiny({});
  EXPECT_TRUE(without.summary.step_probes.empty());
  EXPECT_EQ(Vector(with.network->parameters()), Vector(without.network->parameters()))
      << "a probe between steps changed the training";
  // Epoch 0 took no step; every later probed epoch did.
  ASSERT_EQ(without.summary.epochs.size(), 4u);
  EXPECT_FALSE(without.summary.epochs[0].layers[0].update_ratio);
  for (std::size_t e = 1; e < 4; ++e) EXPECT_TRUE(without.summary.epochs[e].layers[2].update_ratio) << e;
  EXPECT_GT(with.summary.timing.probes, 0.0);
}

TEST(UpdateRatio, InARunIsTheLastStepBetweenTwoRunsWeights) {
  // One step an epoch: the weights after epoch 1 are those before the last step of epoch 2.
  const RunResult one = run_tiny({"training.epochs=1", "training.batch_size=10"});
  const RunResult two = run_tiny({"training.epochs=2", "training.batch_size=10", "probes.every_steps=1"});
  ASSERT_EQ(two.summary.epochs.size(), 3u);
  ASSERT_EQ(two.summary.step_probes.size(), 2u);
  for (Index i : {0, 2}) {
    const Vector w1 = one.network->layer_parameters(i), w2 = two.network->layer_parameters(i);
    const double expected = norm(w2 - w1) / norm(w1);
    const auto& epoch_row = two.summary.epochs[2].layers[std::size_t(i)];
    const auto& step_row = two.summary.step_probes[1].layers[std::size_t(i)];
    ASSERT_TRUE(epoch_row.update_ratio && step_row.update_ratio);
    EXPECT_NEAR(*epoch_row.update_ratio, expected, 1e-6 * expected) << i;
    EXPECT_EQ(*step_row.update_ratio, *epoch_row.update_ratio) << i;
  }
}

TEST(StepProbes, GoIntoTheJsonAndOverTheWire) {
  const RunResult r = run_tiny({"probes.every_steps=4"});
  const auto json = to_json(r.summary);
  ASSERT_EQ(json["step_probes"].size(), 3u);
  EXPECT_EQ(json["step_probes"][1]["step"], 8);
  EXPECT_EQ(json["step_probes"][1]["epoch"], 2);
  const auto& layer = json["step_probes"][1]["layers"][2];
  EXPECT_EQ(layer["output_grad_norm"], r.summary.step_probes[1].layers[2].output_grad_norm);
  EXPECT_EQ(layer["update_ratio"], *r.summary.step_probes[1].layers[2].update_ratio);
  EXPECT_FALSE(json["step_probes"][1]["layers"][1].contains("update_ratio"));
  EXPECT_FALSE(json["epochs"][0]["layers"][0].contains("update_ratio"));
  EXPECT_TRUE(json["epochs"][3]["layers"][0].contains("update_ratio"));

  const RunSummary back = study::decode_summary(study::encode_summary(r.summary));
  ASSERT_EQ(back.step_probes.size(), 3u);
  EXPECT_EQ(to_json(back), json);
}

const char* cli_spec = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 2, batch_size: 64}
)";

TEST(JsonToStdout, StdoutIsTheJsonAndTheSummaryLineGoesToStderr) {
  TempDir dir;
  write_text(dir / "s.yaml", cli_spec);
  const auto r = run_cli({"train", (dir / "s.yaml").string(), "--json", "-", "--save-weights",
                          (dir / "w.safetensors").string(), "--show-layers"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto json = nlohmann::json::parse(r.out);  // throws (fails) on anything but JSON
  EXPECT_EQ(json["status"], "ok");
  EXPECT_EQ(json["final"]["epochs_run"], 2);
  EXPECT_TRUE(std::filesystem::exists(dir / "w.safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir / "-"));
  bool summary = false, table = false;
  for (const auto& line : lines_of(r.err)) {
    if (line.rfind("status ok", 0) == 0) {
      summary = true;
      EXPECT_NE(line.find("|u_first|/|u_last| "), std::string::npos) << line;
      EXPECT_NE(line.find("@1 "), std::string::npos) << line;
      EXPECT_NE(line.find("@2 "), std::string::npos) << line;
    }
    if (line.find("out_grad@0") != std::string::npos) table = true;
  }
  EXPECT_TRUE(summary) << r.err;
  EXPECT_TRUE(table) << r.err;

  // Without '-' the summary line stays on stdout.
  const auto file = run_cli({"train", (dir / "s.yaml").string(), "--json", (dir / "out.json").string(), "-q"});
  ASSERT_EQ(file.exit_code, 0) << file.err;
  EXPECT_EQ(file.out.rfind("status ok", 0), 0u) << file.out;
  const auto from_file = nlohmann::json::parse(read_text(dir / "out.json"));
  EXPECT_EQ(from_file["final"]["train_loss"], json["final"]["train_loss"]);  // the same run, written elsewhere
  EXPECT_EQ(from_file["epochs"][2]["layers"], json["epochs"][2]["layers"]);
}

TEST(JsonToStdout, AnUnwritableJsonPathIsStillBadInput) {
  TempDir dir;
  write_text(dir / "s.yaml", cli_spec);
  const auto r = run_cli({"train", (dir / "s.yaml").string(), "--json", (dir / "no" / "such" / "out.json").string()});
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("--json"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST(EverySteps, ANegativeValueIsOneLineNamingThePlace) {
  TempDir dir;
  write_text(dir / "s.yaml", std::string(cli_spec) + "probes: {every_steps: -1}\n");
  const auto r = run_cli({"train", (dir / "s.yaml").string(), "--json", "-"});
  EXPECT_EQ(r.exit_code, 2);
  ASSERT_EQ(lines_of(r.err).size(), 1u) << r.err;
  EXPECT_NE(r.err.find("s.yaml:6:"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("every_steps"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  const auto set = run_cli({"train", (dir / "s.yaml").string(), "--set", "probes.every_steps=-2"});
  EXPECT_EQ(set.exit_code, 2);
  ASSERT_EQ(lines_of(set.err).size(), 1u) << set.err;
  EXPECT_NE(set.err.find("--set"), std::string::npos) << set.err;
}

}  // namespace

namespace {

// digits has 1437 training examples: 3 steps an epoch, 6 in all, probed after steps 3 and 6.
const char* step_run = R"(data: {name: digits}
model: {layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 2, batch_size: 500}
probes: {every: 1, batch: 32, every_steps: 3}
)";

std::string step_study() {
  std::string study = "study: steps\nbase:\n";
  for (const auto& line : lines_of(step_run)) study += "  " + line + "\n";
  return study + "variants:\n  plain: {}\nseeds: 2\nseed: 5\n";
}

// The study database keeps the step probes and the new layer values: the
// export's rows equal the summaries of the same runs made with `gradlab train --json -`.
TEST(StepProbes, GoThroughTheStudyDatabaseToTheExport) {
  TempDir dir;
  write_text(dir / "s.yaml", step_study());
  write_text(dir / "run.yaml", step_run);
  const auto run = run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q"});
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto steps = run_cli({"export", (dir / "out").string(), "--format", "json", "--table", "steps"});
  ASSERT_EQ(steps.exit_code, 0) << steps.err;
  const auto layers = run_cli({"export", (dir / "out").string(), "--format", "json", "--table", "layers"});
  ASSERT_EQ(layers.exit_code, 0) << layers.err;
  const auto step_rows = nlohmann::json::parse(steps.out), layer_rows = nlohmann::json::parse(layers.out);
  // 2 runs x 2 probed steps x (3 layers x 4 probes + update_ratio of the 2 dense layers)
  EXPECT_EQ(step_rows.size(), 2u * 2 * (3 * 4 + 2));
  std::map<std::string, nlohmann::json> summaries;
  for (std::int64_t seed_index : {0, 1}) {
    const std::string key = "plain/seed=" + std::to_string(seed_index);
    nlohmann::json seed;
    for (const auto& row : step_rows)
      if (row["key"] == key) seed = row["seed"];
    ASSERT_FALSE(seed.is_null()) << key;
    // The study's base is the run spec: train it alone with the run's seed.
    const auto alone =
        run_cli({"train", (dir / "run.yaml").string(), "--set", "training.seed=" + seed.dump(), "--json", "-", "-q"});
    ASSERT_EQ(alone.exit_code, 0) << alone.err;
    summaries[key] = nlohmann::json::parse(alone.out);
  }
  for (const auto& [key, s] : summaries) {
    ASSERT_EQ(s["step_probes"].size(), 2u) << key;
    EXPECT_EQ(s["step_probes"][0]["step"], 3);
    EXPECT_EQ(s["step_probes"][1]["epoch"], 2);
  }
  for (const auto& row : step_rows) {
    const auto& s = summaries.at(row["key"].get<std::string>());
    const nlohmann::json* probe = nullptr;
    for (const auto& p : s["step_probes"])
      if (p["step"] == row["step"]) probe = &p;
    ASSERT_NE(probe, nullptr) << row.dump();
    EXPECT_EQ(row["epoch"], (*probe)["epoch"]);
    const auto& layer = (*probe)["layers"].at(row["layer"].get<std::size_t>());
    EXPECT_EQ(row["value"], layer[row["probe"].get<std::string>()]) << row.dump();
  }
  std::size_t new_values = 0;
  for (const auto& row : layer_rows) {
    const auto& s = summaries.at(row["key"].get<std::string>());
    const auto& layer = s["epochs"].at(row["epoch"].get<std::size_t>())["layers"].at(row["layer"].get<std::size_t>());
    EXPECT_EQ(row["value"], layer[row["probe"].get<std::string>()]) << row.dump();
    new_values += row["probe"] == "output_grad_norm" || row["probe"] == "update_ratio";
  }
  EXPECT_EQ(new_values, 2u * (3 * 3 + 2 * 2));  // 2 runs x (3 epochs x 3 layers + 2 epochs x 2 dense layers)
}

}  // namespace
