// fuzz_safetensors: gradlab::read_safetensors, then gradlab::load_weights into
// a small network (dense 4->3, batch_norm, tanh, dense 3->3: weights, biases,
// batch-norm parameters and buffers, and a 0-d tensor).
//
// Input: the file. Besides "InputError or a well-formed result", it checks that
// every tensor read is F32 with exactly as many values as its shape says.
#include "fuzz_common.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"
#include "gradlab/core/weights.hpp"

namespace gradlab::fuzz {

namespace {

Network& tiny_network() {
  static const std::shared_ptr<Network> network = [] {
    const auto& registry = fuzz_registry();
    const auto spec = parse_run_spec(
        "data: digits\n"
        "model: {layers: [{type: dense, units: 3}, {type: batch_norm}, {type: tanh}, {type: dense, units: 3}]}\n",
        "fuzz_safetensors.yaml", {}, registry);
    return build_network(spec, registry, tiny_dataset());
  }();
  return *network;
}

}  // namespace

void safetensors(const std::uint8_t* data, std::size_t size) {
  static const ScratchFile file("safetensors");
  Network& network = tiny_network();
  const auto& path = file.write(std::string_view(reinterpret_cast<const char*>(data), size));
  try {
    for (const auto& [name, entry] : read_safetensors(path.string(), memory_budget)) {
      if (entry.dtype != "F32") throw Finding("safetensors: read a tensor that is not F32");
      unsigned __int128 count = 1;
      for (auto d : entry.shape) {
        if (d < 0) throw Finding("safetensors: read a tensor of negative extent");
        count *= static_cast<unsigned __int128>(d);
        if (count > entry.values.size()) break;
      }
      if (count != entry.values.size()) throw Finding("safetensors: tensor values do not match its shape");
    }
  } catch (const InputError&) {
    return;
  }
  try {
    load_weights(path.string(), network);
  } catch (const InputError&) {
  }
}

}  // namespace gradlab::fuzz

GRADLAB_FUZZ_ENTRY(gradlab::fuzz::safetensors)
