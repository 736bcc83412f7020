// gradlab_bench: training throughput of the real training path (train_step:
// Network::gather, Network::loss_and_gradient, Optimizer::step) on synthetic
// data, in samples per second on one thread. bench/pytorch_mlp.py runs the same
// loops in PyTorch; bench/compare_pytorch.sh prints them side by side.
//
// Cases (the same in pytorch_mlp.py):
//   mlp_64-100x10-10_sigmoid/batch:32   64 inputs, 10 hidden dense+sigmoid layers of 100, 10 classes
//   mlp_784-1024x4-10_sigmoid/batch:256 784 inputs, 4 hidden dense+sigmoid layers of 1024, 10 classes
// Both: softmax cross-entropy, SGD lr 0.01, LeCun-normal weights, zero biases,
// inputs uniform in [0, 1), uniform random labels, batches drawn in a fixed
// shuffled order (a gather per step, as a training epoch does).
//   lstm_2-64-1_T100/batch:32  the adding problem's shapes: lstm (64 units,
//   forget gate, tanh) over 100 steps of 2 inputs, dense 1 on the last step,
//   mean squared error, SGD lr 0.01, inputs uniform in [-1, 1), targets in [0, 1).
//   rbm_cd1_784x500/batch:100  one CD-1 update of the rbm pretraining plugin's
//   RBM (plugins/pretrain/rbm/rbm.hpp) per step: 784 visible, 500 hidden units,
//   rbm.m's update (lr 0.1, momentum 0.5, weight cost 0.0002), W ~ 0.1 N(0, 1),
//   visible data uniform in [0, 1), 6000 examples, batches copied out in a
//   fixed shuffled order (as the plugin copies its batches).
#include <benchmark/benchmark.h>
#include <dlfcn.h>

#include <cstdio>
#include <gradlab/gemm.hpp>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../plugins/pretrain/rbm/rbm.hpp"
#include "gradlab/core/network.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"

namespace {

using namespace gradlab;

struct Case {
  std::string name;
  Index inputs;
  Index hidden;
  Index depth;  // dense+sigmoid layers; 0: one lstm layer
  Index classes;
  Index batch;
  Index examples;   // size of the synthetic training set
  Index steps = 1;  // > 1: a sequence case
};

std::string spec_text(const Case& c) {
  if (c.steps > 1)
    return "data: {name: digits}\n"
           "model:\n"
           "  layers:\n"
           "    - {type: lstm, units: " +
           std::to_string(c.hidden) +
           ", sequence: last}\n"
           "    - {type: dense, units: 1}\n"
           "init: {name: lecun_normal}\n"
           "optimizer: {name: sgd, lr: 0.01}\n"
           "training: {batch_size: " +
           std::to_string(c.batch) + "}\n";
  return "data: {name: digits}\n"
         "model:\n"
         "  layers:\n"
         "    - repeat: " +
         std::to_string(c.depth) +
         "\n"
         "      layers: [{type: dense, units: " +
         std::to_string(c.hidden) +
         "}, {type: sigmoid}]\n"
         "    - {type: dense, units: " +
         std::to_string(c.classes) +
         "}\n"
         "init: {name: lecun_normal}\n"
         "optimizer: {name: sgd, lr: 0.01}\n"
         "training: {batch_size: " +
         std::to_string(c.batch) + "}\n";
}

std::shared_ptr<Dataset> synthetic_sequences(const Case& c, std::uint64_t seed) {
  auto data = std::make_shared<Dataset>();
  data->name = "synthetic";
  data->task = Task::regression;
  data->input = {c.inputs, c.steps};
  data->outputs = 1;
  Rng rng(seed);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f), target(0.0f, 1.0f);
  data->train.examples = c.examples;
  data->train.inputs.resize(c.inputs, c.examples * c.steps);
  for (Index i = 0; i < data->train.inputs.size(); ++i) data->train.inputs.data()[i] = value(rng);
  data->train.targets.resize(1, c.examples);
  for (Index i = 0; i < c.examples; ++i) data->train.targets(0, i) = target(rng);
  return data;
}

std::shared_ptr<Dataset> synthetic(const Case& c, std::uint64_t seed) {
  if (c.steps > 1) return synthetic_sequences(c, seed);
  auto data = std::make_shared<Dataset>();
  data->name = "synthetic";
  data->task = Task::classification;
  data->input = {c.inputs, 1};
  data->outputs = c.classes;
  Rng rng(seed);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::uniform_int_distribution<int> label(0, static_cast<int>(c.classes) - 1);
  data->train.examples = c.examples;
  data->train.inputs.resize(c.inputs, c.examples);
  for (Index i = 0; i < data->train.inputs.size(); ++i) data->train.inputs.data()[i] = pixel(rng);
  data->train.labels.resize(static_cast<std::size_t>(c.examples));
  for (auto& l : data->train.labels) l = label(rng);
  return data;
}

