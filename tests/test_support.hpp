// Shared helpers for gradlab's tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gradlab/core/registry.hpp"
#include "gradlab/core/spec.hpp"

namespace gradlab::test {

// A registry with every bundled plugin loaded (built once per test process;
// const, so tests cannot disturb one another through it).
const Registry& bundled_registry();

// Paths of the build and source trees.
std::filesystem::path source_dir();
std::filesystem::path binary_dir();
// The gradlab CLI under test: the build's, or $GRADLAB_TEST_CLI when set.
std::filesystem::path cli_path();
// Folder holding the test-only plugin <name> (tests/plugins/<name>).
std::filesystem::path test_plugin_dir(const std::string& name);

// A fresh, empty temporary folder, removed when the object goes away.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

void write_text(const std::filesystem::path& path, const std::string& text);
std::string read_text(const std::filesystem::path& path);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the gradlab CLI with `args` (no shell quoting needed); captures both streams.
CommandResult run_cli(const std::vector<std::string>& args, const std::string& env = "");
// Runs a shell command line; captures both streams.
CommandResult run_shell(const std::string& command);

// Bytes for hand-made data files: a big-endian 32-bit integer (IDX headers),
// `data` gzip-compressed, and a safetensors file of a header and its data.
std::string be32(std::uint32_t value);
std::string gzip_bytes(const std::string& data, int level = 6);
std::string safetensors_bytes(const std::string& header_json, const std::string& data);

// The lines of `text`, without their line ends.
std::vector<std::string> lines_of(const std::string& text);

// Parses a spec from YAML text against the bundled registry.
RunSpec spec_from_yaml(const std::string& yaml, const std::vector<std::string>& overrides = {});

}  // namespace gradlab::test
