// Weights files: safetensors, F32, tensors named "{index}.weight" /
// "{index}.bias" (and buffers such as "{index}.running_mean") with the
// flattened layer index, shapes as PyTorch's nn.Sequential state_dict has them.
#pragma once

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

// Writes the network's tensors (atomically: no partial file on failure).
void save_weights(const std::string& path, Network& network, const std::map<std::string, std::string>& metadata = {});
// Loads into the network, checking that names and shapes match exactly;
// throws InputError naming the file and the offending tensor.
void load_weights(const std::string& path, Network& network);
// Reads any safetensors file of F32 tensors (for tests and tools).
std::map<std::string, SafetensorsEntry> read_safetensors(const std::string& path);

}  // namespace gradlab
