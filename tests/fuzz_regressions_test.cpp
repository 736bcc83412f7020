// The fuzz harnesses' inputs, replayed in the normal test build: every file of
// tests/fuzz/regressions/<target>/ (inputs that once crashed or broke an
// invariant) and of tests/fuzz/corpus/<target>/ (the seed corpus) goes through
// the same iteration body libFuzzer runs (tests/fuzz/fuzz_<target>.cpp, built
// here with GRADLAB_FUZZ_REPLAY). One test per file: Fuzz/Replay.Input/<name>.
// Bad input must end in gradlab::InputError, which the body swallows; any other
// exception fails the test, a crash fails it too, and under `make test-asan`
// so does a sanitizer report.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "fuzz/fuzz_common.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;

namespace {

using Body = void (*)(const std::uint8_t*, std::size_t);

struct Target {
  const char* name;
  Body body;
};
const Target targets[] = {{"spec", gradlab::fuzz::spec},
                          {"idx", gradlab::fuzz::idx},
                          {"csv", gradlab::fuzz::csv},
                          {"safetensors", gradlab::fuzz::safetensors}};

struct Input {
  std::string target;
  Body body = nullptr;
  fs::path file;
  std::string test_name;  // <target>_<regressions|corpus>_<file name>, as a C identifier
};

std::vector<Input> inputs() {
  std::vector<Input> out;
  const fs::path root = gradlab::test::source_dir() / "tests" / "fuzz";
  for (const auto& t : targets) {
    for (const char* kind : {"regressions", "corpus"}) {
      std::error_code ec;
      const fs::path dir = root / kind / t.name;
      if (!fs::is_directory(dir, ec)) continue;
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_regular_file() && entry.path().filename().string()[0] != '.') files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      for (const auto& f : files) {
        std::string name = std::string(t.name) + "_" + kind + "_" + f.filename().string();
        for (auto& c : name)
          if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
        out.push_back({t.name, t.body, f, name});
      }
    }
  }
  return out;
}

// In a build without sanitizers, the address space is capped so that an input
// that makes the code allocate without bound fails fast with std::bad_alloc
// (instead of paging the machine to death); sanitizers reserve huge shadow
// mappings and police allocations themselves.
void cap_address_space() {
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || __has_feature(memory_sanitizer)
  return;
#endif
#endif
  constexpr rlim_t cap = rlim_t{8} << 30;  // 8 GiB of address space
  rlimit limit{};
  if (getrlimit(RLIMIT_AS, &limit) == 0 && (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur > cap)) {
    limit.rlim_cur = cap;
    setrlimit(RLIMIT_AS, &limit);
  }
#endif
}

// Names the file in gtest's messages instead of dumping the struct's bytes.
void PrintTo(const Input& input, std::ostream* out) { *out << input.file.string(); }

class Replay : public ::testing::TestWithParam<Input> {};

}  // namespace

TEST_P(Replay, Input) {
  const Input& input = GetParam();
  std::ifstream in(input.file, std::ios::binary);
  ASSERT_TRUE(in) << "cannot read " << input.file;
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  cap_address_space();
  SCOPED_TRACE("replay: fuzz_" + input.target + " " + input.file.string());
  input.body(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
}

INSTANTIATE_TEST_SUITE_P(Fuzz, Replay, ::testing::ValuesIn(inputs()),
                         [](const ::testing::TestParamInfo<Input>& info) { return info.param.test_name; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Replay);
