// Files in and out, with the guarantees every reader and writer of the core
// keeps:
//
// Inputs (specs, data files, weights files) are opened only when they are
// regular files: a FIFO, device, socket or folder is refused at once with its
// kind named, never read (a FIFO would block forever, /dev/zero would never
// end). Every read is bounded by a byte limit given by the caller, checked
// against the file's size before reading and against the bytes actually read
// (a gzip stream may inflate far beyond its file size). A gzip stream that ends
// early is an error, wherever it was cut.
//
// Outputs never replace what the path is: a regular file (or a path that does
// not exist yet) is written through a temporary file in the same folder and a
// rename, so a failed write keeps the old file; a symlink is followed and its
// target written, the link stays; a FIFO or character device is written in
// place; /dev/stdout, /dev/fd/N and /proc/self/fd/N (directly or through a
// link) are written through the process's own descriptor N, at its offset. Whatever can be checked before a long run
// (the folder exists and takes a new file, the path is no folder) is checked by OutputFile::prepare.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

namespace gradlab {

// A write that failed after the run's work was done (disk full, a device
// error). Not bad input: the CLI exits with 1 and names the file.
class OutputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads a whole regular file of at most `max_bytes` bytes. `what` names the
// file's role in messages ("a run spec", "a weights file"), `limit_reason`
// why the limit is what it is.
std::string read_regular_file(const std::filesystem::path& path, const std::string& what, std::uint64_t max_bytes,
                              const std::string& limit_reason = "the memory budget; see --max-memory");

// A regular file read as a stream, gunzipped when it starts with the gzip
// magic (plain files pass through). Errors are InputErrors naming the path.
class GzipInput {
 public:
  GzipInput(const std::filesystem::path& path, const std::string& what);
  ~GzipInput();
  GzipInput(const GzipInput&) = delete;
  GzipInput& operator=(const GzipInput&) = delete;

  // Reads up to n bytes; fewer only at the end of the data. A corrupt or
  // truncated gzip stream throws.
  std::size_t read(char* out, std::size_t n);
  // Reads exactly n bytes, or throws naming `what_for` as what was cut short.
  void read_exact(char* out, std::size_t n, const std::string& what_for);
  // Requires the end of the data (and, for gzip, the stream's end marker):
  // a format whose header declares its size still reads to the end, so a
  // stream cut after the last needed byte is found too.
  void expect_end(const std::string& after);
  // Reads the rest of the data, throwing when it exceeds max_bytes.
  std::string read_rest(std::uint64_t max_bytes);
  const std::filesystem::path& path() const { return path_; }
  // Whether the data is gzip-compressed (known after the first read).
  bool compressed() const;
  // Size of the file on disk (compressed size for gzip).
  std::uint64_t file_size() const { return file_size_; }

 private:
  void check_stream_end();
  std::filesystem::path path_;
  std::uint64_t file_size_ = 0;
  void* file_ = nullptr;  // gzFile
};

// An output path, checked before the work that fills it.
class OutputFile {
 public:
  // Resolves symlinks, classifies the target and checks that it can be
  // written (for a regular file: the folder takes a new file). Throws
  // InputError naming `option` and the path when it cannot.
  static OutputFile prepare(const std::string& option, const std::string& path);

  // Writes the bytes as the class comment says. Throws OutputError when the
  // write fails; for a regular file the old content is then still there.
  void write(const std::string& bytes) const;

  const std::string& path() const { return path_; }
  // Where the bytes land: the path with its symlinks resolved.
  const std::filesystem::path& target() const { return target_; }
  bool in_place() const { return in_place_; }
  // Whether two outputs would write the same file.
  bool same_target(const OutputFile& other) const;

 private:
  std::string option_;
  std::string path_;
  std::filesystem::path target_;
  bool in_place_ = false;  // FIFO, character device, own descriptor: written where it is
  int fd_ = -1;            // /dev/stdout, /proc/self/fd/N: this process's descriptor N
};

// Writes `bytes` to `path` as OutputFile does (prepare, then write).
void write_file_atomically(const std::string& path, const std::string& bytes);

// The memory a run may plan to use when nothing else is said: 3/4 of the
// least of the machine's memory, the cgroup's limit and the process's
// address-space and data limits (less what the process already maps).
std::uint64_t default_memory_budget();

// "1.5 GiB", "300 MiB", "12 KiB", "512 B".
std::string format_bytes(std::uint64_t bytes);

// Parses a size such as 512M, 4G, 2GiB, 1.5g or a byte count; throws
// InputError(where, ...) on anything else.
std::uint64_t parse_bytes(const std::string& text, const std::string& where);

}  // namespace gradlab
