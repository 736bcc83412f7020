// Input and output files: see gradlab/core/io.hpp for the guarantees.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <functional>
#include <thread>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab {

namespace fs = std::filesystem;

namespace {

std::string kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Opens a regular file for reading. O_NONBLOCK, so that opening a FIFO cannot
// block; the type is checked on the open descriptor (no race with a rename).
int open_regular(const fs::path& path, const std::string& what, struct stat& st) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) throw InputError(path.string(), "no such file (expected " + what + ")");
    if (error == EACCES) throw InputError(path.string(), "cannot read " + what + ": permission denied");
    throw InputError(path.string(), "cannot open " + what + ": " + std::strerror(error));
  }
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const std::string kind = S_ISREG(st.st_mode) ? "unreadable" : kind_of(st.st_mode);
    ::close(fd);
    throw InputError(path.string(), "is " + kind + "; expected " + what + " (a regular file)");
  }
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  return fd;
}

std::string too_large(const std::string& what, std::uint64_t max_bytes, const std::string& why) {
  return what + " is larger than the " + format_bytes(max_bytes) + " allowed (" + why + ")";
}

const char* const budget_reason = "the memory budget; see --max-memory";

}  // namespace

std::string read_regular_file(const fs::path& path, const std::string& what, std::uint64_t max_bytes,
                              const std::string& limit_reason) {
  struct stat st {};
  const int fd = open_regular(path, what, st);
  std::string out;
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    throw InputError(path.string(),
                     too_large(what + " (" + format_bytes(std::uint64_t(st.st_size)) + ")", max_bytes, limit_reason));
  }
  out.reserve(static_cast<std::size_t>(st.st_size));
  char buffer[1 << 16];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      throw InputError(path.string(), "read error: " + std::string(std::strerror(error)));
    }
    if (n == 0) break;
    if (out.size() + std::size_t(n) > max_bytes) {  // a file that grows while it is read
      ::close(fd);
      throw InputError(path.string(), too_large(what, max_bytes, limit_reason));
    }
    out.append(buffer, std::size_t(n));
  }
  ::close(fd);
  return out;
}

GzipInput::GzipInput(const fs::path& path, const std::string& what) : path_(path) {
  struct stat st {};
  const int fd = open_regular(path, what, st);
  file_size_ = static_cast<std::uint64_t>(st.st_size);
  gzFile file = gzdopen(fd, "rb");
  if (!file) {
    ::close(fd);
    throw InputError(path.string(), "cannot open for reading");
  }
  gzbuffer(file, 1 << 17);
  file_ = file;
}

GzipInput::~GzipInput() {
  if (file_) gzclose_r(static_cast<gzFile>(file_));
}

bool GzipInput::compressed() const { return gzdirect(static_cast<gzFile>(file_)) == 0; }

void GzipInput::check_stream_end() {
  // zlib reports a stream cut short (before the deflate end and the gzip
  // trailer) only through the error state, while gzread returns 0 as at a
  // proper end: Z_BUF_ERROR, "unexpected end of file".
  int code = Z_OK;
  const char* message = gzerror(static_cast<gzFile>(file_), &code);
  if (code == Z_BUF_ERROR)
    throw InputError(path_.string(), "truncated gzip data: the compressed stream ends before its end marker");
  if (code != Z_OK) throw InputError(path_.string(), std::string("corrupt gzip data: ") + (message ? message : "?"));
}

std::size_t GzipInput::read(char* out, std::size_t n) {
  std::size_t total = 0;
  while (total < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, INT_MAX / 2));
    const int got = gzread(static_cast<gzFile>(file_), out + total, chunk);
    if (got < 0) {
      int code = 0;
      const char* message = gzerror(static_cast<gzFile>(file_), &code);
      throw InputError(path_.string(), std::string("corrupt or truncated gzip data: ") + (message ? message : "?"));
    }
    if (got == 0) {
      check_stream_end();
      break;
    }
    total += std::size_t(got);
  }
  return total;
}

