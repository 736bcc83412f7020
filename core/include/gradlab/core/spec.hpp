// Run specs: YAML (or JSON) text -> a validated RunSpec.
//
// Every key is checked against the schema of the component it configures;
// every error names the place (file:line:column, or the --set option that
// introduced the value) and, for unknown names, the nearest known ones.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "gradlab/core/registry.hpp"

namespace gradlab {

// A component picked by name, its validated parameters, and where in the spec
// it was chosen (for error messages and provenance).
struct ComponentChoice {
  std::string name;
  Params params;
  std::string where;
};

struct LayerSpec {
  ComponentChoice layer;
  std::optional<ComponentChoice> init;  // this layer's own `init:`, if any
  // Further initializers by key (ComponentInfo::initializer_keys), e.g. recurrent_init.
  std::vector<std::pair<std::string, ComponentChoice>> part_inits;
  std::vector<LayerSpec> children;  // `layers:` of a block (residual)
};

// The run's learning-rate schedule: a component and, for a schedule that
// hands over after a phase (linear_warmup), the one its `then:` names.
struct ScheduleSpec {
  ComponentChoice schedule;
  std::vector<ScheduleSpec> then;  // empty, or the one schedule `then:` names
};

// training.early_stopping: stop when `metric` has not improved by more than
// min_delta for `patience` evaluated epochs in a row.
struct EarlyStopping {
  std::string metric = "test_loss";  // test_loss, test_accuracy, train_loss, train_accuracy (or *_metric)
  std::int64_t patience = 5;
  double min_delta = 0.0;
  bool restore_best = true;
};

struct TrainingOptions {
  std::int64_t epochs = 30;
  std::int64_t batch_size = 32;
  std::int64_t seed = 1;
  bool shuffle = true;
  std::int64_t eval_every = 1;  // evaluate (and record) every N epochs; epoch 0 and the last always
  std::optional<EarlyStopping> early_stopping;
};

struct ProbeOptions {
  std::int64_t every = 1;        // probe each `every` epochs (and always epoch 0 and the last)
  std::int64_t batch = 256;      // probe batch = the first `batch` training examples
  std::int64_t every_steps = 0;  // > 0: also probe after every N-th training step
};

struct RunSpec {
  std::string source;    // the spec file, for messages
  std::string spec_dir;  // relative data paths resolve against it
  ComponentChoice data;
  std::vector<LayerSpec> layers;  // repeats expanded: index = flattened layer index
  ComponentChoice init;
  ComponentChoice optimizer;
  double clip_norm = 0.0;   // 0 = off: rescale the whole gradient to at most this L2 norm
  double clip_value = 0.0;  // 0 = off: clamp each gradient entry to [-v, v]
  std::optional<ComponentChoice> pretrain;
  std::optional<ScheduleSpec> schedule;  // none: a constant learning rate
  TrainingOptions training;
  ProbeOptions probes;
  nlohmann::json effective;  // the spec after --set overrides, as JSON
};

// Parses and validates. Throws InputError (with location) on any problem.
RunSpec load_run_spec(const std::filesystem::path& file, const std::vector<std::string>& overrides,
                      const Registry& registry);
RunSpec parse_run_spec(const std::string& text, const std::string& source, const std::vector<std::string>& overrides,
                       const Registry& registry, const std::string& spec_dir = ".");

// Validates `node` (a map) against `schema`: types, bounds, choices, unknown
// keys (with suggestions); keys in `reserved` are skipped (they belong to the
// host, e.g. `type`, `init`). Missing optional keys take their defaults.
// `where(node)` renders a node's location.
Params validate_params(const std::string& what, const Schema& schema, const YAML::Node& node,
                       const std::set<std::string>& reserved,
                       const std::function<std::string(const YAML::Node&)>& where);

// Params back to JSON (provenance) and the JSON form of a schema (plugins --json).
nlohmann::json params_to_json(const Params& params);
nlohmann::json schema_to_json(const Schema& schema);
std::string param_value_to_string(const ParamValue& value);

}  // namespace gradlab
