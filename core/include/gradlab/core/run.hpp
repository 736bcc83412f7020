// One training run: spec -> data, network, optimizer -> summary.
//
// A run owns everything it touches (its network, optimizer state, random
// engine), so any number of runs may execute concurrently in one process on
// one const Registry.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gradlab/core/io.hpp"
#include "gradlab/core/network.hpp"
#include "gradlab/core/registry.hpp"
#include "gradlab/core/spec.hpp"

namespace gradlab {

// cancelled: stopped through RunOptions::cancel (a signal, the API) before it
// finished; not a result. The order is part of the MPI wire format.
enum class RunStatus { ok, diverged, failed, cancelled };
const char* to_string(RunStatus status);

// "classification" or "regression".
const char* to_string(Task task);
// The task's metric as summaries name it: "accuracy" for classification (the
// fraction of scored steps whose largest output is the label; rises), "mse"
// for regression (mean squared error, which is also the loss; falls). A
// record's train_<metric> and test_<metric> give it for either task.
const char* metric_name(Task task);

// One evaluated epoch (training.eval_every: epoch 0, every N-th, the last).
struct EpochRecord {
  std::int64_t epoch = 0;  // 0 = before any update (after pretraining)
  double train_loss = 0.0, train_accuracy = 0.0;
  double test_loss = 0.0, test_accuracy = 0.0;
  // The data set's own success criterion (Dataset::success), when it has one:
  // the fraction of test (train) examples solved.
  std::optional<double> success_rate, train_success_rate;
  std::vector<LayerProbe> layers;  // empty on epochs that were not probed
  double seconds = 0.0;            // wall time since the run started
};

// A probe after a training step (probes.every_steps): the same per-layer
// rows as an epoch's, taken on the same probe batch.
struct StepProbe {
  std::int64_t step = 0;   // the training steps taken so far (1-based, counted over the run)
  std::int64_t epoch = 0;  // the epoch that step belongs to
  std::vector<LayerProbe> layers;
};

struct ComponentProvenance {
  std::string kind, name, version, plugin, path;
  nlohmann::json params;
};

// Where a run's wall time went, in seconds; the parts add up to
// RunSummary::seconds (each interval of the run is counted in exactly one part).
struct RunTiming {
  double train_steps = 0.0;  // the epochs' training steps (and their shuffles)
  double evaluation = 0.0;   // loss and accuracy on both splits, on evaluated epochs
  double probes = 0.0;       // per-layer gradient probes
  double pretraining = 0.0;  // the pretraining strategy, if any
  double other = 0.0;        // the rest: epoch callbacks, checks between phases
};

struct RunSummary {
  RunStatus status = RunStatus::ok;
  // The data set's task: it names the metric (metric_name). A regression run's
  // records carry accuracy 0, which to_json and every report leave out.
  Task task = Task::classification;
  std::int64_t seed = 0;
  std::vector<ComponentProvenance> plugins;
  std::vector<EpochRecord> epochs;
  std::vector<StepProbe> step_probes;  // probes.every_steps > 0: in step order
  std::int64_t epochs_run = 0;
  std::optional<std::int64_t> diverged_epoch;  // epoch in which a NaN/Inf appeared
  std::string message;                         // why it diverged, failed or stopped
  // training.early_stopping: the epoch after which the run stopped early (none
  // when it ran all its epochs), the best evaluated epoch, and whether the
  // model ends with that epoch's weights (restore_best).
  std::optional<std::int64_t> stopped_epoch, best_epoch;
  bool restored_best = false;
  double seconds = 0.0;
  RunTiming timing;
  // What the pretraining strategy recorded (PretrainContext::record): one
  // series of values per metric, in the order recorded.
  std::map<std::string, std::vector<double>> pretraining;
  nlohmann::json spec;  // the effective spec
};

nlohmann::json to_json(const RunSummary& summary);
// The record the run's final model matches: the best epoch's when early
// stopping restored it, else the last; null when nothing was recorded.
const EpochRecord* final_epoch(const RunSummary& summary);

struct RunOptions {
  // Called after each epoch record (epoch 0 included), from the running thread.
  std::function<void(const EpochRecord&)> on_epoch;
  std::function<void(const std::string&)> log;
  const std::atomic<bool>* cancel = nullptr;
  // Start from these weights instead of the initializer (after validation).
  std::string load_weights;
  // An already loaded data set (studies share one across runs); else loaded from the spec.
  std::shared_ptr<const Dataset> dataset;
  // Overrides spec.training.seed (studies derive one per run).
  std::optional<std::int64_t> seed;
  // The memory the run may plan to use, in bytes (data set and model); a data
  // file or model estimated beyond it is refused as bad input before anything
  // that size is allocated. 0: default_memory_budget().
  std::uint64_t max_memory = 0;
  // The most threads the run may use at once (a pretraining strategy's
  // parallel work; training steps use one). 0: all cores.
  int threads = 0;
};

// The ComponentSource a pretraining strategy gets (and a test or host program
// may use): components from `registry`, their parameters checked as a spec's
// are (unknown keys, types, bounds, choices; std::invalid_argument naming the
// parameter) and the defaults filled in.
class RegistryComponents final : public ComponentSource {
 public:
  explicit RegistryComponents(const Registry& registry);
  std::shared_ptr<Layer> make_layer(const std::string& name, const Params& params) const override;
  std::shared_ptr<Initializer> make_initializer(const std::string& name, const Params& params) const override;
  std::shared_ptr<Optimizer> make_optimizer(const std::string& name, const Params& params) const override;

 private:
  const Registry& registry_;
};

struct RunResult {
  RunSummary summary;
  std::shared_ptr<Network> network;
};

// Builds the data set and network (throwing InputError on bad input, before any
// training), then trains. Numerical blow-up ends the run with status diverged,
// and an exception from a plugin while it trains (or a failed allocation)
// with status failed and the exception's message; neither throws, and the
// epochs recorded before stay in the summary.
RunResult train_run(const RunSpec& spec, const Registry& registry, const RunOptions& options = {});

// Loads a data set as the spec describes it, within max_bytes of memory, for
// a run with seed `run_seed` (default: the spec's training.seed; it reaches
// only data sets that register uses_run_seed).
std::shared_ptr<const Dataset> load_dataset(const RunSpec& spec, const Registry& registry,
                                            std::uint64_t max_bytes = ~std::uint64_t(0),
                                            std::optional<std::int64_t> run_seed = std::nullopt);

// Builds the network for a spec and data set, configured but not initialized;
// refuses (InputError naming the layer) a model estimated beyond max_bytes.
std::shared_ptr<Network> build_network(const RunSpec& spec, const Registry& registry, const Dataset& data,
                                       std::uint64_t max_bytes = ~std::uint64_t(0));

// One step of the training loop: gathers examples order[0 .. count) of `split`,
// computes the mean loss and its gradient, clips the gradient (each entry to
// [-clip_value, clip_value], then the whole to L2 norm clip_norm; 0 = off) and
// lets the optimizer update the parameters. Returns the batch loss; when it is
// not finite, nothing is updated. After the first step (network reserved for
// `count`, optimizer reset) it allocates no memory: tests/allocation_test.cpp.
// `info` says where the step falls (iteration, epoch, the schedule's
// lr_scale); its loss is filled in here.
double train_step(Network& network, Optimizer& optimizer, const Split& split, const std::int64_t* order, Index count,
                  StepInfo info, double clip_value = 0.0, double clip_norm = 0.0);

}  // namespace gradlab
