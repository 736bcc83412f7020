// random_search through the CLI: it solves a short latch quickly and reports
// its trials in the run summary, reports an unsolved search as a normal run,
// is reproducible (seed; thread count), and refuses bad input at `pretrain`.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;
using nlohmann::json;

namespace {

bool have_plugins() {
  return bundled_registry().find(ComponentKind::pretrain, "random_search") &&
         bundled_registry().find(ComponentKind::layer, "fully_recurrent");
}

// Latch variant II of Schmidhuber, Hochreiter & Bengio (2001), shortened: one
// tanh unit with a self, an input and a bias weight.
const char* latch_spec = R"(data: {name: latch, min_length: 50, max_length: 60, train: 20, test: 20}
model:
  layers: [{type: fully_recurrent, units: 1, activation: tanh, bias: all, sequence: last}]
pretrain: {name: random_search, range: 100, max_trials: 2000, log_every: 0}
training: {epochs: 0, seed: 5}
)";

// 3c with a budget far too small (as every budget of the paper was).
const char* budget_spec = R"(data: {name: two_sequence, variant: 3c, length: 20, train: 20, test: 20}
model:
  layers: [{type: fully_recurrent, units: 2, bias: hidden, activation: sigmoid, sequence: last}]
pretrain: {name: random_search, max_trials: 5}
training: {epochs: 0, seed: 1}
)";

struct CliRun {
  CommandResult result;
  json summary;
};

CliRun train(const TempDir& dir, const std::string& spec, std::vector<std::string> extra = {}) {
  write_text(dir / "spec.yaml", spec);
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  CliRun run;
  run.result = run_cli(args);
  if (run.result.exit_code == 0) run.summary = json::parse(read_text(dir / "out.json"));
  return run;
}

double series_last(const json& summary, const std::string& metric) {
  const json& s = summary.at("pretraining").at(metric);
  EXPECT_TRUE(s.is_array() && !s.empty()) << summary.at("pretraining").dump();
  return s.back().get<double>();
}

}  // namespace

TEST(RandomSearch, SolvesShortLatchQuicklyAndReportsTrials) {
  if (!have_plugins()) GTEST_SKIP();
  TempDir dir;
  const CliRun run = train(dir, latch_spec);
  ASSERT_EQ(run.result.exit_code, 0) << run.result.err;
  EXPECT_EQ(run.summary.at("status"), "ok");
  EXPECT_EQ(series_last(run.summary, "solved"), 1.0);
  const double trials = series_last(run.summary, "trials");
  EXPECT_GE(trials, 1);
  EXPECT_LE(trials, 200) << "the report needs 22 trials on average for 500-600 steps";
  EXPECT_EQ(series_last(run.summary, "best_success_rate"), 1.0);
}

TEST(RandomSearch, SameSeedSameTrialsWhateverTheThreads) {
  if (!have_plugins()) GTEST_SKIP();
  TempDir a, b, c, d;
  const CliRun one = train(a, latch_spec, {"--save-weights", (a / "w.safetensors").string()});
  const CliRun again = train(b, latch_spec, {"--save-weights", (b / "w.safetensors").string()});
  const CliRun threads = train(c, latch_spec, {"--threads", "3", "--save-weights", (c / "w.safetensors").string()});
  ASSERT_EQ(one.result.exit_code, 0) << one.result.err;
  ASSERT_EQ(again.result.exit_code, 0) << again.result.err;
  ASSERT_EQ(threads.result.exit_code, 0) << threads.result.err;
  EXPECT_EQ(one.summary.at("pretraining"), again.summary.at("pretraining"));
  EXPECT_EQ(one.summary.at("pretraining"), threads.summary.at("pretraining"));
  EXPECT_EQ(read_text(a / "w.safetensors"), read_text(b / "w.safetensors"));
  EXPECT_EQ(read_text(a / "w.safetensors"), read_text(c / "w.safetensors"));
  // Another seed draws other weights: over a few seeds the counts differ.
  std::set<double> counts{series_last(one.summary, "trials")};
  for (const char* seed : {"6", "7", "8"}) {
    const CliRun other = train(d, latch_spec, {"--set", std::string("training.seed=") + seed});
    ASSERT_EQ(other.result.exit_code, 0) << other.result.err;
    counts.insert(series_last(other.summary, "trials"));
  }
  EXPECT_GT(counts.size(), 1u);
}

TEST(RandomSearch, BudgetTooSmallReportsUnsolvedAsANormalRun) {
  if (!have_plugins()) GTEST_SKIP();
  for (const char* threads : {"1", "2"}) {
    SCOPED_TRACE(threads);
    TempDir dir;
    const CliRun run = train(dir, budget_spec, {"--threads", threads});
    ASSERT_EQ(run.result.exit_code, 0) << run.result.err;
    EXPECT_EQ(run.summary.at("status"), "ok");
    EXPECT_EQ(series_last(run.summary, "solved"), 0.0);
    EXPECT_EQ(series_last(run.summary, "trials"), 5.0);
    EXPECT_LT(series_last(run.summary, "best_success_rate"), 1.0);
  }
}

TEST(RandomSearch, BadInputExitsTwoAtPretrain) {
  if (!have_plugins()) GTEST_SKIP();
  const std::string model = "model:\n  layers: [{type: fully_recurrent, units: 1}]\ntraining: {epochs: 0}\n";
  const std::string latch = "data: {name: latch, min_length: 5, max_length: 6, train: 4, test: 4}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {latch + model + "pretrain: {name: random_search, range: 0}\n", "'range'"},
      {latch + model + "pretrain: {name: random_search, range: -3}\n", "'range'"},
      {latch + model + "pretrain: {name: random_search, max_trials: 0}\n", "'max_trials'"},
      // digits has no success criterion: nothing says when a guess solves it.
      {"data: {name: digits}\nmodel:\n  layers: [{type: dense, units: 10}]\ntraining: {epochs: 0}\n"
       "pretrain: {name: random_search}\n",
       "success criterion"},
  };
  for (const auto& [spec, needle] : cases) {
    SCOPED_TRACE(spec);
    TempDir dir;
    write_text(dir / "spec.yaml", spec);
    const CommandResult r = run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find("pretrain"), std::string::npos) << lines[0];
    EXPECT_NE(lines[0].find(needle), std::string::npos) << lines[0];
    EXPECT_FALSE(std::filesystem::exists(dir / "out.json"));
  }
}

TEST(RandomSearch, ExampleSpecsAreValid) {
  if (!have_plugins()) GTEST_SKIP();
  int specs = 0;
  for (const auto& e : std::filesystem::directory_iterator(source_dir() / "examples" / "pretrain")) {
    if (e.path().extension() != ".yaml" || e.path().filename().string().rfind("guess_", 0) != 0) continue;
    SCOPED_TRACE(e.path().string());
    const RunSpec spec = spec_from_yaml(read_text(e.path()));
    ASSERT_TRUE(spec.pretrain.has_value());
    EXPECT_EQ(spec.pretrain->name, "random_search");
    ++specs;
  }
  EXPECT_EQ(specs, 4);
}
