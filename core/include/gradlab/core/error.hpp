// Errors the core reports to a user. Each carries the place it is about (a
// spec file with line and column, a data file with its row, a weights file
// with a tensor name) so the CLI can print one line naming problem and place.
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace gradlab
