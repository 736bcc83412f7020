// Concurrent runs in one process on one const Registry (run.hpp's promise):
// runs on std::threads give bit for bit the results of the same runs one after
// the other, and the plugin factories serve several threads at once.
//
// `make test-tsan` runs these tests (Concurrency.*) under ThreadSanitizer; in
// the normal build they check determinism under concurrency.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

// Everything a run computes, as bits: its status, each epoch's losses,
// accuracies and layer probes, and the final weights and buffers. Wall times
// are left out.
struct Fingerprint {
  std::string status;
  std::vector<std::uint64_t> numbers;
  std::vector<std::string> tensor_names;
  std::vector<std::uint64_t> weights;
  bool operator==(const Fingerprint&) const = default;
};

std::uint64_t bits(double v) { return std::bit_cast<std::uint64_t>(v); }

Fingerprint fingerprint(const RunResult& result) {
  const auto& s = result.summary;
  Fingerprint f;
  f.status = std::string(to_string(s.status)) + " " + s.message;
  f.numbers.push_back(static_cast<std::uint64_t>(s.epochs_run));
  f.numbers.push_back(s.diverged_epoch ? static_cast<std::uint64_t>(*s.diverged_epoch) : ~std::uint64_t{0});
  for (const auto& e : s.epochs) {
    f.numbers.push_back(static_cast<std::uint64_t>(e.epoch));
    for (double v : {e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy}) f.numbers.push_back(bits(v));
    for (const auto& l : e.layers)
      for (double v : {l.grad_norm, l.weight_norm, l.saturation, static_cast<double>(l.param_count)})
        f.numbers.push_back(bits(v));
  }
  if (result.network) {
    for (const auto& t : result.network->named_tensors()) {
      f.tensor_names.push_back(t.name);
      for (Index i = 0; i < t.size; ++i) f.weights.push_back(bits(static_cast<double>(t.data[i])));
    }
  }
  return f;
}

// Runs job(i) for i in [0, count) on `threads` std::threads at once, each
// thread taking every threads-th index starting from its own; rethrows the
// first exception on the calling thread.
template <class Job>
void run_concurrently(std::size_t count, std::size_t threads, Job job) {
  std::vector<std::exception_ptr> errors(threads);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (std::size_t i = t; i < count; i += threads) job(i);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

const char* const digits_spec = R"(
data: digits
model:
  layers: [{type: dense, units: 24}, {type: batch_norm}, {type: tanh}, {type: dense, units: 10}]
optimizer: {name: adam, lr: 0.01}
training: {epochs: 2, batch_size: 64}
probes: {every: 1, batch: 128}
)";

// A small data set built in code (3 classes, 6 features, 48 examples), shared
// by every run of a test as studies share theirs.
std::shared_ptr<const Dataset> small_dataset() {
  auto d = std::make_shared<Dataset>();
  d->name = "concurrency";
  d->task = Task::classification;
  d->input = Shape{6, 1};
  d->outputs = 3;
  auto fill = [](Split& split, Index examples, int offset) {
    split.examples = examples;
    split.inputs.resize(6, examples);
    split.labels.resize(static_cast<std::size_t>(examples));
    for (Index e = 0; e < examples; ++e) {
      const int label = static_cast<int>((e + offset) % 3);
      split.labels[static_cast<std::size_t>(e)] = label;
      for (Index f = 0; f < 6; ++f)
        split.inputs(f, e) = static_cast<Scalar>(((f * 7 + e * 3 + offset) % 11) / 11.0 + (f == label ? 0.5 : 0.0));
    }
  };
  fill(d->train, 48, 0);
  fill(d->test, 12, 1);
  return d;
}

}  // namespace

// Four train_run calls at once on one const Registry, different seeds, each
// loading its own data set: every summary and every weight is bit-identical
// to the same run made alone.
TEST(Concurrency, TrainRunsOnOneRegistryMatchSequentialRuns) {
  const Registry& registry = test::bundled_registry();
  const RunSpec spec = test::spec_from_yaml(digits_spec);
  const std::vector<std::int64_t> seeds{1, 2, 3, 4};

  std::vector<Fingerprint> sequential;
  for (auto seed : seeds) {
    RunOptions options;
    options.seed = seed;
    sequential.push_back(fingerprint(train_run(spec, registry, options)));
    ASSERT_EQ(sequential.back().status, "ok ");
  }
  // Different seeds give different runs (else the comparison proves little).
  EXPECT_NE(sequential[0].weights, sequential[1].weights);

  std::vector<Fingerprint> concurrent(seeds.size());
  run_concurrently(seeds.size(), seeds.size(), [&](std::size_t i) {
    RunOptions options;
    options.seed = seeds[i];
    concurrent[i] = fingerprint(train_run(spec, registry, options));
  });
  for (std::size_t i = 0; i < seeds.size(); ++i) {
    EXPECT_EQ(concurrent[i].status, sequential[i].status) << "seed " << seeds[i];
    EXPECT_EQ(concurrent[i].tensor_names, sequential[i].tensor_names) << "seed " << seeds[i];
    EXPECT_TRUE(concurrent[i].numbers == sequential[i].numbers) << "summary differs, seed " << seeds[i];
    EXPECT_TRUE(concurrent[i].weights == sequential[i].weights) << "weights differ, seed " << seeds[i];
  }
}

