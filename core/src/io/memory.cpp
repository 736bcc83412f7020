// Memory budget: the default limit a run plans against, and byte sizes as text.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab {

namespace {

constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

std::uint64_t read_cgroup_limit() {
  // cgroup v2, then v1; "max" or an absurd v1 value means no limit.
  for (const char* file : {"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream in(file);
    std::string text;
    if (in >> text && !text.empty() && std::isdigit(static_cast<unsigned char>(text[0]))) {
      try {
        return std::stoull(text);
      } catch (...) {
      }
    }
  }
  return unlimited;
}

std::uint64_t mapped_bytes() {
  std::ifstream in("/proc/self/statm");
  std::uint64_t pages = 0;
  in >> pages;
  return pages * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
}

std::uint64_t rlimit_room(int resource) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return unlimited;
  const std::uint64_t used = mapped_bytes();
  return limit.rlim_cur > used ? limit.rlim_cur - used : 0;
}

}  // namespace

std::uint64_t default_memory_budget() {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  std::uint64_t room = pages > 0 && page_size > 0 ? std::uint64_t(pages) * std::uint64_t(page_size) : unlimited;
  room = std::min({room, read_cgroup_limit(), rlimit_room(RLIMIT_AS), rlimit_room(RLIMIT_DATA)});
  if (room == unlimited) return unlimited;
  return room / 4 * 3;
}

std::string format_bytes(std::uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(text, sizeof text, value < 10 ? "%.1f %s" : "%.0f %s", value, units[unit]);
  return text;
}

std::uint64_t parse_bytes(const std::string& text, const std::string& where) {
  const auto bad = [&] {
    return InputError(where, quote_text(text, 40) + " is not a size (e.g. 512M, 4G, 2GiB or a byte count)");
  };
  std::size_t used = 0;
  double number = 0;
  try {
    number = std::stod(text, &used);
  } catch (...) {
    throw bad();
  }
  if (!std::isfinite(number) || number <= 0 || text.find_first_of("xXpP") != std::string::npos) throw bad();
  std::string unit = text.substr(used);
  std::transform(unit.begin(), unit.end(), unit.begin(), [](unsigned char c) { return std::tolower(c); });
  double scale = 0;
  if (unit.empty() || unit == "b")
    scale = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib")
    scale = 1024.0;
  else if (unit == "m" || unit == "mb" || unit == "mib")
    scale = 1024.0 * 1024;
  else if (unit == "g" || unit == "gb" || unit == "gib")
    scale = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "tb" || unit == "tib")
    scale = 1024.0 * 1024 * 1024 * 1024;
  else
    throw bad();
  const double bytes = number * scale;
  if (bytes >= 1.8e19) throw bad();
  return static_cast<std::uint64_t>(bytes);
}

}  // namespace gradlab
