// Weights files: safetensors, F32, tensors named "{index}.weight" /
// "{index}.bias" (and buffers such as "{index}.running_mean") with the
// flattened layer index, shapes as PyTorch's nn.Sequential state_dict has them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/core/network.hpp"

namespace gradlab {

struct SafetensorsEntry {
  std::string dtype;
  std::vector<Index> shape;
  std::vector<float> values;
};

// One F32 tensor to write: `size` values at `data`, row-major in `shape`.
struct TensorRef {
  std::string name;
  std::vector<Index> shape;
  const float* data = nullptr;
  Index size = 0;
};

// A safetensors file as stored: its tensors in the order its header lists
// them (the order they were written), and its __metadata__ strings.
struct SafetensorsFile {
  std::vector<std::pair<std::string, SafetensorsEntry>> tensors;
  std::map<std::string, std::string> metadata;
};

// The safetensors bytes of `tensors`, in their order, 8-byte aligned; the
// metadata holds "format": "pt" and "producer": "gradlab VERSION", then
// `metadata` (whose keys may replace those two). Throws std::invalid_argument
// for a size that is not the shape's product or a repeated or reserved name.
// weights_bytes writes a network's tensors through it, so a file read with
// read_safetensors_file and written back with its metadata is the same bytes.
std::string safetensors_bytes(const std::vector<TensorRef>& tensors,
                              const std::map<std::string, std::string>& metadata = {});
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
// The same checks, keeping the tensors' order and the metadata (a value that
// is not a string is kept as its JSON text).
SafetensorsFile read_safetensors_file(const std::string& path, std::uint64_t max_bytes = ~std::uint64_t(0),
                                      const std::string& limit_reason = "the limit given");

}  // namespace gradlab
