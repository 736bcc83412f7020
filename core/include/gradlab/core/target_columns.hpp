// The csv data set's `target_columns` parameter (docs/regression.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace gradlab {

// Parses `target_columns` ("-2,-1": comma-separated column numbers, negative
// counting from the end) for rows `width` columns wide: the columns, 0-based,
// in the order given. An empty entry, a non-number, a column outside the row,
// a column named twice, or no column left for features throws
// std::invalid_argument naming `file` (the core puts the data spec's place
// before it).
std::vector<std::size_t> parse_target_columns(const std::string& text, std::int64_t width, const std::string& file);

}  // namespace gradlab
