// fuzz_spec: gradlab::parse_run_spec with --set overrides, then
// gradlab::build_network for the parsed spec.
//
// Input: the YAML (or JSON) spec text, up to the first line that starts with
// "--set "; from that line on, each line is one override (KEY=VALUE, the
// "--set " prefix dropped where present). E.g.
//   data: digits
//   model: {layers: [{type: dense, units: 3}]}
//   --set optimizer.lr=0.5
// A spec that parses is also built into a network for a data set of 4
// features and 3 classes within a memory budget (fuzz_common.hpp; not
// trained, not initialized: layer sizes and parameter counts are what a spec
// controls there), and its effective spec and
// component parameters are serialized as the run summary does (JSON).
#include <vector>

#include "fuzz_common.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"

namespace gradlab::fuzz {

namespace {

void dump_layers(const std::vector<LayerSpec>& layers) {
  for (const auto& l : layers) {
    (void)params_to_json(l.layer.params).dump();
    if (l.init) (void)params_to_json(l.init->params).dump();
    dump_layers(l.children);
  }
}

}  // namespace

void spec(const std::uint8_t* data, std::size_t size) {
  const Registry& registry = fuzz_registry();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  static constexpr std::string_view marker = "--set ";
  std::string text;
  std::vector<std::string> overrides;
  for (std::size_t pos = 0; pos < input.size();) {
    std::size_t end = input.find('\n', pos);
    if (end == std::string_view::npos) end = input.size();
    std::string_view line = input.substr(pos, end - pos);
    const bool marked = line.substr(0, marker.size()) == marker;
    if (marked) line.remove_prefix(marker.size());
    if (marked || !overrides.empty()) {
      overrides.emplace_back(line);
    } else {
      text.append(line);
      text.push_back('\n');
    }
    pos = end + 1;
  }
  try {
    const RunSpec s = parse_run_spec(text, "fuzz.yaml", overrides, registry, ".");
    (void)s.effective.dump();
    (void)params_to_json(s.data.params).dump();
    (void)params_to_json(s.init.params).dump();
    (void)params_to_json(s.optimizer.params).dump();
    if (s.pretrain) (void)params_to_json(s.pretrain->params).dump();
    dump_layers(s.layers);
    auto network = build_network(s, registry, tiny_dataset(), memory_budget);
    if (!network || network->layer_count() == 0) throw Finding("a spec built into no network");
  } catch (const InputError&) {
  }
}

}  // namespace gradlab::fuzz

GRADLAB_FUZZ_ENTRY(gradlab::fuzz::spec)
