#include "gradlab/core/weights.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <stdexcept>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/run.hpp"

namespace gradlab {

namespace {
std::string shape_text(const std::vector<Index>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}
}  // namespace

namespace {
// The bytes of a safetensors file; T is a tensor with name, shape, size and
// data (Network's NamedTensor, whose elements are Scalar, or a TensorRef).
template <class Tensor>
std::string encode_safetensors(const std::vector<Tensor>& tensors, const std::map<std::string, std::string>& metadata) {
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
  return out;
}
}  // namespace

std::string safetensors_bytes(const std::vector<TensorRef>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  std::set<std::string> names;
  for (const auto& t : tensors) {
    if (t.name == "__metadata__") throw std::invalid_argument("a tensor may not be named '__metadata__'");
    if (!names.insert(t.name).second) throw std::invalid_argument("two tensors named " + quote_text(t.name));
    Index count = 1;
    for (auto d : t.shape) {
      if (d < 0) throw std::invalid_argument("tensor " + quote_text(t.name) + " has a negative extent");
      count *= d;
    }
    if (count != t.size || (t.size > 0 && !t.data))
      throw std::invalid_argument("tensor " + quote_text(t.name) + " has " + std::to_string(t.size) +
                                  " values for shape " + shape_text(t.shape));
  }
  return encode_safetensors(tensors, metadata);
}

std::string weights_bytes(Network& network, const std::map<std::string, std::string>& metadata) {
  return encode_safetensors(network.named_tensors(), metadata);
}

void save_weights(const std::string& path, Network& network, const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, weights_bytes(network, metadata));
}

