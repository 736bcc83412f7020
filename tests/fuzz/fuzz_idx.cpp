// fuzz_idx: gradlab::read_idx_images / read_idx_labels (MNIST's IDX files,
// plain or gzip-compressed).
//
// Input: a mode byte (fuzz_common.hpp; bit 0 = labels instead of images), then
// the file. Besides "InputError or a well-formed result", it checks that
//   - images hold exactly count * rows * cols pixels, labels exactly the
//     header's count;
//   - a gzip-compressed file reads the same as the plain one;
//   - a gzip stream cut short is refused, not read as far as it goes.
#include <optional>

#include "fuzz_common.hpp"
#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"

namespace gradlab::fuzz {

namespace {

std::uint32_t be32(std::string_view b, std::size_t at) {
  return (std::uint32_t(std::uint8_t(b[at])) << 24) | (std::uint32_t(std::uint8_t(b[at + 1])) << 16) |
         (std::uint32_t(std::uint8_t(b[at + 2])) << 8) | std::uint32_t(std::uint8_t(b[at + 3]));
}

// The result as bytes (for comparing two reads), or nothing if refused.
std::optional<std::string> read(bool labels, const std::filesystem::path& path) {
  try {
    if (labels) {
      auto v = read_idx_labels(path, memory_budget);
      std::string out;
      for (auto l : v) {
        if (l < 0 || l > 255) throw Finding("an IDX label outside 0..255");
        out.push_back(static_cast<char>(l));
      }
      return out;
    }
    auto images = read_idx_images(path, memory_budget);
    if (images.count < 0 || images.rows <= 0 || images.cols <= 0) throw Finding("an impossible IDX image header");
    const unsigned __int128 pixels = static_cast<unsigned __int128>(images.count) *
                                     static_cast<unsigned __int128>(images.rows) *
                                     static_cast<unsigned __int128>(images.cols);
    if (pixels != images.pixels.size()) throw Finding("IDX pixels are not count * rows * cols bytes");
    return std::to_string(images.count) + "x" + std::to_string(images.rows) + "x" + std::to_string(images.cols) + ":" +
           images.pixels;
  } catch (const InputError&) {
    return std::nullopt;
  }
}

}  // namespace

void idx(const std::uint8_t* data, std::size_t size) {
  static const ScratchFile file("idx");
  if (size < 1) return;
  const std::uint8_t mode = data[0];
  const bool labels = mode & 1;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto packed = pack(mode, payload);
  const auto result = read(labels, file.write(packed.bytes));
  switch (packed.packing) {
    case Packing::plain:
      // Not gzip: the header's count is exactly what was read.
      if (result && labels && !starts_with_gzip_magic(payload) && result->size() != be32(payload, 4))
        throw Finding("IDX labels: read another number of labels than the header gives");
      break;
    case Packing::gzip:
      // Compressed or not, the same file; unless the payload is gzip itself
      // (then the plain read gunzips it and the compressed one does not).
      if (!starts_with_gzip_magic(payload) && result != read(labels, file.write(payload)))
        throw Finding("an IDX file reads differently gzip-compressed than plain");
      break;
    case Packing::truncated_gzip:
      if (result) throw Finding("an IDX file whose gzip stream is cut short was read without an error");
      break;
  }
}

}  // namespace gradlab::fuzz

GRADLAB_FUZZ_ENTRY(gradlab::fuzz::idx)
