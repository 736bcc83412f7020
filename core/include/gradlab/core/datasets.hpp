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

// Reads a whole file, gunzipping it when it is gzip-compressed.
std::string read_maybe_gzipped(const std::filesystem::path& path);

struct IdxImages {
  Index count = 0, rows = 0, cols = 0;
  std::string pixels;  // count * rows * cols bytes
};
IdxImages read_idx_images(const std::filesystem::path& path);
std::vector<std::int32_t> read_idx_labels(const std::filesystem::path& path);

// A numeric CSV as rows of doubles; `header` skips the first line.
std::vector<std::vector<double>> read_numeric_csv(const std::filesystem::path& path, bool header);

}  // namespace gradlab
