// Files built into the report library (core/src/report/embed_files.cmake): the
// vendored Vega, Vega-Lite and vega-embed builds, in the order they load.
#pragma once

#include <cstddef>
#include <string_view>

namespace gradlab::report::detail {

struct EmbeddedFile {
  const char* name;
  std::string_view bytes;
};
extern const EmbeddedFile embedded_files[];
extern const std::size_t embedded_file_count;

}  // namespace gradlab::report::detail
