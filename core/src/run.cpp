#include "gradlab/core/run.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <numeric>
#include <sstream>
#include <thread>
#include <variant>

#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/training/early_stopping.hpp"
#include "gradlab/core/weights.hpp"
#include "param_checks.hpp"

namespace gradlab {

const char* to_string(RunStatus status) {
  switch (status) {
    case RunStatus::ok: return "ok";
    case RunStatus::diverged: return "diverged";
    case RunStatus::failed: return "failed";
    case RunStatus::cancelled: return "cancelled";
  }
  return "?";
}

const char* to_string(Task task) { return task == Task::regression ? "regression" : "classification"; }

const char* metric_name(Task task) { return task == Task::regression ? "mse" : "accuracy"; }

namespace {

// Checks a Params built in code (by a pretraining strategy) against a schema
// as a spec's values are checked: unknown keys, types (an integer is accepted
// for a real), finiteness, bounds and choices; then fills the defaults.
// Throws std::invalid_argument naming the parameter and `what`.
Params complete_params(const std::string& what, const Schema& schema, const Params& given) {
  std::map<std::string, ParamValue> values = given.values();
  // Named references, not a structured binding: clang 14 cannot capture one in a lambda.
  for (auto& entry : values) {
    const std::string& key = entry.first;
    ParamValue& value = entry.second;
    const auto spec =
        std::find_if(schema.begin(), schema.end(), [&k = key](const ParamSpec& p) { return p.name == k; });
    if (spec == schema.end()) throw std::invalid_argument("unknown parameter '" + key + "' for " + what);
    auto bad = [&](const std::string& expected) {
      return std::invalid_argument("'" + key + "' of " + what + " must be " + expected);
    };
    switch (spec->type) {
      case ParamType::boolean:
        if (!std::holds_alternative<bool>(value)) throw bad("a boolean");
        break;
      case ParamType::integer:
        if (!std::holds_alternative<std::int64_t>(value)) throw bad("an integer");
        break;
      case ParamType::real:
        if (std::holds_alternative<std::int64_t>(value)) value = static_cast<double>(std::get<std::int64_t>(value));
        if (!std::holds_alternative<double>(value)) throw bad("a number");
        if (!std::isfinite(std::get<double>(value))) throw bad("a finite number");
        break;
      case ParamType::string:
        if (!std::holds_alternative<std::string>(value)) throw bad("a string");
        break;
      case ParamType::choice: {
        if (!std::holds_alternative<std::string>(value)) throw bad("a string");
        const auto& text = std::get<std::string>(value);
        if (std::find(spec->choices.begin(), spec->choices.end(), text) == spec->choices.end())
          throw std::invalid_argument("'" + key + "' of " + what + " must be one of " + choices_text(*spec) +
                                      ", got '" + text + "'");
        break;
      }
    }
    if (spec->type == ParamType::integer || spec->type == ParamType::real) {
      const double x = spec->type == ParamType::integer ? static_cast<double>(std::get<std::int64_t>(value))
                                                        : std::get<double>(value);
      if (!within_bounds(*spec, x)) {
        std::ostringstream text;
        text << "'" << key << "' of " << what << " is " << x << ", outside its bounds " << bounds_text(*spec);
        throw std::invalid_argument(text.str());
      }
    }
  }
  for (const auto& p : schema)
    if (!values.count(p.name)) {
      if (p.required()) throw std::invalid_argument(what + " needs '" + p.name + "'");
      values[p.name] = *p.default_value;
    }
  return Params(std::move(values));
}

ComponentProvenance provenance(const Registry& registry, ComponentKind kind, const ComponentChoice& choice) {
  ComponentProvenance p;
  p.kind = to_string(kind);
  p.name = choice.name;
  if (const auto* e = registry.find(kind, choice.name)) {
    p.version = e->plugin->version;
    p.plugin = e->plugin->name;
    p.path = e->plugin->path;
  }
  p.params = params_to_json(choice.params);
  return p;
}

void collect_layer_provenance(const Registry& registry, const std::vector<LayerSpec>& layers,
                              std::vector<ComponentProvenance>& out) {
  for (const auto& l : layers) {
    auto p = provenance(registry, ComponentKind::layer, l.layer);
    // One entry per distinct (component, parameters): a 10-layer stack of
    // identical dense layers is one line of provenance, not ten.
    bool seen = std::any_of(out.begin(), out.end(), [&](const ComponentProvenance& q) {
      return q.kind == p.kind && q.name == p.name && q.params == p.params;
    });
    if (!seen) out.push_back(p);
    std::vector<const ComponentChoice*> inits;
    if (l.init) inits.push_back(&*l.init);
    for (const auto& part : l.part_inits) inits.push_back(&part.second);
    for (const auto* init : inits) {
      auto ip = provenance(registry, ComponentKind::initializer, *init);
      bool seen_init = std::any_of(out.begin(), out.end(), [&](const ComponentProvenance& q) {
        return q.kind == ip.kind && q.name == ip.name && q.params == ip.params;
      });
      if (!seen_init) out.push_back(ip);
    }
    collect_layer_provenance(registry, l.children, out);
  }
}

// A factory may refuse a combination its schema cannot express (uniform's
// low > high) with std::invalid_argument: that is bad input at the spec place.
template <class Make>
auto make_at(const ComponentChoice& choice, const char* kind, Make&& make) {
  try {
    return make();
  } catch (const InputError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    if (message.find("'" + choice.name + "'") != std::string::npos) throw InputError(choice.where, message);
    throw InputError(choice.where, std::string(kind) + " '" + choice.name + "': " + message);
  }
}

std::shared_ptr<Layer> make_layer(const Registry& registry, const LayerSpec& spec,
                                  std::shared_ptr<const Initializer>& init) {
  std::vector<ChildLayer> children;
  for (const auto& child : spec.children) {
    ChildLayer c;
    c.layer = make_layer(registry, child, c.init);
    children.push_back(std::move(c));
  }
  if (spec.init)
    init = make_at(*spec.init, "initializer",
                   [&] { return registry.make_initializer(spec.init->name, spec.init->params); });
  std::vector<std::pair<std::string, std::shared_ptr<const Initializer>>> part_inits;
  for (const auto& [key, choice] : spec.part_inits)
    part_inits.emplace_back(key, make_at(choice, "initializer", [&, &choice = choice] {
                              return registry.make_initializer(choice.name, choice.params);
                            }));
  try {
    auto layer = registry.make_layer(spec.layer.name, spec.layer.params, std::move(children));
    for (auto& [key, part] : part_inits) layer->set_initializer(key, std::move(part));
    return layer;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(spec.layer.where, "layer '" + spec.layer.name + "': " + e.what());
  }
}

bool all_finite(const Vector& v) { return v.allFinite(); }

// The value of an early-stopping metric on a record; NaN where the record has
// none (a success rate on a data set without a criterion).
double metric_value(const EpochRecord& record, const std::string& metric) {
  if (metric == "test_loss") return record.test_loss;
  if (metric == "test_accuracy") return record.test_accuracy;
  if (metric == "train_loss") return record.train_loss;
  if (metric == "train_accuracy") return record.train_accuracy;
  if (metric == "test_success_rate") return record.success_rate.value_or(std::nan(""));
  throw std::logic_error("unknown early-stopping metric " + metric);
}

// A regression run has no accuracy: watching one is refused as bad input
// (at the data spec, which makes the run a regression) rather than stopping
// on a constant 0.
void check_early_stopping_metric(const RunSpec& spec, const Dataset& data) {
  const auto& stopping = spec.training.early_stopping;
  // Only a data set with a success criterion records success rates: a stopper
  // watching one that never comes would see NaN only and stop blindly.
  if (stopping && stopping->metric == "test_success_rate" && !data.success)
    throw InputError(spec.source, "training.early_stopping.metric 'test_success_rate': data set '" + spec.data.name +
                                      "' has no success criterion, so no success rate to watch");
  if (data.task == Task::regression && stopping && stopping->metric.find("accuracy") != std::string::npos)
    throw InputError(spec.data.where, "data set '" + spec.data.name +
                                          "' is a regression, so training.early_stopping.metric '" + stopping->metric +
                                          "' has no value; watch test_loss or train_loss "
                                          "(its mean squared error)");
}

// A schedule and what its `then:` names, innermost first.
std::shared_ptr<const Schedule> make_schedule(const Registry& registry, const ScheduleSpec& spec) {
  std::shared_ptr<const Schedule> then;
  if (!spec.then.empty()) then = make_schedule(registry, spec.then.front());
  return make_at(spec.schedule, "schedule",
                 [&] { return registry.make_schedule(spec.schedule.name, spec.schedule.params, then); });
}

void collect_schedule_provenance(const Registry& registry, const ScheduleSpec& spec,
                                 std::vector<ComponentProvenance>& out) {
  out.push_back(provenance(registry, ComponentKind::schedule, spec.schedule));
  for (const auto& then : spec.then) collect_schedule_provenance(registry, then, out);
}

// derived_rng stream index of the stochastic layers' draws ("drop").
constexpr std::uint64_t stochastic_layer_stream = 0x64726f70;

int run_threads(const RunOptions& options) {
  if (options.threads > 0) return options.threads;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace

RegistryComponents::RegistryComponents(const Registry& registry) : registry_(registry) {}

std::shared_ptr<Layer> RegistryComponents::make_layer(const std::string& name, const Params& params) const {
  const auto& e = registry_.get(ComponentKind::layer, name, "pretraining");
  return registry_.make_layer(name, complete_params("layer '" + name + "'", e.info.schema, params));
}

std::shared_ptr<Initializer> RegistryComponents::make_initializer(const std::string& name, const Params& params) const {
  const auto& e = registry_.get(ComponentKind::initializer, name, "pretraining");
  return registry_.make_initializer(name, complete_params("initializer '" + name + "'", e.info.schema, params));
}

std::shared_ptr<Optimizer> RegistryComponents::make_optimizer(const std::string& name, const Params& params) const {
  const auto& e = registry_.get(ComponentKind::optimizer, name, "pretraining");
  return registry_.make_optimizer(name, complete_params("optimizer '" + name + "'", e.info.schema, params));
}

std::shared_ptr<const Dataset> load_dataset(const RunSpec& spec, const Registry& registry, std::uint64_t max_bytes,
                                            std::optional<std::int64_t> run_seed) {
  DataContext context{spec.spec_dir, default_data_dir().string(), max_bytes, run_seed.value_or(spec.training.seed)};
  try {
    auto data = registry.make_dataset(spec.data.name, spec.data.params, context);
    if (data->train.examples == 0)
      throw InputError(spec.data.where, "data set '" + spec.data.name + "' has no training examples");
    return data;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {
    throw InputError(spec.data.where, "data set '" + spec.data.name + "': " + e.what());
  }
}

Index planned_batch(const RunSpec& spec, const Dataset& data) {
  const Index batch = std::min<Index>(spec.training.batch_size, data.train.examples);
  const Index probe = std::min<Index>(spec.probes.batch, data.train.examples);
  // Feed-forward evaluation goes faster in chunks of at least 256 examples;
  // a sequence batch is `steps` times wider, so there the training and probe
  // batches alone set it (evaluation chunks are never wider than they are).
  if (data.input.steps > 1) return std::max<Index>(batch, probe);
  return std::max<Index>({batch, probe, 256});
}

std::shared_ptr<Network> build_network(const RunSpec& spec, const Registry& registry, const Dataset& data,
                                       std::uint64_t max_bytes) {
  // The registry outlives every network of a run (and its clones).
  LayerListFactory make_layers = [&registry, specs = spec.layers] {
    std::vector<NetworkLayer> layers;
    for (const auto& l : specs) {
      NetworkLayer entry;
      entry.type = l.layer.name;
      entry.where = l.layer.where;
      entry.layer = make_layer(registry, l, entry.init);
      entry.block = !l.children.empty();
      layers.push_back(std::move(entry));
    }
    return layers;
  };
  NetworkLimits limits;
  limits.max_bytes = max_bytes;
  limits.batch = planned_batch(spec, data);
  auto network = std::make_shared<Network>(make_layers(), data.input, data.task, data.outputs, limits, data.target_at);
  network->set_layer_factory(std::move(make_layers));
  return network;
}

const EpochRecord* final_epoch(const RunSummary& s) {
  if (s.epochs.empty()) return nullptr;
  if (s.restored_best && s.best_epoch)
    for (const auto& e : s.epochs)
      if (e.epoch == *s.best_epoch) return &e;
  return &s.epochs.back();
}

namespace {

nlohmann::json layers_json(const std::vector<LayerProbe>& layers) {
  using nlohmann::json;
  auto number = [](double v) -> json { return std::isfinite(v) ? json(v) : json(nullptr); };
  json rows = json::array();
  for (const auto& l : layers) {
    json layer{{"index", l.index},
               {"type", l.type},
               {"param_count", l.param_count},
               {"grad_norm", number(l.grad_norm)},
               {"weight_norm", number(l.weight_norm)},
               {"saturation", number(l.saturation)},
               {"output_grad_norm", number(l.output_grad_norm)}};
    if (l.update_ratio) layer["update_ratio"] = number(*l.update_ratio);
    auto curve = [&](const std::vector<double>& values) {
      json array = json::array();
      for (double v : values) array.push_back(number(v));
      return array;
    };
    if (!l.grad_by_lag.empty()) layer["grad_by_lag"] = curve(l.grad_by_lag);
    if (!l.cell_grad_by_lag.empty()) layer["cell_grad_by_lag"] = curve(l.cell_grad_by_lag);
    rows.push_back(layer);
  }
  return rows;
}

}  // namespace

nlohmann::json to_json(const RunSummary& s) {
  using nlohmann::json;
  auto number = [](double v) -> json { return std::isfinite(v) ? json(v) : json(nullptr); };
  json out;
  out["status"] = to_string(s.status);
  // Classification summaries stay as they were before regression was named.
  const bool regression = s.task == Task::regression;
  if (regression) {
    out["task"] = to_string(s.task);
    out["metric"] = metric_name(s.task);
  }
  out["seed"] = s.seed;
  out["plugins"] = json::array();
  for (const auto& p : s.plugins)
    out["plugins"].push_back(
        {{"kind", p.kind}, {"name", p.name}, {"version", p.version}, {"plugin", p.plugin}, {"params", p.params}});
  out["epochs"] = json::array();
  for (const auto& e : s.epochs) {
    json row = regression ? json{{"epoch", e.epoch},
                                 {"train_loss", number(e.train_loss)},
                                 {"train_mse", number(e.train_loss)},
                                 {"test_loss", number(e.test_loss)},
                                 {"test_mse", number(e.test_loss)},
                                 {"seconds", e.seconds}}
                          : json{{"epoch", e.epoch},
                                 {"train_loss", number(e.train_loss)},
                                 {"train_accuracy", number(e.train_accuracy)},
                                 {"test_loss", number(e.test_loss)},
                                 {"test_accuracy", number(e.test_accuracy)},
                                 {"seconds", e.seconds}};
    if (e.success_rate) row["success_rate"] = number(*e.success_rate);
    if (e.train_success_rate) row["train_success_rate"] = number(*e.train_success_rate);
    if (!e.layers.empty()) row["layers"] = layers_json(e.layers);
    out["epochs"].push_back(row);
  }
  // Step probes (probes.every_steps) apart from the epochs, so an epoch row
  // keeps meaning "after that epoch".
  if (!s.step_probes.empty()) {
    out["step_probes"] = json::array();
    for (const auto& p : s.step_probes)
      out["step_probes"].push_back({{"step", p.step}, {"epoch", p.epoch}, {"layers", layers_json(p.layers)}});
  }
  json final_row = json::object();
  if (const EpochRecord* final_record = final_epoch(s)) {
    const auto& last = *final_record;
    if (regression)
      final_row = {{"train_loss", number(last.train_loss)},
                   {"train_mse", number(last.train_loss)},
                   {"test_loss", number(last.test_loss)},
                   {"test_mse", number(last.test_loss)}};
    else
      final_row = {{"train_loss", number(last.train_loss)},
                   {"train_accuracy", number(last.train_accuracy)},
                   {"test_loss", number(last.test_loss)},
                   {"test_accuracy", number(last.test_accuracy)}};
    if (last.success_rate) final_row["success_rate"] = number(*last.success_rate);
    if (last.train_success_rate) final_row["train_success_rate"] = number(*last.train_success_rate);
  }
  final_row["epochs_run"] = s.epochs_run;
  if (s.stopped_epoch) final_row["stopped_epoch"] = *s.stopped_epoch;
  if (s.best_epoch) final_row["best_epoch"] = *s.best_epoch;
  if (s.best_epoch) final_row["restored_best"] = s.restored_best;
  final_row["seconds"] = s.seconds;
  out["final"] = final_row;
  out["timing"] = {{"train_steps", s.timing.train_steps},
                   {"evaluation", s.timing.evaluation},
                   {"probes", s.timing.probes},
                   {"pretraining", s.timing.pretraining},
                   {"other", s.timing.other}};
  if (!s.pretraining.empty()) {
    json series = json::object();
    for (const auto& [metric, values] : s.pretraining) {
      json array = json::array();
      for (double v : values) array.push_back(number(v));
      series[metric] = array;
    }
    out["pretraining"] = series;
  }
  if (s.diverged_epoch) out["diverged_epoch"] = *s.diverged_epoch;
  if (!s.message.empty()) out["message"] = s.message;
  out["gradlab_version"] = version_string;
  out["spec"] = s.spec;
  return out;
}

double train_step(Network& network, Optimizer& optimizer, const Split& split, const std::int64_t* order, Index count,
                  StepInfo info, double clip_value, double clip_norm) {
  BatchView batch = network.gather(split, order, count);
  const double loss = network.loss_and_gradient(batch);
  if (!std::isfinite(loss)) return loss;
  VectorMap grads = network.gradients();
  if (clip_value > 0) grads = grads.cwiseMax(Scalar(-clip_value)).cwiseMin(Scalar(clip_value));
  if (clip_norm > 0) {
    const double norm = std::sqrt(grads.cast<double>().squaredNorm());
    if (norm > clip_norm) grads *= static_cast<Scalar>(clip_norm / norm);
  }
  info.loss = loss;
  optimizer.step(network.parameters(), ConstVectorMap(grads.data(), grads.size()), info);
  return loss;
}

namespace {

// Lap timer: lap(part) adds the time since the previous lap to `part`, so every
// interval of the run lands in exactly one part of summary.timing.
struct LapTimer {
  using clock = std::chrono::steady_clock;
  clock::time_point started = clock::now();
  clock::time_point last = started;
  double since_start() const { return std::chrono::duration<double>(clock::now() - started).count(); }
  void lap(double& part) {
    const auto now = clock::now();
    part += std::chrono::duration<double>(now - last).count();
    last = now;
  }
  // Closes the run: what is left goes to `other`, and seconds is the sum.
  void finish(RunSummary& summary) {
    lap(summary.timing.other);
    summary.seconds = std::chrono::duration<double>(last - started).count();
  }
};

// The body of train_run after the network is built and initialized.
// Everything it calls may throw: train_run turns that into a failed run.
void train_loop(const RunSpec& spec, const Dataset& dataset, Network& net, Optimizer& opt, PretrainStrategy* pretrain,
                const Schedule* schedule, const Registry& registry, const RunOptions& options, Rng& rng,
                RunSummary& summary, LapTimer& timer, std::int64_t& current_epoch, Index batch_size, Index probe_size) {
  const Dataset* data = &dataset;
  Network* network = &net;
  Optimizer* optimizer = &opt;
  auto seconds = [&] { return timer.since_start(); };
  auto lap = [&](double& part) { timer.lap(part); };
  auto cancelled = [&] { return options.cancel && options.cancel->load(); };
  auto diverge = [&](std::int64_t epoch, std::string why) {
    summary.status = RunStatus::diverged;
    summary.diverged_epoch = epoch;
    summary.message = std::move(why);
  };

  if (pretrain) {
    RegistryComponents components(registry);
    PretrainContext ctx{*network, *data, rng, components, options.log, [&] { return cancelled(); }};
    ctx.seed = static_cast<std::uint64_t>(summary.seed);
    ctx.threads = run_threads(options);
    ctx.record = [&summary](const std::string& metric, double value) { summary.pretraining[metric].push_back(value); };
    try {
      pretrain->pretrain(ctx);
    } catch (const std::exception& e) {
      summary.status = RunStatus::failed;
      summary.message = std::string("pretraining '") + spec.pretrain->name + "' failed: " + e.what();
      lap(summary.timing.pretraining);
      return;
    }
    lap(summary.timing.pretraining);
    if (!all_finite(network->parameters())) diverge(0, "pretraining produced non-finite weights");
  }

  std::vector<std::int64_t> probe_order(static_cast<std::size_t>(probe_size));
  std::iota(probe_order.begin(), probe_order.end(), 0);
  // update_ratio: the parameters as they were before training step
  // `before_step`, copied only before a step that a probe follows (the last
  // step of a probed epoch, every every_steps-th step), never on the others.
  std::int64_t iteration = 0;  // training steps taken
  Vector params_before = Vector::Zero(network->param_count());
  std::int64_t before_step = -1;
  auto probe_layers = [&] {
    const bool stepped = iteration > 0 && before_step == iteration;
    return network->probe(network->gather(data->train, probe_order.data(), probe_size),
                          stepped ? &params_before : nullptr);
  };
  auto record_epoch = [&](std::int64_t epoch, bool probe) {
    EpochRecord record;
    record.epoch = epoch;
    lap(summary.timing.other);
    const SuccessCriterion* success = data->success ? &data->success : nullptr;
    auto train = network->evaluate(data->train, success);
    auto test = network->evaluate(data->test, success);
    lap(summary.timing.evaluation);
    record.train_loss = train.loss;
    record.train_accuracy = train.accuracy;
    record.test_loss = test.loss;
    record.test_accuracy = test.accuracy;
    record.success_rate = test.success_rate;
    record.train_success_rate = train.success_rate;
    if (probe) {
      record.layers = probe_layers();
      lap(summary.timing.probes);
    }
    record.seconds = seconds();
    summary.epochs.push_back(record);
    if (options.on_epoch) options.on_epoch(summary.epochs.back());
    return std::isfinite(train.loss);
  };

  if (summary.status == RunStatus::ok && !all_finite(network->parameters()))
    diverge(0, "the starting weights are not finite");  // e.g. a --load-weights file holding NaN
  if (summary.status == RunStatus::ok && !record_epoch(0, true)) diverge(0, "the loss is not finite before training");

  std::vector<std::int64_t> order(static_cast<std::size_t>(data->train.examples));
  std::iota(order.begin(), order.end(), 0);
  optimizer->reset(network->param_count(), network->param_groups());

  // Early stopping watches the evaluated epochs from epoch 0 on and keeps a
  // copy of the best epoch's parameters and buffers (batch_norm's running
  // statistics), so restoring it gives that epoch's model bit for bit.
  std::optional<EarlyStopper> stopper;
  Vector best_params, best_buffers;
  auto watch = [&](const EpochRecord& record) {
    if (!stopper) return false;
    if (stopper->observe(record.epoch, metric_value(record, stopper->options().metric)) &&
        stopper->options().restore_best) {
      best_params = network->parameters();
      best_buffers = network->buffers();
    }
    return stopper->should_stop();
  };
  if (spec.training.early_stopping) {
    stopper.emplace(*spec.training.early_stopping);
    if (summary.status == RunStatus::ok && !summary.epochs.empty()) watch(summary.epochs.back());
  }

  const std::int64_t epochs = spec.training.epochs;
  const std::int64_t every_steps = spec.probes.every_steps;
  // Whether the record after `epoch` is probed (see the end of the epoch loop):
  // with early stopping any evaluated epoch may be the last, and is probed then.
  auto epoch_probed = [&](std::int64_t epoch) {
    if (epoch % spec.training.eval_every != 0 && epoch != epochs) return false;
    return epoch % spec.probes.every == 0 || epoch == epochs || stopper.has_value();
  };
  const Index n = data->train.examples;
  StepInfo step;
  step.steps_per_epoch = (n + batch_size - 1) / batch_size;
  step.total_steps = std::max<std::int64_t>(1, epochs * step.steps_per_epoch);
  auto cancel_run = [&] {
    summary.status = RunStatus::cancelled;
    summary.message = "cancelled";
  };
  for (std::int64_t epoch = 1; epoch <= epochs && summary.status == RunStatus::ok; ++epoch) {
    current_epoch = epoch;
    if (cancelled()) {
      cancel_run();
      break;
    }
    lap(summary.timing.other);
    if (spec.training.shuffle) std::shuffle(order.begin(), order.end(), rng);
    for (Index first = 0; first < n; first += batch_size) {
      // Cancellation stops a run within one training step, not at the epoch's end.
      if (cancelled()) {
        cancel_run();
        break;
      }
      const Index count = std::min(batch_size, n - first);
      step.iteration = iteration + 1;
      step.epoch = epoch;
      step.progress = static_cast<double>(iteration) / static_cast<double>(step.total_steps);
      step.lr_scale = 1.0;
      if (schedule) {
        step.lr_scale = schedule->factor(step);
        if (!std::isfinite(step.lr_scale) || step.lr_scale < 0)
          throw std::runtime_error("schedule '" + spec.schedule->schedule.name + "' gave the factor " +
                                   std::to_string(step.lr_scale) + " at step " + std::to_string(step.iteration) +
                                   " (it must be finite and >= 0)");
      }
      const bool last_of_epoch = first + batch_size >= n;
      if ((every_steps > 0 && step.iteration % every_steps == 0) || (last_of_epoch && epoch_probed(epoch))) {
        params_before = network->parameters();
        before_step = step.iteration;
      }
      const double loss = train_step(*network, *optimizer, data->train, order.data() + first, count, step,
                                     spec.clip_value, spec.clip_norm);
      if (!std::isfinite(loss)) {
        diverge(epoch, "the training loss became " + std::string(std::isnan(loss) ? "NaN" : "infinite") + " at step " +
                           std::to_string(iteration + 1));
        break;
      }
      ++iteration;
      if (every_steps > 0 && iteration % every_steps == 0) {
        lap(summary.timing.train_steps);
        summary.step_probes.push_back({iteration, epoch, probe_layers()});
        lap(summary.timing.probes);
      }
    }
    lap(summary.timing.train_steps);
    if (summary.status != RunStatus::ok) break;
    if (!all_finite(network->parameters())) {
      diverge(epoch, "the weights became non-finite");
      break;
    }
    summary.epochs_run = epoch;
    // Evaluated (recorded) epochs: every eval_every-th and the last; probes are
    // taken on recorded epochs that are a multiple of probes.every, and the last.
    if (epoch % spec.training.eval_every != 0 && epoch != epochs) continue;
    const bool probe = epoch % spec.probes.every == 0 || epoch == epochs;
    if (!record_epoch(epoch, probe)) {
      diverge(epoch, "the training loss is not finite after the epoch");
      break;
    }
    if (watch(summary.epochs.back()) && epoch < epochs) {
      summary.stopped_epoch = epoch;
      // The last record is probed, as the last epoch of a full run is.
      if (!probe) {
        summary.epochs.back().layers = probe_layers();
        lap(summary.timing.probes);
      }
      break;
    }
  }
  if (stopper && summary.status == RunStatus::ok) {
    summary.best_epoch = stopper->best_epoch();
    if (stopper->options().restore_best && best_params.size() == network->param_count()) {
      network->parameters() = best_params;
      network->buffers() = best_buffers;
      summary.restored_best = true;
    }
  }
}

}  // namespace

RunResult train_run(const RunSpec& spec, const Registry& registry, const RunOptions& options) {
  const std::uint64_t budget = options.max_memory ? options.max_memory : default_memory_budget();
  auto data = options.dataset ? options.dataset : load_dataset(spec, registry, budget, options.seed);
  check_early_stopping_metric(spec, *data);
  // A shared data set is already in memory; the model gets what is left.
  auto network = build_network(spec, registry, *data, budget);

  RunResult result;
  RunSummary& summary = result.summary;
  summary.seed = options.seed.value_or(spec.training.seed);
  summary.task = data->task;
  summary.spec = spec.effective;
  summary.plugins.push_back(provenance(registry, ComponentKind::dataset, spec.data));
  collect_layer_provenance(registry, spec.layers, summary.plugins);
  summary.plugins.push_back(provenance(registry, ComponentKind::initializer, spec.init));
  summary.plugins.push_back(provenance(registry, ComponentKind::optimizer, spec.optimizer));
  if (spec.schedule) collect_schedule_provenance(registry, *spec.schedule, summary.plugins);
  if (spec.pretrain) summary.plugins.push_back(provenance(registry, ComponentKind::pretrain, *spec.pretrain));

  Rng rng(static_cast<std::uint64_t>(summary.seed));
  auto init =
      make_at(spec.init, "initializer", [&] { return registry.make_initializer(spec.init.name, spec.init.params); });
  auto optimizer = make_at(spec.optimizer, "optimizer",
                           [&] { return registry.make_optimizer(spec.optimizer.name, spec.optimizer.params); });
  std::shared_ptr<const Schedule> schedule;
  if (spec.schedule) schedule = make_schedule(registry, *spec.schedule);
  // Stochastic layers draw from a stream of their own, so adding dropout
  // leaves the shuffling and initialization of the rest of the run unchanged.
  network->set_stochastic_stream(derived_rng(static_cast<std::uint64_t>(summary.seed), stochastic_layer_stream));
  std::shared_ptr<PretrainStrategy> pretrain;
  if (spec.pretrain) {
    pretrain = make_at(*spec.pretrain, "pretrain",
                       [&] { return registry.make_pretrain(spec.pretrain->name, spec.pretrain->params); });
    // A strategy that cannot work on this model or data says so now, as bad
    // input, before anything is trained.
    make_at(*spec.pretrain, "pretrain", [&] {
      pretrain->check(*network, *data);
      return 0;
    });
  }

  const Index batch_size = std::min<Index>(spec.training.batch_size, data->train.examples);
  const Index probe_size = std::min<Index>(spec.probes.batch, data->train.examples);
  LapTimer timer;
  result.network = network;
  // From here on, an exception from any plugin (or an allocation that fails)
  // ends this run as `failed` with what it said; the epochs recorded so far
  // stay in the summary, and a study goes on with its other runs.
  std::int64_t current_epoch = 0;
  auto fail = [&](const std::string& what) {
    summary.status = RunStatus::failed;
    summary.message = (current_epoch > 0 ? "in epoch " + std::to_string(current_epoch) + ": " : std::string()) + what;
    timer.finish(summary);
  };
  try {
    network->reserve(planned_batch(spec, *data));
    network->initialize(*init, rng);
  } catch (const std::exception& e) {
    fail(std::string("initializing the network failed: ") + e.what());
    return result;
  } catch (...) {
    fail("initializing the network failed with a non-standard exception");
    return result;
  }
  if (!options.load_weights.empty()) load_weights(options.load_weights, *network);  // bad input: throws InputError
  try {
    train_loop(spec, *data, *network, *optimizer, pretrain.get(), schedule.get(), registry, options, rng, summary,
               timer, current_epoch, batch_size, probe_size);
    timer.finish(summary);
  } catch (const std::exception& e) {
    fail(e.what());
  } catch (...) {
    fail("a plugin threw a non-standard exception");
  }
  return result;
}

}  // namespace gradlab