void GzipInput::read_exact(char* out, std::size_t n, const std::string& what_for) {
  const std::size_t got = read(out, n);
  if (got != n)
    throw InputError(path_.string(), "truncated: " + what_for + " needs " + std::to_string(n) +
                                         " bytes, the file has " + std::to_string(got));
}

void GzipInput::expect_end(const std::string& after) {
  char extra = 0;
  // A read at the end checks the gzip stream's end marker (check_stream_end).
  if (read(&extra, 1) != 0) throw InputError(path_.string(), "unexpected data after " + after);
}

std::string GzipInput::read_rest(std::uint64_t max_bytes) {
  std::string out;
  char buffer[1 << 16];
  for (;;) {
    const std::size_t got = read(buffer, sizeof buffer);
    if (got == 0) break;
    if (out.size() + got > max_bytes)
      throw InputError(path_.string(), too_large("the data (uncompressed)", max_bytes, budget_reason));
    out.append(buffer, got);
  }
  return out;
}

// ---------------------------------------------------------------------------
// Outputs

namespace {

// The descriptor number N of /proc/self/fd/N, /proc/<this pid>/fd/N or
// /dev/fd/N; -1 for any other path.
int own_fd_number(const fs::path& p) {
  const std::string s = p.string();
  const std::string own = std::string("/proc/") + std::to_string(::getpid()) + "/fd/";
  for (const std::string& prefix : {std::string("/proc/self/fd/"), own, std::string("/dev/fd/")}) {
    if (s.rfind(prefix, 0) != 0 || s.size() == prefix.size() || s.size() > prefix.size() + 9) continue;
    if (s.find_first_not_of("0123456789", prefix.size()) != std::string::npos) continue;
    return std::stoi(s.substr(prefix.size()));
  }
  return -1;
}

std::string errno_text(int error) { return std::strerror(error); }

// Writes all bytes to fd; returns 0 or the errno of the failure.
int write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno;
    if (n == 0) return EIO;
    done += std::size_t(n);
  }
  return 0;
}

// A temporary name beside the target, unique per process and thread.
fs::path temp_name(const fs::path& target, int attempt) {
  fs::path parent = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  char suffix[96];
  std::snprintf(suffix, sizeof suffix, ".tmp-%ld-%zu-%d", static_cast<long>(::getpid()),
                std::hash<std::thread::id>{}(std::this_thread::get_id()) % 1000000007u, attempt);
  std::string name = ".";
  name += target.filename().string();
  name += suffix;
  return parent / name;
}

int create_temp(const fs::path& target, fs::path& temp, mode_t mode) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    temp = temp_name(target, attempt);
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd >= 0 || errno != EEXIST) return fd;
  }
  errno = EEXIST;
  return -1;
}

}  // namespace

