// Errors the core reports to a user. Each carries the place it is about (a
// spec file with line and column, a data file with its row, a weights file
// with a tensor name) so the CLI can print one line naming problem and place.
#pragma once

#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>

namespace gradlab {

// Bad user input: a spec, data file, weights file or command-line value.
// The CLI prints "gradlab: error: <where>: <what>" and exits with code 2.
class InputError : public std::runtime_error {
 public:
  InputError(std::string where, const std::string& what)
      : std::runtime_error(where.empty() ? what : where + ": " + what), where_(std::move(where)), what_(what) {}
  const std::string& where() const { return where_; }
  const std::string& problem() const { return what_; }

 private:
  std::string where_;
  std::string what_;
};

// Text made safe for one terminal line: control characters escaped (\n,
// \x1b: never raw to a terminal) and cut to about `max` bytes, at a UTF-8
// character boundary, saying the full length when cut.
inline std::string escape_text(std::string_view text, std::size_t max) {
  std::string out;
  std::size_t used = 0;
  for (; used < text.size() && out.size() < max; ++used) {
    const unsigned char c = static_cast<unsigned char>(text[used]);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    } else {
      out += static_cast<char>(c);
    }
  }
  // Never end inside a multi-byte UTF-8 character (continuation bytes are
  // copied one for one, so out and text end alike).
  while (used < text.size() && used > 0 && (static_cast<unsigned char>(text[used]) & 0xC0) == 0x80) {
    out.pop_back();
    --used;
  }
  if (used < text.size()) out += "... (" + std::to_string(text.size()) + " bytes)";
  return out;
}

// User text quoted for a message: 'text', escaped and cut as escape_text does.
inline std::string quote_text(std::string_view text, std::size_t max = 60) {
  std::string out(1, '\'');
  out += escape_text(text, max);
  out += '\'';
  return out;
}

// A message made one safe terminal line: the CLI passes every error and
// warning through it.
inline std::string terminal_line(std::string_view text, std::size_t max = 4000) { return escape_text(text, max); }

}  // namespace gradlab
