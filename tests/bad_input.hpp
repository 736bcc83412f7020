// Bad input through the CLI, for tests outside cli_errors_test.cpp: the run
// must end with exit code 2 and exactly one stderr line "gradlab: error: ..."
// holding every needle (the place and the problem).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_support.hpp"

namespace gradlab::test {

// Writes `spec` to dir/spec.yaml, runs `gradlab train` on it with `extra`
// arguments and returns the error line.
inline std::string expect_one_line_bad_input(const TempDir& dir, const std::string& spec,
                                             const std::vector<std::string>& extra,
                                             const std::vector<std::string>& needles) {
  write_text(dir / "spec.yaml", spec);
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "-q"};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << "stdout: " << r.out << "\nstderr: " << r.err;
  const auto lines = lines_of(r.err);
  EXPECT_EQ(lines.size(), 1u) << "stderr must be exactly one line:\n" << r.err;
  const std::string line = lines.empty() ? std::string() : lines.front();
  EXPECT_EQ(line.rfind("gradlab: error: ", 0), 0u) << line;
  for (const auto& needle : needles)
    EXPECT_NE(line.find(needle), std::string::npos) << "'" << needle << "' missing from: " << line;
  return line;
}

}  // namespace gradlab::test
