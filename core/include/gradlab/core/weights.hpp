// Weights files: safetensors, F32, tensors named "{index}.weight" /
// "{index}.bias" (and buffers such as "{index}.running_mean") with the
// flattened layer index, shapes as PyTorch's nn.Sequential state_dict has them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gradlab/core/network.hpp"

namespace gradlab {

struct SafetensorsEntry {
  std::string dtype;
  std::vector<Index> shape;
  std::vector<float> values;
};

// The safetensors bytes of the network's tensors.
std::string weights_bytes(Network& network, const std::map<std::string, std::string>& metadata = {});
// Writes the network's tensors (atomically: no partial file on failure).
void save_weights(const std::string& path, Network& network, const std::map<std::string, std::string>& metadata = {});
// Loads into the network, checking that names and shapes match exactly;
// throws InputError naming the file and the offending tensor.
void load_weights(const std::string& path, Network& network);
// Reads any safetensors file of F32 tensors (for tests and tools).
// Refuses a file larger than max_bytes, and one whose tensors overlap, leave
// the data or declare more elements than it holds.
std::map<std::string, SafetensorsEntry> read_safetensors(const std::string& path,
                                                         std::uint64_t max_bytes = ~std::uint64_t(0),
                                                         const std::string& limit_reason = "the limit given");

}  // namespace gradlab
