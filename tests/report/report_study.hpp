// The small studies the report tests run: tiny sigmoid and ReLU nets on
// digits, 2 epochs, so a study of a few runs takes well under a second.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

namespace gradlab::test {

// Two variants x two learning rates x two seeds: 8 runs, epochs 0..2 probed.
inline std::string report_study_yaml(const std::string& name = "report", const std::string& first = "plain",
                                     const std::string& second = "relu") {
  std::string yaml = "study: " + name + "\n";
  yaml +=
      "base:\n"
      "  data: {name: digits}\n"
      "  model:\n"
      "    layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]\n"
      "  init: {name: lecun_normal}\n"
      "  optimizer: {name: sgd, lr: 0.1}\n"
      "  training: {epochs: 2, batch_size: 64}\n"
      "  probes: {every: 1, batch: 32}\n";
  yaml += "variants:\n";
  yaml += "  \"" + first + "\": {}\n";
  yaml += "  \"" + second + "\": {\"model.layers.1.type\": relu, init.name: he_normal}\n";
  yaml += "grid: {optimizer.lr: [0.1, 0.05]}\nseeds: 2\nseed: 7\n";
  return yaml;
}

// Runs the study into `out`; the test fails when it does not run.
inline void run_report_study(const TempDir& dir, const std::filesystem::path& out, const std::string& yaml) {
  write_text(dir / "study.yaml", yaml);
  auto r = run_cli({"study", "run", (dir / "study.yaml").string(), "--out", out.string(), "-q", "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace gradlab::test