SafetensorsFile read_safetensors_file(const std::string& path, std::uint64_t max_bytes,
                                      const std::string& limit_reason) {
  const std::string bytes = read_regular_file(path, "a weights file (safetensors)", max_bytes, limit_reason);
  if (bytes.size() < 8) throw InputError(path, "not a safetensors file: shorter than its 8-byte header length");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  if (n > bytes.size() - 8)
    throw InputError(path, "not a safetensors file: header length " + std::to_string(n) + " exceeds the file");
  // The format's own limit (safetensors refuses larger headers too).
  if (n > 100'000'000) throw InputError(path, "safetensors header of " + std::to_string(n) + " bytes, over 100 MB");
  nlohmann::json header;
  // The top-level keys in the order written: the tensors' order (a parsed
  // object sorts its keys).
  std::vector<std::string> order;
  std::set<std::string> seen;
  auto record_key = [&](int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    if (depth == 1 && event == nlohmann::json::parse_event_t::key && parsed.is_string() &&
        seen.insert(parsed.get<std::string>()).second)
      order.push_back(parsed.get<std::string>());
    return true;
  };
  try {
    header = nlohmann::json::parse(bytes.substr(8, n), record_key);
  } catch (const std::exception& e) {
    throw InputError(path, std::string("not a safetensors file: header is not JSON (") + e.what() + ")");
  }
  if (!header.is_object()) throw InputError(path, "not a safetensors file: header is not a JSON object");
  const std::size_t data_start = 8 + n;
  const std::size_t data_bytes = bytes.size() - data_start;
  SafetensorsFile out;
  if (auto meta = header.find("__metadata__"); meta != header.end() && meta->is_object())
    for (auto it = meta->begin(); it != meta->end(); ++it)
      out.metadata[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  std::vector<std::pair<std::pair<std::size_t, std::size_t>, std::string>> ranges;
  for (const auto& key : order) {
    if (key == "__metadata__") continue;
    const auto it = header.find(key);
    const auto& t = it.value();
    try {
      SafetensorsEntry e;
      e.dtype = t.at("dtype").get<std::string>();
      // Extents and offsets must be JSON integers: a float such as 1e30
      // converted to an integer is undefined behaviour, not a large number.
      const auto& shape = t.at("shape");
      if (!shape.is_array())
        throw InputError(path, "tensor " + quote_text(it.key()) + " has a shape that is not a list");
      for (const auto& d : shape) {
        if (!d.is_number_integer() || (d.is_number_unsigned() && d.get<std::uint64_t>() > std::uint64_t(INT64_MAX)))
          throw InputError(path, "tensor " + quote_text(it.key()) +
                                     " has an extent that is not an integer: " + escape_text(d.dump(), 40));
        e.shape.push_back(d.get<Index>());
      }
      const auto& offset_list = t.at("data_offsets");
      std::vector<std::size_t> offsets;
      if (offset_list.is_array())
        for (const auto& o : offset_list) {
          if (!o.is_number_unsigned() && !(o.is_number_integer() && o.get<std::int64_t>() >= 0))
            throw InputError(path, "tensor " + quote_text(it.key()) + " has a data offset that is not a byte count");
          offsets.push_back(o.get<std::size_t>());
        }
      // Compared against the room after the header, so that huge offsets cannot wrap around.
      if (offsets.size() != 2 || offsets[1] < offsets[0] || offsets[1] > data_bytes)
        throw InputError(path, "tensor " + quote_text(it.key()) + " has data offsets outside the file (truncated?)");
      if (e.dtype != "F32")
        throw InputError(path, "tensor '" + it.key() + "' is " + e.dtype + "; gradlab reads F32 only");
      // The element count may not pass what the file holds: checked factor by
      // factor so that no product overflows.
      const Index most = static_cast<Index>(data_bytes / sizeof(float));
      Index count = 1;
      for (auto d : e.shape) {
        if (d < 0)
          throw InputError(path, "tensor " + quote_text(it.key()) + " has a negative extent " + shape_text(e.shape));
        if (d > 0 && count > most / d)
          throw InputError(path, "tensor " + quote_text(it.key()) + " has shape " + shape_text(e.shape) +
                                     ", more elements than the file holds");
        count *= d;
      }
      if (std::size_t(count) * sizeof(float) != offsets[1] - offsets[0])
        throw InputError(path, "tensor '" + it.key() + "' has shape " + shape_text(e.shape) + " but " +
                                   std::to_string(offsets[1] - offsets[0]) + " bytes of data");
      ranges.push_back({{offsets[0], offsets[1]}, it.key()});
      e.values.resize(std::size_t(count));
      if (count)
        std::memcpy(e.values.data(), bytes.data() + data_start + offsets[0], std::size_t(count) * sizeof(float));
      out.tensors.emplace_back(it.key(), std::move(e));
    } catch (const nlohmann::json::exception& ex) {
      throw InputError(path, "tensor '" + it.key() + "' has a malformed entry: " + ex.what());
    }
  }
  // Tensors may not share bytes: each byte of data belongs to one tensor.
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first.first < ranges[i - 1].first.second && ranges[i].first.first < ranges[i].first.second)
      throw InputError(path, "tensors " + quote_text(ranges[i - 1].second) + " and " + quote_text(ranges[i].second) +
                                 " overlap in the file's data");
  return out;
}

std::map<std::string, SafetensorsEntry> read_safetensors(const std::string& path, std::uint64_t max_bytes,
                                                         const std::string& limit_reason) {
  auto file = read_safetensors_file(path, max_bytes, limit_reason);
  std::map<std::string, SafetensorsEntry> out;
  for (auto& [name, entry] : file.tensors) out.emplace(name, std::move(entry));
  return out;
}

void load_weights(const std::string& path, Network& network) {
  auto tensors = network.named_tensors();
  // The file for this model holds its tensors and a header: anything much
  // larger is another model's file, and is not read into memory whole.
  std::uint64_t expected = 0;
  for (const auto& t : tensors) expected += std::uint64_t(t.size) * sizeof(float);
  auto file = read_safetensors(path, expected + (100u << 20) + 8,
                               "this model's tensors take " + format_bytes(expected) + ", plus the header");
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
