// The `schedule:` section end to end: bad schedules through the CLI (one line
// naming the place, exit code 2), the schedule in the summary's provenance,
// and its effect on training (constant 1 = no schedule bit for bit; step decay
// changes the weights).
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;
using test::CommandResult;
using test::lines_of;
using test::run_cli;
using test::TempDir;
using test::write_text;

namespace {

const char* base_spec = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: relu}, {type: dense, units: 10}]
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 3, batch_size: 64}
)";

// Runs `gradlab train` on base_spec plus `schedule_line` (line 6 of the spec)
// and checks the bad-input contract; returns the one error line.
std::string bad_schedule(const std::string& schedule_line, const std::vector<std::string>& extra = {}) {
  TempDir dir;
  write_text(dir / "spec.yaml", std::string(base_spec) + schedule_line + "\n");
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  const CommandResult r = run_cli(args);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  const auto lines = lines_of(r.err);
  EXPECT_EQ(lines.size(), 1u) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.json"));
  return lines.empty() ? std::string() : lines.front();
}

void expect_contains(const std::string& line, const std::vector<std::string>& needles) {
  EXPECT_EQ(line.rfind("gradlab: error: ", 0), 0u) << line;
  for (const auto& n : needles) EXPECT_NE(line.find(n), std::string::npos) << "'" << n << "' missing from: " << line;
}

RunResult run_with(const std::string& schedule_line) {
  return train_run(test::spec_from_yaml(std::string(base_spec) + schedule_line + "\n"), test::bundled_registry());
}

}  // namespace

TEST(ScheduleSpec, UnknownScheduleNamesThePlace) {
  expect_contains(bad_schedule("schedule: {name: cosin}"), {"spec.yaml:6:", "'cosin'", "'cosine'"});
}

TEST(ScheduleSpec, ThenOnlyWhereTheScheduleAcceptsIt) {
  expect_contains(bad_schedule("schedule: {name: cosine, then: {name: constant}}"),
                  {"spec.yaml:6:", "'cosine'", "then"});
  // The same `then:` under linear_warmup is fine, and a bad name inside it is placed.
  TempDir dir;
  write_text(dir / "spec.yaml",
             std::string(base_spec) + "schedule: {name: linear_warmup, steps: 5, then: {name: cosine}}\n");
  const auto ok = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--set", "training.epochs=1"});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  expect_contains(bad_schedule("schedule: {name: linear_warmup, steps: 5, then: {name: expo}}"),
                  {"spec.yaml:6:", "'expo'", "'exponential'"});
}

TEST(ScheduleSpec, BadParametersAreRefused) {
  expect_contains(bad_schedule("schedule: {name: step, every: 2, gamma: 0}"), {"spec.yaml:6:", "'gamma'"});
  expect_contains(bad_schedule("schedule: {name: exponential, gamma: 0}"), {"spec.yaml:6:", "'gamma'"});
  expect_contains(bad_schedule("schedule: {name: linear_warmup, steps: 0}"), {"spec.yaml:6:", "'steps'"});
  expect_contains(bad_schedule("schedule: {name: cosine, min_factor: 1}"), {"spec.yaml:6:", "min_factor"});
  expect_contains(bad_schedule("schedule: {name: step, every: 2}", {"--set", "schedule.gamma=0"}),
                  {"--set schedule.gamma=0", "'gamma'"});
}

TEST(ScheduleSpec, ScheduleIsInTheSummaryProvenance) {
  TempDir dir;
  write_text(dir / "spec.yaml",
             std::string(base_spec) + "schedule: {name: linear_warmup, steps: 5, then: {name: step, gamma: 0.5}}\n");
  const auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string(), "--set",
                          "training.epochs=1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto summary = nlohmann::json::parse(test::read_text(dir / "out.json"));
  std::vector<nlohmann::json> schedules;
  for (const auto& p : summary["plugins"])
    if (p["kind"] == "schedule") schedules.push_back(p);
  ASSERT_EQ(schedules.size(), 2u) << summary["plugins"].dump(2);
  EXPECT_EQ(schedules[0]["name"], "linear_warmup");
  EXPECT_EQ(schedules[0]["plugin"], "linear_warmup");
  EXPECT_EQ(schedules[0]["params"]["steps"], 5);
  EXPECT_EQ(schedules[1]["name"], "step");
  EXPECT_EQ(schedules[1]["params"]["gamma"], 0.5);
  EXPECT_EQ(schedules[1]["params"]["every"], 10);  // the default, filled in
}

TEST(ScheduleTraining, ConstantOneEqualsNoScheduleBitForBit) {
  const auto none = run_with("");
  const auto one = run_with("schedule: constant");
  ASSERT_EQ(none.summary.status, RunStatus::ok);
  ASSERT_EQ(one.summary.status, RunStatus::ok);
  const Vector a = none.network->parameters(), b = one.network->parameters();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())), 0);
}

TEST(ScheduleTraining, StepDecayChangesTheWeightsFromItsFirstDecay) {
  const auto constant = run_with("schedule: constant");
  const auto step = run_with("schedule: {name: step, every: 2, gamma: 0.1}");
  const auto late = run_with("schedule: {name: step, every: 3, gamma: 0.1}");  // decays after the run
  ASSERT_EQ(step.summary.status, RunStatus::ok);
  const Vector c = constant.network->parameters();
  EXPECT_GT((step.network->parameters() - c).norm(), 1e-3 * c.norm());
  // Epochs 1-2 run at the full rate in both, so the evaluated epochs agree until then.
  ASSERT_EQ(step.summary.epochs.size(), 4u);
  EXPECT_EQ(step.summary.epochs[2].train_loss, constant.summary.epochs[2].train_loss);
  EXPECT_NE(step.summary.epochs[3].train_loss, constant.summary.epochs[3].train_loss);
  EXPECT_TRUE(late.network->parameters() == c);
}
