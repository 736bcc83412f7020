// Shared by the schedule plugins' tests: build a schedule from a YAML node the
// way a run spec does (parameters checked against the schema, `then:` built
// first and handed to the factory), and the StepInfo the run loop gives a step.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <string>

#include "conformance/layer_harness.hpp"
#include "test_support.hpp"

namespace gradlab::test {

inline std::shared_ptr<const Schedule> make_schedule_node(const YAML::Node& node) {
  const auto& reg = bundled_registry();
  const std::string name = node.IsScalar() ? node.as<std::string>() : node["name"].as<std::string>();
  const auto& entry = reg.get(ComponentKind::schedule, name, "test");
  std::shared_ptr<const Schedule> then;
  if (node.IsMap() && node["then"]) then = make_schedule_node(node["then"]);
  return reg.make_schedule(name, params_from_node(entry, node, {"name", "then"}), then);
}

// `yaml` is the schedule node, e.g. "{name: step, every: 2, gamma: 0.5}".
inline std::shared_ptr<const Schedule> make_schedule(const std::string& yaml) {
  return make_schedule_node(YAML::Load(yaml));
}

// The StepInfo of the run's `iteration`-th step (1-based) in a run of
// `epochs` epochs of `steps_per_epoch` steps each, as train_loop fills it.
inline StepInfo step_at(std::int64_t iteration, std::int64_t steps_per_epoch, std::int64_t epochs) {
  StepInfo s;
  s.iteration = iteration;
  s.steps_per_epoch = steps_per_epoch;
  s.total_steps = steps_per_epoch * epochs;
  s.epoch = (iteration - 1) / steps_per_epoch + 1;
  s.progress = static_cast<double>(iteration - 1) / static_cast<double>(s.total_steps);
  return s;
}

}  // namespace gradlab::test