void train_steps(benchmark::State& state, const Registry* registry, Case c) {
  RunSpec spec;
  try {
    spec = parse_run_spec(spec_text(c), "bench", {}, *registry);
  } catch (const std::exception& e) {  // a plugin the case needs is missing
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  auto data = synthetic(c, 1);
  auto network = build_network(spec, *registry, *data);
  Rng rng(1);
  auto init = registry->make_initializer(spec.init.name, spec.init.params);
  auto optimizer = registry->make_optimizer(spec.optimizer.name, spec.optimizer.params);
  network->reserve(c.batch);
  network->initialize(*init, rng);
  optimizer->reset(network->param_count());

  std::vector<std::int64_t> order(static_cast<std::size_t>(c.examples));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  Index first = 0;
  std::int64_t iteration = 0;
  double loss = 0.0;
  for (auto _ : state) {
    if (first + c.batch > c.examples) first = 0;
    // The training loop's own step: gather, loss_and_gradient, optimizer step.
    loss = train_step(*network, *optimizer, data->train, order.data() + first, c.batch,
                      StepInfo{.iteration = ++iteration});
    first += c.batch;
  }
  benchmark::DoNotOptimize(loss);
  if (!std::isfinite(loss)) state.SkipWithError("the loss is not finite");
  state.counters["samples_per_second"] =
      benchmark::Counter(double(state.iterations()) * double(c.batch), benchmark::Counter::kIsRate);
  state.SetLabel((c.steps > 1 ? "lstm, sgd, " : "sigmoid, sgd, ") + std::to_string(network->param_count()) + " params");
  // 6 flops per parameter use and sample (forward, weight gradient, input
  // gradient products): compare_pytorch.sh turns samples/s into GFLOP/s with
  // it. A recurrent layer uses each of its weights once per step.
  double uses = 0;
  for (Index i = 0; i < network->layer_count(); ++i)
    uses += double(network->layer_parameters(i).size()) * double(network->layer_input_shape(i).steps);
  state.counters["params"] = uses;
}

// CD-1 updates of one RBM. 10 V H flops per sample (three products for
// h0, v1, h1 and two for the statistics); the `params` counter is that over 6,
// so that compare_pytorch.sh's "6 x parameters" gives the RBM's GFLOP/s.
void rbm_cd1(benchmark::State& state, Index visible, Index hidden, Index batch, Index examples) {
  Rng rng(1);
  Matrix data(visible, examples);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  for (Index i = 0; i < data.size(); ++i) data.data()[i] = pixel(rng);
  std::vector<std::int64_t> order(static_cast<std::size_t>(examples));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  rbm::Rbm machine(visible, hidden);
  machine.initialize(Scalar(0.1), rng);
  machine.reserve(batch);
  Matrix v(visible, batch);
  const rbm::Step step{Scalar(0.1), Scalar(0.5), Scalar(0.0002), 1};
  Index first = 0;
  double error = 0.0;
  for (auto _ : state) {
    if (first + batch > examples) first = 0;
    for (Index j = 0; j < batch; ++j) v.col(j) = data.col(order[static_cast<std::size_t>(first + j)]);
    error += machine.update(ConstMatrixMap(v.data(), visible, batch), step, rng);
    first += batch;
  }
  benchmark::DoNotOptimize(error);
  if (!std::isfinite(error)) state.SkipWithError("the reconstruction error is not finite");
  state.counters["samples_per_second"] =
      benchmark::Counter(double(state.iterations()) * double(batch), benchmark::Counter::kIsRate);
  state.SetLabel("rbm, cd-1, " + std::to_string(visible * hidden + visible + hidden) + " params");
  state.counters["params"] = 10.0 * double(visible) * double(hidden) / 6.0;
}

// What runs gradlab's large products, for the JSON context (compare_pytorch.sh
// prints it): the backend, and for OpenBLAS the library this process really
// bound (dladdr of cblas_sgemm), its kernel and build.
void add_blas_context() {
  benchmark::AddCustomContext("gradlab_gemm_backend", gemm_backend);
#if GRADLAB_GEMM_BLAS
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cblas_sgemm), &info) && info.dli_fname)
    benchmark::AddCustomContext("gradlab_blas_library", info.dli_fname);
  benchmark::AddCustomContext("gradlab_blas_core", openblas_get_corename());
  benchmark::AddCustomContext("gradlab_blas_config", openblas_get_config());
#endif
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  add_blas_context();

  static Registry registry;
  for (const auto& problem : registry.load_standard())
    std::fprintf(stderr, "gradlab_bench: plugin %s not loaded: %s\n", problem.path.c_str(), problem.message.c_str());

  const std::vector<Case> cases{
      {"train/mlp_64-100x10-10_sigmoid/batch:32", 64, 100, 10, 10, 32, 2048},
      {"train/mlp_784-1024x4-10_sigmoid/batch:256", 784, 1024, 4, 10, 256, 4096},
      {"train/lstm_2-64-1_T100/batch:32", 2, 64, 0, 1, 32, 1024, 100},
  };
  for (const auto& c : cases) benchmark::RegisterBenchmark(c.name.c_str(), train_steps, &registry, c)->UseRealTime();
  benchmark::RegisterBenchmark("train/rbm_cd1_784x500/batch:100", rbm_cd1, 784, 500, 100, 6000)->UseRealTime();

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
