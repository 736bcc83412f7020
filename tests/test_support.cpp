#include "test_support.hpp"

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace gradlab::test {

namespace fs = std::filesystem;

const Registry& bundled_registry() {
  static const Registry* registry = [] {
    auto* r = new Registry();
    auto problems = r->load_directory(Registry::bundled_plugin_dir());
    for (const auto& p : problems)
      throw std::runtime_error("bundled plugin failed to load: " + p.path + ": " + p.message);
    return r;
  }();
  return *registry;
}

fs::path source_dir() { return GRADLAB_SOURCE_DIR; }
fs::path binary_dir() { return GRADLAB_BINARY_DIR; }
fs::path cli_path() {
  // GRADLAB_TEST_CLI runs the CLI tests against another gradlab binary, e.g. one
  // built from an older tree, to see a regression test fail before its fix.
  if (const char* other = std::getenv("GRADLAB_TEST_CLI"); other && *other) return other;
  return GRADLAB_CLI;
}
fs::path test_plugin_dir(const std::string& name) { return fs::path(GRADLAB_TEST_PLUGIN_ROOT) / name; }

TempDir::TempDir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate =
        fs::temp_directory_path() / ("gradlab-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    if (fs::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

namespace {
std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}
}  // namespace

CommandResult run_shell(const std::string& command) {
  TempDir dir;
  auto out_path = dir / "out";
  auto err_path = dir / "err";
  std::string line = command + " >" + quote(out_path.string()) + " 2>" + quote(err_path.string());
  int status = std::system(line.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  result.out = read_text(out_path);
  result.err = read_text(err_path);
  return result;
}

CommandResult run_cli(const std::vector<std::string>& args, const std::string& env) {
  std::string line = env.empty() ? "" : env + " ";
  line += quote(cli_path().string());
  for (const auto& a : args) line += " " + quote(a);
  return run_shell(line + " </dev/null");
}

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char((v >> 16) & 0xff), char((v >> 8) & 0xff), char(v & 0xff)};
}

std::string gzip_bytes(const std::string& data, int level) {
  std::string out(compressBound(static_cast<uLong>(data.size())) + 64, '\0');
  z_stream s{};
  deflateInit2(&s, level, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY);  // +16: the gzip wrapper
  s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  s.avail_in = static_cast<uInt>(data.size());
  s.next_out = reinterpret_cast<Bytef*>(out.data());
  s.avail_out = static_cast<uInt>(out.size());
  deflate(&s, Z_FINISH);
  out.resize(s.total_out);
  deflateEnd(&s);
  return out;
}

std::string safetensors_bytes(const std::string& header_json, const std::string& data) {
  std::string out;
  const std::uint64_t n = header_json.size();
  for (int i = 0; i < 8; ++i) out.push_back(char((n >> (8 * i)) & 0xff));
  return out + header_json + data;
}

RunSpec spec_from_yaml(const std::string& yaml, const std::vector<std::string>& overrides) {
  return parse_run_spec(yaml, "test.yaml", overrides, bundled_registry(), source_dir().string());
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace gradlab::test
