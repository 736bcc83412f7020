// gradlab's rnn and lstm against PyTorch's nn.RNN and nn.LSTM: a small network
// built through the core API (Network over harness-built layers), forward and
// backward of its mean squared error on padded sequences, then
// tests/recurrent/torch_compat.py loads the saved safetensors weights into a
// torch.nn.ModuleDict({"0": nn.LSTM/nn.RNN, "1": nn.Linear}) with
// load_state_dict(strict=True), runs the same input (each example alone,
// truncated to its length) and compares the loss, the outputs and every
// parameter's .grad. PyTorch (Debian's python3-torch, /usr/bin/python3) is a
// test dependency: without it this test fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "conformance/layer_harness.hpp"
#include "gradlab/core/network.hpp"
#include "gradlab/core/weights.hpp"

using namespace gradlab;
using namespace gradlab::test;
using nlohmann::json;

namespace {

constexpr const char* kPython = "/usr/bin/python3";

struct CompatCase {
  std::string name;
  std::vector<std::string> layers;  // spec nodes
  std::string torch_kind;           // lstm | rnn_tanh | rnn_relu
  Index hidden, outputs;
  bool all;
};

void run_case(const CompatCase& cc) {
  SCOPED_TRACE(cc.name);
  for (const char* needed : {"rnn", "lstm", "dense"})
    if (!bundled_registry().find(ComponentKind::layer, needed)) GTEST_SKIP() << needed << " not built";
  const Index I = 3, T = 7, B = 3;
  const std::vector<std::int32_t> lengths{7, 4, 6};
  std::vector<NetworkLayer> layers;
  for (const auto& yaml : cc.layers) {
    ChildLayer built = build_layer(bundled_registry(), yaml);
    layers.push_back({YAML::Load(yaml)["type"].as<std::string>(), built.layer, built.init, "test"});
  }
  Network net(std::move(layers), {I, T}, Task::regression, cc.outputs, {},
              cc.all ? TargetAt::every_step : TargetAt::sequence_end);
  Rng rng(2024);
  net.initialize(*default_initializer(), rng);
  // Generic values everywhere, so that bias_ih and bias_hh differ.
  VectorMap params = net.parameters();
  for (Index k = 0; k < params.size(); ++k) params[k] += Scalar(std::uniform_real_distribution<double>(-0.3, 0.3)(rng));
  net.reserve(B);

  const Index out_steps = cc.all ? T : 1;
  const Matrix x = random_matrix(I, T * B, rng, -1.5, 1.5);  // time-major: column t * B + b
  const Matrix target = random_matrix(cc.outputs, out_steps * B, rng);
  BatchView batch;
  batch.inputs = x.data();
  batch.batch = B;
  batch.targets = target.data();
  batch.lengths = lengths.data();
  const double loss = net.loss_and_gradient(batch);
  Matrix out(cc.outputs, out_steps * B);
  net.forward_prefix(batch, net.layer_count(), MatrixMap(out.data(), out.rows(), out.cols()));

  TempDir dir;
  save_weights((dir / "weights.safetensors").string(), net);
  json j;
  j["kind"] = cc.torch_kind;
  j["sequence"] = cc.all ? "all" : "last";
  j["inputs"] = I, j["steps"] = T, j["batch"] = B, j["hidden"] = cc.hidden, j["outputs"] = cc.outputs;
  j["lengths"] = lengths;
  // PyTorch layout (T, B, features), and outputs/targets (out_steps, B, outputs).
  auto nested = [&](const Matrix& m, Index steps) {
    json a = json::array();
    for (Index t = 0; t < steps; ++t) {
      json row = json::array();
      for (Index b = 0; b < B; ++b) {
        std::vector<double> v(std::size_t(m.rows()));
        for (Index f = 0; f < m.rows(); ++f) v[std::size_t(f)] = m(f, t * B + b);
        row.push_back(v);
      }
      a.push_back(row);
    }
    return a;
  };
  j["x"] = nested(x, T);
  j["target"] = nested(target, out_steps);
  j["output"] = nested(out, out_steps);
  j["loss"] = loss;
  const VectorMap grads = net.gradients();
  json g = json::object();
  for (const auto& t : net.named_tensors(false)) {
    const Index offset = Index(t.data - params.data());
    std::vector<double> v(std::size_t(t.size));
    for (Index k = 0; k < t.size; ++k) v[std::size_t(k)] = grads[offset + k];
    g[t.name] = v;
  }
  j["grads"] = g;
  write_text(dir / "case.json", j.dump());

  const auto script = source_dir() / "tests" / "recurrent" / "torch_compat.py";
  const auto r = run_shell(std::string(kPython) + " " + script.string() + " " + dir.path().string());
  if (r.exit_code == 3)
    FAIL() << "PyTorch is a test dependency of the recurrent layers and " << kPython
           << " cannot import torch (Debian: apt-get install python3-torch; `make deps` installs it):\n"
           << r.out << r.err;
  EXPECT_EQ(r.exit_code, 0) << "gradlab and PyTorch disagree:\n" << r.out << r.err;
  EXPECT_NE(r.out.find("compared"), std::string::npos) << r.out << r.err;
}

TEST(TorchCompat, LstmSequenceAllThenDense) {
  run_case({"lstm_all", {"{type: lstm, units: 5, sequence: all}", "{type: dense, units: 3}"}, "lstm", 5, 3, true});
}

TEST(TorchCompat, LstmSequenceLastThenDense) {
  run_case({"lstm_last",
            {"{type: lstm, units: 4, forget_bias: 0.5, recurrent_init: {name: orthogonal}}", "{type: dense, units: 2}"},
            "lstm",
            4,
            2,
            false});
}

TEST(TorchCompat, TanhRnnSequenceLastThenDense) {
  run_case({"rnn_tanh_last", {"{type: rnn, units: 4}", "{type: dense, units: 2}"}, "rnn_tanh", 4, 2, false});
}

TEST(TorchCompat, ReluRnnSequenceAllThenDense) {
  run_case({"rnn_relu_all",
            {"{type: rnn, units: 4, activation: relu, sequence: all}", "{type: dense, units: 2}"},
            "rnn_relu",
            4,
            2,
            true});
}

}  // namespace
