// What the libFuzzer harnesses of tests/fuzz share.
//
// Each harness (fuzz_<target>.cpp) defines gradlab::fuzz::<target>(data, size),
// the body of one fuzz iteration, and, unless GRADLAB_FUZZ_REPLAY is defined,
// the LLVMFuzzerTestOneInput that calls it. The normal test build compiles the
// same files with GRADLAB_FUZZ_REPLAY and replays every input kept in
// tests/fuzz/regressions/<target>/ through them (fuzz_regressions_test.cpp), so
// regressions are checked by `make test` without clang.
//
// The contract of one iteration: bad input is refused with gradlab::InputError,
// which the harness swallows. Anything else is a finding and escapes: another
// exception (std::bad_alloc, std::length_error, a Finding from a broken
// invariant), a crash, a sanitizer report, or an allocation above libFuzzer's
// -malloc_limit_mb.
#pragma once

#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "gradlab/core/registry.hpp"
#include "gradlab/data.hpp"

namespace gradlab::fuzz {

// A broken invariant that is not a crash (e.g. a truncated gzip stream read
// without an error). Deliberately not an InputError, so it escapes.
struct Finding : std::logic_error {
  using std::logic_error::logic_error;
};

// The readers under test take paths: each iteration rewrites one file private
// to this process (and target), in /dev/shm when there is one (no disk I/O).
// Removed when the process exits normally.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& target) {
    std::error_code ec;
    std::filesystem::path dir = "/dev/shm";
    if (!std::filesystem::is_directory(dir, ec) || ::access(dir.c_str(), W_OK) != 0)
      dir = std::filesystem::temp_directory_path();
    path_ = dir / ("gradlab-fuzz-" + target + "-" + std::to_string(::getpid()));
  }
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::filesystem::path& write(std::string_view bytes) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) throw std::runtime_error("fuzz harness: cannot write " + path_.string());
    return path_;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// `bytes` as one complete gzip member.
inline std::string gzip(std::string_view bytes) {
  z_stream z{};
  // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("fuzz harness: deflateInit2 failed");
  std::string out(deflateBound(&z, static_cast<uLong>(bytes.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("fuzz harness: deflate failed");
  return out;
}

inline bool starts_with_gzip_magic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// The memory budget the harnesses give the readers and build_network, as
// `gradlab train --max-memory 256MiB` would: whatever an input declares beyond
// it must be refused with InputError before it is allocated. libFuzzer's
// malloc limit (-malloc_limit_mb, = -rss_limit_mb, 1024 in run.sh) then also
// catches an estimate that misses what is really allocated by 4x or more.
inline constexpr std::uint64_t memory_budget = std::uint64_t(256) << 20;

// The file formats that may come gzip-compressed (IDX, CSV) are fuzzed behind a
// mode byte: the first input byte says how the rest, the payload, is written.
//   bit 0      left to the harness (IDX: labels instead of images; CSV: header)
//   bit 1      gzip the payload
//   bit 2      with bit 1: cut the gzip stream short by 1 + (mode >> 3) bytes
//              (1..32), which the reader must refuse
enum class Packing { plain, gzip, truncated_gzip };
struct Packed {
  Packing packing = Packing::plain;
  std::string bytes;  // the file's contents
};
inline Packed pack(std::uint8_t mode, std::string_view payload) {
  if (!(mode & 2)) return {Packing::plain, std::string(payload)};
  std::string bytes = gzip(payload);
  if (!(mode & 4)) return {Packing::gzip, std::move(bytes)};
  const std::size_t cut = 1 + (mode >> 3);
  bytes.resize(bytes.size() > cut ? bytes.size() - cut : 0);
  return {Packing::truncated_gzip, std::move(bytes)};
}

// Every bundled plugin, loaded once per process (Registry::load_standard: the
// build tree's plugin folder and GRADLAB_PLUGIN_PATH). A plugin that does not
// load makes the harness useless, so that throws.
inline const Registry& fuzz_registry() {
  static const Registry* registry = [] {
    auto* r = new Registry();
    for (const auto& p : r->load_standard())
      throw std::runtime_error("fuzz harness: plugin failed to load: " + p.path + ": " + p.message);
    return r;
  }();
  return *registry;
}

// The shape of a data set for building networks (4 features, 3 classes); no
// examples: nothing is trained.
inline const Dataset& tiny_dataset() {
  static const Dataset data = [] {
    Dataset d;
    d.name = "fuzz";
    d.task = Task::classification;
    d.input = Shape{4, 1};
    d.outputs = 3;
    return d;
  }();
  return data;
}

// The harnesses' iteration bodies (fuzz_<target>.cpp).
void spec(const std::uint8_t* data, std::size_t size);
void idx(const std::uint8_t* data, std::size_t size);
void csv(const std::uint8_t* data, std::size_t size);
void safetensors(const std::uint8_t* data, std::size_t size);

}  // namespace gradlab::fuzz

// Defines LLVMFuzzerTestOneInput for `fn`, except in the replay build.
#ifdef GRADLAB_FUZZ_REPLAY
#define GRADLAB_FUZZ_ENTRY(fn)
#else
#define GRADLAB_FUZZ_ENTRY(fn)                                                        \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    fn(data, size);                                                                   \
    return 0;                                                                         \
  }
#endif
