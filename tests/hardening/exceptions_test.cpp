// An exception from a plugin while a run trains is a run result, not a crash:
// status "failed", the exception's text in the message ("in epoch N: ..."),
// the epochs recorded before it kept; the CLI still writes the summary and
// exits 1. And the CLI with no command at all is a usage error.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using nlohmann::json;
using test::TempDir;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The bundled plugins and the throwing_layer test plugin.
const Registry& registry() {
  static const Registry* r = [] {
    auto* reg = new Registry();
    auto problems = reg->load_standard({test::test_plugin_dir("throwing_layer")});
    for (const auto& p : problems) ADD_FAILURE() << "plugin failed to load: " << p.path << ": " << p.message;
    return reg;
  }();
  return *r;
}

// digits: 1437 training rows in batches of 100 = 15 training forwards per
// epoch, plus the forwards of each epoch record (9 today: evaluation of both
// splits and a probe): calls 1-9 are epoch 0's record, 10-33 epoch 1, 34-57
// epoch 2. Call 45 is in the middle of epoch 2, after epoch 1 was recorded.
std::string spec_yaml(const std::string& kind, int throw_at_call = 45) {
  return "data: {name: digits}\n"
         "model:\n"
         "  layers: [{type: dense, units: 16}, {type: throwing_layer, throw_at_call: " +
         std::to_string(throw_at_call) + ", kind: " + kind +
         "}, {type: dense, units: 10}]\n"
         "training: {epochs: 3, batch_size: 100}\n";
}

RunSpec spec_for(const std::string& kind, int throw_at_call = 45) {
  return parse_run_spec(spec_yaml(kind, throw_at_call), "t.yaml", {}, registry(), test::source_dir().string());
}

// The N of a message "in epoch N: ...", or -1.
long epoch_in(const std::string& message) {
  const std::string prefix = "in epoch ";
  if (message.rfind(prefix, 0) != 0) return -1;
  return std::strtol(message.c_str() + prefix.size(), nullptr, 10);
}

}  // namespace

TEST(HardeningExceptions, PluginIsThere) {
  ASSERT_NE(registry().find(ComponentKind::layer, "throwing_layer"), nullptr);
}

TEST(HardeningExceptions, NoThrowMeansAnOrdinaryRun) {
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec_for("std", 1000000), registry()));
  EXPECT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  EXPECT_EQ(result.summary.epochs_run, 3);
}

TEST(HardeningExceptions, StdExceptionFailsTheRunKeepingItsEpochs) {
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec_for("std"), registry()));
  const auto& s = result.summary;
  ASSERT_EQ(s.status, RunStatus::failed) << s.message;
  EXPECT_TRUE(contains(s.message, "boom from throwing_layer")) << s.message;
  const long epoch = epoch_in(s.message);
  EXPECT_GE(epoch, 2) << s.message;
  EXPECT_LE(epoch, 3) << s.message;
  // The records before the failure stay (epochs 0 and 1), none from the failed epoch on.
  ASSERT_GE(s.epochs.size(), 2u);
  EXPECT_EQ(s.epochs[0].epoch, 0);
  EXPECT_EQ(s.epochs[1].epoch, 1);
  EXPECT_GE(s.epochs_run, 1);
  for (const auto& e : s.epochs) EXPECT_LT(e.epoch, epoch) << s.message;
  EXPECT_LT(s.epochs_run, 3);
  EXPECT_FALSE(s.diverged_epoch.has_value());

  // The summary says so in JSON too.
  const json j = to_json(s);
  EXPECT_EQ(j["status"], "failed");
  EXPECT_TRUE(contains(j.value("message", std::string()), "boom")) << j.dump(2);
}

TEST(HardeningExceptions, ExceptionInTheFirstEpochRecordIsFailedToo) {
  // Call 1 is the first evaluation, before any update: no "in epoch" prefix.
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec_for("std", 1), registry()));
  EXPECT_EQ(result.summary.status, RunStatus::failed);
  EXPECT_TRUE(contains(result.summary.message, "boom from throwing_layer")) << result.summary.message;
  EXPECT_EQ(epoch_in(result.summary.message), -1) << result.summary.message;
  EXPECT_EQ(result.summary.epochs_run, 0);
}

TEST(HardeningExceptions, NonStandardExceptionFailsTheRun) {
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec_for("non_std"), registry()));
  const auto& s = result.summary;
  ASSERT_EQ(s.status, RunStatus::failed) << s.message;
  EXPECT_GE(epoch_in(s.message), 2) << s.message;
  EXPECT_GT(s.message.size(), std::string("in epoch 2: ").size()) << "says what happened: " << s.message;
  EXPECT_GE(s.epochs.size(), 2u);
}

TEST(HardeningExceptions, CliWritesTheFailedSummaryAndExitsOne) {
  TempDir dir;
  test::write_text(dir / "spec.yaml", spec_yaml("std"));
  auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "-q", "--plugin-dir",
                          test::test_plugin_dir("throwing_layer").string(), "--json", (dir / "out.json").string(),
                          "--save-weights", (dir / "w.safetensors").string()});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_TRUE(contains(r.err, "gradlab: error: run failed: ")) << r.err;
  EXPECT_TRUE(contains(r.err, "boom from throwing_layer")) << r.err;
  EXPECT_FALSE(contains(r.err, "internal error")) << r.err;
  EXPECT_TRUE(contains(r.out, "status failed")) << r.out;
  ASSERT_TRUE(fs::exists(dir / "out.json"));
  const json summary = json::parse(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "failed") << summary.dump(2);
  EXPECT_TRUE(contains(summary.value("message", std::string()), "boom")) << summary.dump(2);
  ASSERT_TRUE(summary["epochs"].is_array());
  EXPECT_FALSE(summary["epochs"].empty());
  EXPECT_FALSE(fs::exists(dir / "w.safetensors")) << "a failed run's weights are not saved";
}

TEST(HardeningExceptions, CliWithoutACommandIsAUsageError) {
  auto r = test::run_cli({});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_TRUE(contains(r.err, "no command given")) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}
