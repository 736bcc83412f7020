// A host application: gradlab used as a library, without the gradlab CLI.
//
//   gradlab_host_app [SPEC.yaml] [KEY=VALUE ...]
//
// It loads the plugins into its own Registry, trains one run (the spec file,
// or a small built-in spec) printing progress from the on_epoch callback, and
// then shows that runs are independent: two runs (seeds 1 and 2) trained at
// the same time on two threads over one const Registry give exactly the
// results they give when trained one after the other. KEY=VALUE arguments
// override spec keys, like the CLI's --set (e.g. training.epochs=3).
//
// Exit code: 0 on success, 1 if the concurrent runs differ, 2 on bad input.
#include <cstdio>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"

namespace {

// Depth 3, width 64, logistic sigmoid: trains in well under a second, and the
// gradient norms already shrink layer by layer toward the input.
const char* builtin_spec = R"(
data: {name: digits}
model:
  layers:
    - repeat: 3
      layers: [{type: dense, units: 64}, {type: sigmoid}]
    - {type: dense, units: 10}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 20, batch_size: 32, seed: 1}
)";

// Two runs agree when every recorded number is the same (wall times aside)
// and they end with the same weights.
bool same_result(const gradlab::RunResult& a, const gradlab::RunResult& b) {
  const auto &x = a.summary, &y = b.summary;
  if (x.status != y.status || x.epochs.size() != y.epochs.size()) return false;
  for (std::size_t e = 0; e < x.epochs.size(); ++e) {
    const auto &p = x.epochs[e], &q = y.epochs[e];
    if (p.train_loss != q.train_loss || p.test_accuracy != q.test_accuracy || p.layers.size() != q.layers.size())
      return false;
    for (std::size_t l = 0; l < p.layers.size(); ++l)
      if (p.layers[l].grad_norm != q.layers[l].grad_norm) return false;
  }
  return a.network->parameters() == b.network->parameters();
}

}  // namespace

int main(int argc, char** argv) try {
  // 1. A registry of our own, filled by the standard plugin search
  //    (GRADLAB_PLUGIN_PATH, then the plugins installed next to the core).
  gradlab::Registry registry;
  for (const auto& problem : registry.load_standard())
    std::cerr << "warning: plugin " << problem.path << ": " << problem.message << "\n";
  std::cout << "loaded " << registry.plugins().size() << " plugins\n";

  // 2. A run spec: a file from the command line, or the built-in text.
  std::vector<std::string> overrides;
  std::string spec_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.find('=') != std::string::npos)
      overrides.push_back(arg);
    else
      spec_file = arg;
  }
  const gradlab::RunSpec spec = spec_file.empty()
                                    ? gradlab::parse_run_spec(builtin_spec, "builtin.yaml", overrides, registry)
                                    : gradlab::load_run_spec(spec_file, overrides, registry);

  // 3. Train, watching each epoch as it finishes.
  gradlab::RunOptions options;
  options.on_epoch = [](const gradlab::EpochRecord& r) {
    std::printf("epoch %3lld  train loss %.4f  test accuracy %.3f\n", static_cast<long long>(r.epoch), r.train_loss,
                r.test_accuracy);
  };
  const gradlab::RunResult first = gradlab::train_run(spec, registry, options);
  const auto& summary = first.summary;
  std::printf("status %s, final test accuracy %.3f\n", gradlab::to_string(summary.status),
              summary.epochs.back().test_accuracy);
  std::printf("gradient norms before training (epoch 0):\n");
  for (const auto& layer : summary.epochs.front().layers)
    if (layer.param_count > 0)
      std::printf("  layer %2lld %-10s %.3e\n", static_cast<long long>(layer.index), layer.type.c_str(),
                  layer.grad_norm);

  // 4. Runs own all their state: two at once on one const Registry give the
  //    same results as the same two one after the other.
  const gradlab::Registry& shared = registry;
  gradlab::RunOptions seed1, seed2;
  seed1.seed = 1;
  seed2.seed = 2;
  const auto sequential1 = gradlab::train_run(spec, shared, seed1);
  const auto sequential2 = gradlab::train_run(spec, shared, seed2);
  gradlab::RunResult concurrent1, concurrent2;
  std::thread t1([&] { concurrent1 = gradlab::train_run(spec, shared, seed1); });
  std::thread t2([&] { concurrent2 = gradlab::train_run(spec, shared, seed2); });
  t1.join();
  t2.join();
  const bool same = same_result(sequential1, concurrent1) && same_result(sequential2, concurrent2);
  std::printf("two concurrent runs %s the sequential ones\n", same ? "match" : "DIFFER FROM");
  return same ? 0 : 1;
} catch (const gradlab::InputError& e) {
  std::cerr << "error: " << e.what() << "\n";
  return 2;
}
