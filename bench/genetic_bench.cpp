// genetic_bench: network evaluations per second of the `genetic` pretraining
// strategy (plugins/pretrain/genetic) on 1 and on 2 threads (RunOptions::threads,
// what `gradlab train --threads N` sets). bench/genetic_scaling.sh runs it and
// prints the speedup from the second thread.
//
// Case: digits (1437 training examples, fitness on all of them), a 64-32-10 tanh
// net (2410 weights), population 33 with elitism 1 (32 offspring per
// generation, an even split over 2 threads), 10 generations: 33 + 10 x 32 = 353
// evaluations per run. Only the strategy's own time counts (the run summary's
// timing.pretraining: breeding, evaluating, selecting), not loading the data or
// the epoch-0 evaluation around it; the results are bit-identical for any thread
// count (a test checks it), so only the time differs.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"

namespace {

using namespace gradlab;

constexpr int population = 33, elitism = 1, generations = 10;
constexpr double evaluations_per_run = population + generations * (population - elitism);

const char* spec_text = R"(data: {name: digits}
model: {layers: [{type: dense, units: 32}, {type: tanh}, {type: dense, units: 10}]}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.1}
pretrain: {name: genetic, population: 33, elitism: 1, generations: 10}
training: {epochs: 0, seed: 1}
)";

void evaluations(benchmark::State& state, const Registry* registry) {
  RunSpec spec;
  try {
    spec = parse_run_spec(spec_text, "genetic_bench", {}, *registry);
  } catch (const std::exception& e) {  // the genetic plugin is missing
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  RunOptions options;
  options.threads = static_cast<int>(state.range(0));
  options.dataset = load_dataset(spec, *registry);
  double seconds = 0, runs = 0;
  for (auto _ : state) {
    const auto result = train_run(spec, *registry, options);
    if (result.summary.status != RunStatus::ok) {
      state.SkipWithError(result.summary.message.c_str());
      break;
    }
    state.SetIterationTime(result.summary.timing.pretraining);
    seconds += result.summary.timing.pretraining;
    runs += 1;
  }
  // A plain counter, computed here: network evaluations per second of the
  // strategy's own time.
  state.counters["evaluations_per_second"] = seconds > 0 ? runs * evaluations_per_run / seconds : 0.0;
  state.SetLabel("digits 64-32-10 tanh, population 33, 10 generations: " +
                 std::to_string(static_cast<int>(evaluations_per_run)) + " evaluations per run");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  static Registry registry;
  for (const auto& problem : registry.load_standard())
    std::fprintf(stderr, "genetic_bench: plugin %s not loaded: %s\n", problem.path.c_str(), problem.message.c_str());

  benchmark::RegisterBenchmark("genetic/digits_64-32-10_tanh", evaluations, &registry)
      ->ArgName("threads")
      ->Arg(1)
      ->Arg(2)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);

  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