// Every initializer and every optimizer of the registry, plus every bundled
// layer kind, made by the plugin factories from four threads at once (runs on
// one shared data set, one epoch each): each result equals the sequential one.
TEST(Concurrency, PluginFactoriesServeThreadsAtOnce) {
  const Registry& registry = test::bundled_registry();
  const std::string model =
      "model:\n"
      "  layers:\n"
      "    - {type: dense, units: 8}\n"
      "    - {type: batch_norm}\n"
      "    - {type: leaky_relu}\n"
      "    - {type: residual, layers: [{type: dense, units: 8}, {type: relu}]}\n"
      "    - {type: sigmoid}\n"
      "    - {type: dense, units: 8}\n"
      "    - {type: tanh}\n"
      "    - {type: dense, units: 3}\n"
      "training: {epochs: 1, batch_size: 16}\n"
      "probes: {batch: 16}\n";

  // One spec per initializer and per optimizer, with their defaults. A
  // component whose schema has required parameters is left out (none today).
  std::vector<RunSpec> specs;
  auto add = [&](const std::string& extra) {
    try {
      specs.push_back(test::spec_from_yaml("data: digits\n" + model + extra));
    } catch (const InputError&) {
    }
  };
  for (const auto* e : registry.entries(ComponentKind::initializer)) add("init: " + e->info.name + "\n");
  for (const auto* e : registry.entries(ComponentKind::optimizer)) add("optimizer: " + e->info.name + "\n");
  ASSERT_GE(specs.size(), 10u) << "expected the bundled initializers and optimizers";

  const auto data = small_dataset();
  auto run = [&](std::size_t i) {
    RunOptions options;
    options.dataset = data;
    options.seed = static_cast<std::int64_t>(i + 1);
    return fingerprint(train_run(specs[i], registry, options));
  };
  std::vector<Fingerprint> sequential;
  for (std::size_t i = 0; i < specs.size(); ++i) sequential.push_back(run(i));

  // Each of the four threads runs every spec, starting at a different one.
  const std::size_t threads = 4;
  std::vector<std::vector<Fingerprint>> concurrent(threads, std::vector<Fingerprint>(specs.size()));
  run_concurrently(threads, threads, [&](std::size_t t) {
    for (std::size_t k = 0; k < specs.size(); ++k) {
      const std::size_t i = (k + t * specs.size() / threads) % specs.size();
      concurrent[t][i] = run(i);
    }
  });
  for (std::size_t t = 0; t < threads; ++t)
    for (std::size_t i = 0; i < specs.size(); ++i)
      EXPECT_TRUE(concurrent[t][i] == sequential[i])
          << "thread " << t << ", spec " << i << ": init " << specs[i].init.name << ", optimizer "
          << specs[i].optimizer.name << " (" << concurrent[t][i].status << " vs " << sequential[i].status << ")";
}

// Spec parsing and validation (yaml-cpp, the schemas of the plugins) from
// several threads at once: the same text gives the same effective spec, and
// bad input the same error.
TEST(Concurrency, SpecParsingOnOneRegistry) {
  const std::string good = std::string(digits_spec) + "init: {name: uniform, low: -0.2, high: 0.2}\n";
  const std::string bad = "data: digits\nmodel: {layers: [{type: dense, unit: 3}]}\n";
  const auto expected = test::spec_from_yaml(good, {"optimizer.lr=0.5"}).effective.dump();
  std::string expected_error;
  try {
    test::spec_from_yaml(bad);
  } catch (const InputError& e) {
    expected_error = e.what();
  }
  ASSERT_FALSE(expected_error.empty());

  const std::size_t threads = 4;
  std::vector<int> mismatches(threads, 0);
  run_concurrently(threads, threads, [&](std::size_t t) {
    for (int round = 0; round < 25; ++round) {
      if (test::spec_from_yaml(good, {"optimizer.lr=0.5"}).effective.dump() != expected) ++mismatches[t];
      try {
        test::spec_from_yaml(bad);
        ++mismatches[t];
      } catch (const InputError& e) {
        if (e.what() != expected_error) ++mismatches[t];
      }
    }
  });
  for (std::size_t t = 0; t < threads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}
