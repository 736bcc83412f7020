// Readers behind the built-in data sets, usable on their own. Every error is
// an InputError naming the file and, where it applies, the row and column.
#pragma once

#include <filesystem>
#include <string>

#include "gradlab/data.hpp"

namespace gradlab {

// The folder of data shipped with gradlab: $GRADLAB_DATA_DIR, else the source
// tree's data/ (build tree), else <prefix>/share/gradlab/data.
std::filesystem::path default_data_dir();

// Every reader takes the most memory the data may take (DataContext::max_bytes;
// unlimited when left out) and refuses a file, or a header's declared size,
// beyond it before allocating.
inline constexpr std::uint64_t no_byte_limit = ~std::uint64_t(0);

// Reads a whole regular file, gunzipping it when it is gzip-compressed; at most
// max_bytes of (uncompressed) data.
std::string read_maybe_gzipped(const std::filesystem::path& path, std::uint64_t max_bytes = no_byte_limit);

struct IdxImages {
  Index count = 0, rows = 0, cols = 0;
  std::string pixels;  // count * rows * cols bytes
};
IdxImages read_idx_images(const std::filesystem::path& path, std::uint64_t max_bytes = no_byte_limit);
std::vector<std::int32_t> read_idx_labels(const std::filesystem::path& path, std::uint64_t max_bytes = no_byte_limit);

// A numeric CSV as rows of doubles; `header` skips the first line.
std::vector<std::vector<double>> read_numeric_csv(const std::filesystem::path& path, bool header,
                                                  std::uint64_t max_bytes = no_byte_limit);

// Checks what a data set factory made, whatever made it: shapes of inputs,
// labels and targets against the examples and steps, labels within
// 0 .. outputs-1, inputs finite. Throws std::invalid_argument saying what is wrong.
void check_dataset(const Dataset& data);

}  // namespace gradlab