OutputFile OutputFile::prepare(const std::string& option, const std::string& path) {
  OutputFile out;
  out.option_ = option;
  out.path_ = path;
  const std::string where = option.empty() ? path : option + " " + path;
  if (path.empty()) throw InputError(option, "needs a file name");

  // Follow symlinks by hand, so that a rename replaces the link's target and
  // never the link itself.
  fs::path current = path;
  for (int hops = 0;; ++hops) {
    // /dev/stdout -> /proc/self/fd/1 names one of this process's open files
    // (a pipe, a terminal, a file the shell opened): written through that
    // descriptor, at its offset, as `> file` and `| jq` expect.
    if (const int fd = own_fd_number(current); fd >= 0) {
      if (::fcntl(fd, F_GETFL) < 0)
        throw InputError(where, "names file descriptor " + std::to_string(fd) + ", which is not open");
      if ((::fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY)
        throw InputError(where, "names file descriptor " + std::to_string(fd) + ", which is open for reading only");
      out.fd_ = fd;
      out.in_place_ = true;
      out.target_ = current;
      return out;
    }
    struct stat st {};
    if (::lstat(current.c_str(), &st) != 0) {
      const int error = errno;
      if (error == ENOENT) break;
      if (error == ENOTDIR) throw InputError(where, "a part of the path is not a folder");
      throw InputError(where, "cannot use this path: " + errno_text(error));
    }
    if (!S_ISLNK(st.st_mode)) break;
    if (hops >= 40) throw InputError(where, "too many levels of symbolic links");
    std::error_code ec;
    fs::path link = fs::read_symlink(current, ec);
    if (ec) throw InputError(where, "cannot read the symbolic link " + current.string() + ": " + ec.message());
    current = link.is_absolute() ? link : current.parent_path() / link;
  }

  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) throw InputError(where, "is a folder; expected a file name");
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
      out.in_place_ = true;
    } else if (!S_ISREG(st.st_mode)) {
      throw InputError(where, "is " + kind_of(st.st_mode) + "; expected a file name");
    }
    if (out.in_place_ && ::access(path.c_str(), W_OK) != 0)
      throw InputError(where, "cannot write: " + errno_text(errno));
  } else if (errno != ENOENT) {
    throw InputError(where, "cannot use this path: " + errno_text(errno));
  }
  out.target_ = current;
  if (out.in_place_) {
    out.target_ = path;
    return out;
  }
  // A regular file (or a new one): the folder must exist and take a new file,
  // which is what the write will need. Checked by creating and removing one.
  fs::path parent = current.parent_path().empty() ? fs::path(".") : current.parent_path();
  std::error_code ec;
  if (!fs::is_directory(parent, ec)) throw InputError(where, "folder '" + parent.string() + "' does not exist");
  fs::path probe;
  const int fd = create_temp(current, probe, 0600);
  if (fd < 0) throw InputError(where, "cannot create a file in folder '" + parent.string() + "': " + errno_text(errno));
  ::close(fd);
  ::unlink(probe.c_str());
  return out;
}

bool OutputFile::same_target(const OutputFile& other) const {
  struct stat a {
  }, b{};
  if (::stat(path_.c_str(), &a) == 0 && ::stat(other.path_.c_str(), &b) == 0)
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  std::error_code ec1, ec2;
  return fs::weakly_canonical(target_, ec1) == fs::weakly_canonical(other.target_, ec2);
}

void OutputFile::write(const std::string& bytes) const {
  if (fd_ >= 0) {
    // Whatever this process printed to the descriptor first goes out first.
    std::fflush(nullptr);
    if (const int error = write_all(fd_, bytes)) throw OutputError(path_ + ": write failed: " + errno_text(error));
    return;
  }
  if (in_place_) {
    struct stat st {};
    const bool regular = ::stat(path_.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CLOEXEC | (regular ? O_TRUNC : 0));
    if (fd < 0) throw OutputError(path_ + ": cannot open for writing: " + errno_text(errno));
    const int error = write_all(fd, bytes);
    const int close_error = ::close(fd) == 0 ? 0 : errno;
    if (error || close_error) throw OutputError(path_ + ": write failed: " + errno_text(error ? error : close_error));
    return;
  }
  // Keep the permissions of a file that is replaced.
  mode_t mode = 0666;
  struct stat st {};
  if (::stat(target_.c_str(), &st) == 0 && S_ISREG(st.st_mode)) mode = st.st_mode & 07777;
  fs::path temp;
  const int fd = create_temp(target_, temp, mode);
  if (fd < 0)
    throw OutputError(path_ + ": cannot create a temporary file beside it: " + errno_text(errno) +
                      "; the old file, if any, is unchanged");
  if (mode != 0666) ::fchmod(fd, mode);
  const int error = write_all(fd, bytes);
  const int close_error = ::close(fd) == 0 ? 0 : errno;
  if (error || close_error) {
    ::unlink(temp.c_str());
    throw OutputError(path_ + ": write failed (" + errno_text(error ? error : close_error) +
                      "); the old file, if any, is unchanged");
  }
  if (::rename(temp.c_str(), target_.c_str()) != 0) {
    const int rename_error = errno;
    ::unlink(temp.c_str());
    throw OutputError(path_ + ": cannot replace the file: " + errno_text(rename_error));
  }
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  OutputFile::prepare("", path).write(bytes);
}

}  // namespace gradlab
