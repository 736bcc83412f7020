// fuzz_csv: gradlab::read_numeric_csv (plain or gzip-compressed).
//
// Input: a mode byte (fuzz_common.hpp; bit 0 = the first line is a header),
// then the file. Besides "InputError or a well-formed result", it checks that
//   - there is at least one row, every row as wide as the first, every value
//     finite;
//   - a gzip-compressed file reads the same as the plain one;
//   - a gzip stream cut short is refused, not read as far as it goes.
#include <cmath>
#include <optional>
#include <vector>

#include "fuzz_common.hpp"
#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"

namespace gradlab::fuzz {

namespace {

std::optional<std::vector<std::vector<double>>> read(bool header, const std::filesystem::path& path) {
  try {
    auto rows = read_numeric_csv(path, header, memory_budget);
    if (rows.empty() || rows.front().empty()) throw Finding("a CSV read as no rows or an empty row");
    for (const auto& row : rows) {
      if (row.size() != rows.front().size()) throw Finding("CSV rows of different widths");
      for (double v : row)
        if (!std::isfinite(v)) throw Finding("a CSV value that is not finite");
    }
    return rows;
  } catch (const InputError&) {
    return std::nullopt;
  }
}

}  // namespace

void csv(const std::uint8_t* data, std::size_t size) {
  static const ScratchFile file("csv");
  if (size < 1) return;
  const std::uint8_t mode = data[0];
  const bool header = mode & 1;
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto packed = pack(mode, payload);
  const auto result = read(header, file.write(packed.bytes));
  switch (packed.packing) {
    case Packing::plain: break;
    case Packing::gzip:
      if (!starts_with_gzip_magic(payload) && result != read(header, file.write(payload)))
        throw Finding("a CSV file reads differently gzip-compressed than plain");
      break;
    case Packing::truncated_gzip:
      if (result) throw Finding("a CSV file whose gzip stream is cut short was read without an error");
      break;
  }
}

}  // namespace gradlab::fuzz

GRADLAB_FUZZ_ENTRY(gradlab::fuzz::csv)
