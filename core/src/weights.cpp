#include "gradlab/core/weights.hpp"

#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"

namespace gradlab {

namespace {
std::string shape_text(const std::vector<Index>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

void save_weights(const std::string& path, Network& network, const std::map<std::string, std::string>& metadata) {
  auto tensors = network.named_tensors();
  nlohmann::ordered_json header;
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  meta["format"] = "pt";
  meta["producer"] = std::string("gradlab ") + version_string;
  for (const auto& [k, v] : metadata) meta[k] = v;
  header["__metadata__"] = meta;
  std::size_t offset = 0;
  for (const auto& t : tensors) {
    std::size_t bytes = std::size_t(t.size) * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string json = header.dump();
  while ((json.size() + 8) % 8 != 0) json.push_back(' ');  // 8-byte aligned data, as the format recommends
  std::string out;
  out.reserve(8 + json.size() + offset);
  std::uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += json;
  for (const auto& t : tensors) {
    for (Index i = 0; i < t.size; ++i) {
      float v = static_cast<float>(t.data[i]);
      char bytes[sizeof(float)];
      std::memcpy(bytes, &v, sizeof v);
      out.append(bytes, sizeof bytes);
    }
  }
  write_file_atomically(path, out);
}

std::map<std::string, SafetensorsEntry> read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path, "cannot read the weights file (no such file, or not readable)");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string bytes = buffer.str();
  if (bytes.size() < 8) throw InputError(path, "not a safetensors file: shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8)
    throw InputError(path, "not a safetensors file: header length " + std::to_string(n) + " exceeds the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const std::exception& e) {
    throw InputError(path, std::string("not a safetensors file: header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw InputError(path, "not a safetensors file: header is not a JSON object");
  const std::size_t data_start = 8 + n;
  std::map<std::string, SafetensorsEntry> out;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    const auto& t = it.value();
    try {
      SafetensorsEntry e;
      e.dtype = t.at("dtype").get<std::string>();
      e.shape = t.at("shape").get<std::vector<Index>>();
      auto offsets = t.at("data_offsets").get<std::vector<std::size_t>>();
      // Compared against the room after the header, so that huge offsets cannot wrap around.
      if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] > bytes.size() - data_start)
        throw InputError(path, "tensor '" + it.key() + "' has data offsets outside the file (truncated?)");
      if (e.dtype != "F32")
        throw InputError(path, "tensor '" + it.key() + "' is " + e.dtype + "; gradlab reads F32 only");
      Index count = 1;
      for (auto d : e.shape) {
        if (d < 0 || (d > 0 && count > std::numeric_limits<Index>::max() / d))
          throw InputError(path, "tensor '" + it.key() + "' has an impossible shape " + shape_text(e.shape));
        count *= d;
      }
      if (std::size_t(count) * sizeof(float) != offsets[1] - offsets[0])
        throw InputError(path, "tensor '" + it.key() + "' has shape " + shape_text(e.shape) + " but " +
                                   std::to_string(offsets[1] - offsets[0]) + " bytes of data");
      e.values.resize(std::size_t(count));
      if (count)
        std::memcpy(e.values.data(), bytes.data() + data_start + offsets[0], std::size_t(count) * sizeof(float));
      out.emplace(it.key(), std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw InputError(path, "tensor '" + it.key() + "' has a malformed entry: " + ex.what());
    }
  }
  return out;
}

void load_weights(const std::string& path, Network& network) {
  auto file = read_safetensors(path);
  auto tensors = network.named_tensors();
  // Check everything before writing anything: a rejected file leaves the model as it was.
  for (const auto& t : tensors) {
    auto it = file.find(t.name);
    if (it == file.end())
      throw InputError(path, "has no tensor '" + t.name + "' that the model needs (shape " + shape_text(t.shape) + ")");
    if (it->second.shape != t.shape)
      throw InputError(path, "tensor '" + t.name + "' has shape " + shape_text(it->second.shape) +
                                 ", the model needs " + shape_text(t.shape));
  }
  if (file.size() != tensors.size()) {
    for (const auto& [name, e] : file) {
      bool known = false;
      for (const auto& t : tensors) known = known || t.name == name;
      if (!known)
        throw InputError(path, "has tensor '" + name + "' that the model does not have (is it for another model?)");
    }
  }
  for (const auto& t : tensors) {
    const auto& values = file.at(t.name).values;
    for (Index i = 0; i < t.size; ++i) t.data[i] = static_cast<Scalar>(values[std::size_t(i)]);
  }
}

}  // namespace gradlab
