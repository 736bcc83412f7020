// The genetic pretraining strategy: it trains a net by itself, its result does
// not depend on the thread count, elitism keeps the best fitness from getting
// worse, and bad input is refused before anything runs.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;
using gradlab::test::lines_of;

namespace {

// A linear softmax classifier on digits (650 weights) trained by the GA alone
// (epochs: 0), on a fixed subset of 400 training examples: well under a second.
std::string digits_spec(int generations = 80, const std::string& genetic_extra = "") {
  return R"(data: {name: digits}
model: {layers: [{type: dense, units: 10}]}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.1}
pretrain: {name: genetic, population: 32, generations: )" +
         std::to_string(generations) + R"(, mutation_rate: 0.2, mutation_scale: 0.1,
           fitness_examples: 400)" +
         genetic_extra + R"(}
training: {epochs: 0, seed: 3}
)";
}

RunResult run_with_threads(const std::string& yaml, int threads) {
  RunOptions options;
  options.threads = threads;
  return train_run(test::spec_from_yaml(yaml), test::bundled_registry(), options);
}

std::vector<double> series(const RunSummary& summary, const std::string& metric) {
  const auto json = to_json(summary);
  std::vector<double> values;
  if (!json.contains("pretraining") || !json["pretraining"].contains(metric)) return values;
  for (const auto& v : json["pretraining"][metric]) values.push_back(v.get<double>());
  return values;
}

}  // namespace

TEST(Genetic, TrainsDigitsByItself) {
  const auto result = run_with_threads(digits_spec(), 2);
  ASSERT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  ASSERT_EQ(result.summary.epochs.size(), 1u) << "epochs: 0 records epoch 0 only";
  const auto& after = result.summary.epochs.front();
  // Chance is 0.1; the initialized net is near it.
  EXPECT_GT(after.test_accuracy, 0.5) << "test loss " << after.test_loss;

  // Without the GA the same spec stays near chance: the accuracy is the GA's.
  auto plain = test::spec_from_yaml(digits_spec(), {"pretrain=null"});
  const auto untrained = train_run(plain, test::bundled_registry());
  ASSERT_EQ(untrained.summary.status, RunStatus::ok) << untrained.summary.message;
  EXPECT_LT(untrained.summary.epochs.front().test_accuracy, 0.3);
}

TEST(Genetic, OneAndTwoThreadsGiveBitIdenticalWeights) {
  // Both crossovers, and the fitness subset, through the same check.
  for (const std::string extra : {"", ", crossover: one_point, elitism: 3"}) {
    SCOPED_TRACE(extra);
    const auto one = run_with_threads(digits_spec(15, extra), 1);
    const auto two = run_with_threads(digits_spec(15, extra), 2);
    ASSERT_EQ(one.summary.status, RunStatus::ok) << one.summary.message;
    ASSERT_EQ(two.summary.status, RunStatus::ok) << two.summary.message;
    const Vector& a = one.network->parameters();
    const Vector& b = two.network->parameters();
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(std::memcmp(a.data(), b.data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())), 0)
        << "max difference " << (a - b).cwiseAbs().maxCoeff();
    EXPECT_EQ(series(one.summary, "best_fitness"), series(two.summary, "best_fitness"));
    EXPECT_EQ(series(one.summary, "mean_fitness"), series(two.summary, "mean_fitness"));

    // ... and they are the GA's weights, not the initialized ones.
    const auto init =
        train_run(test::spec_from_yaml(digits_spec(15, extra), {"pretrain=null"}), test::bundled_registry());
    ASSERT_EQ(init.network->parameters().size(), a.size());
    EXPECT_NE(
        std::memcmp(a.data(), init.network->parameters().data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())),
        0);
  }
}

TEST(Genetic, BestFitnessNeverGetsWorseWithElitism) {
  const auto result = run_with_threads(digits_spec(40, ", elitism: 1"), 2);
  ASSERT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  const auto best = series(result.summary, "best_fitness");
  const auto mean = series(result.summary, "mean_fitness");
  ASSERT_EQ(best.size(), 41u) << "generation 0 and 40 bred ones";
  ASSERT_EQ(mean.size(), best.size());
  for (std::size_t g = 1; g < best.size(); ++g) EXPECT_LE(best[g], best[g - 1]) << "generation " << g;
  for (std::size_t g = 0; g < best.size(); ++g) EXPECT_LE(best[g], mean[g]) << "generation " << g;
  EXPECT_LT(best.back(), 0.9 * best.front()) << "the loss hardly improved: the check above proves little";
}

TEST(Genetic, LogsEachGenerationAndStopsWhenCancelled) {
  std::atomic<bool> cancel{false};
  std::vector<std::string> lines;
  RunOptions options;
  options.threads = 2;
  options.cancel = &cancel;
  options.log = [&](const std::string& line) {
    if (line.rfind("genetic: generation ", 0) != 0) return;
    lines.push_back(line);
    if (line.rfind("genetic: generation 5/", 0) == 0) cancel = true;
  };
  const auto result = train_run(test::spec_from_yaml(digits_spec(40)), test::bundled_registry(), options);
  ASSERT_EQ(lines.size(), 6u) << "generations 0 .. 5, then the stop";
  EXPECT_EQ(lines.front().rfind("genetic: generation 0/40: best loss ", 0), 0u) << lines.front();
  EXPECT_EQ(series(result.summary, "best_fitness").size(), 6u);
}

TEST(Genetic, RefusesBadInputThroughTheCli) {
  struct Case {
    std::string pretrain;
    std::vector<std::string> must_contain;
  };
  const std::vector<Case> cases{
      {"{name: genetic, population: 1}", {"population", "pretrain"}},
      {"{name: genetic, population: 4, elitism: 4}", {"elitism", "pretrain"}},
      {"{name: genetic, fitness_examples: 5000}", {"fitness_examples", "pretrain"}},
      {"{name: genetic, fitness: success}", {"success criterion", "pretrain"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.pretrain);
    test::TempDir dir;
    test::write_text(dir / "spec.yaml",
                     "data: {name: digits}\n"
                     "model: {layers: [{type: dense, units: 10}]}\n"
                     "optimizer: {name: sgd, lr: 0.1}\n"
                     "pretrain: " +
                         c.pretrain +
                         "\n"
                         "training: {epochs: 1}\n");
    const auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string()});
    EXPECT_EQ(r.exit_code, 2) << "stdout: " << r.out << "\nstderr: " << r.err;
    EXPECT_EQ(lines_of(r.err).size(), 1u) << r.err;
    for (const auto& word : c.must_contain) EXPECT_NE(r.err.find(word), std::string::npos) << word << " in " << r.err;
    EXPECT_EQ((r.out + r.err).find("generation"), std::string::npos) << "it evolved before refusing: " << r.out;
    EXPECT_FALSE(std::filesystem::exists(dir / "out.json"));
  }
}

TEST(Genetic, SuccessRateIsTheFitnessOfASequenceTask) {
  // A data set with a success criterion: best_fitness is the success rate
  // (higher is better), never falling with elitism, and within [0, 1].
  const auto result = run_with_threads(R"(data: {name: parity, train: 64, test: 64, min_length: 2, max_length: 4}
model: {layers: [{type: rnn, units: 4}, {type: dense, units: 1}]}
optimizer: {name: sgd, lr: 0.1}
pretrain: {name: genetic, population: 12, generations: 10}
training: {epochs: 0, seed: 2}
)",
                                       2);
  ASSERT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  const auto best = series(result.summary, "best_fitness");
  ASSERT_EQ(best.size(), 11u);
  for (std::size_t g = 0; g < best.size(); ++g) {
    EXPECT_GE(best[g], 0.0);
    EXPECT_LE(best[g], 1.0);
    // A fraction of the 64 training sequences, not a loss.
    EXPECT_DOUBLE_EQ(best[g] * 64, std::round(best[g] * 64)) << "generation " << g;
    if (g > 0) EXPECT_GE(best[g], best[g - 1]) << "generation " << g;
  }
}

TEST(Genetic, ShippedExampleParses) {
  const auto text = test::read_text(test::source_dir() / "examples" / "pretrain" / "digits_genetic.yaml");
  const auto spec = test::spec_from_yaml(text);
  ASSERT_TRUE(spec.pretrain.has_value());
  EXPECT_EQ(spec.pretrain->name, "genetic");
  EXPECT_EQ(spec.pretrain->params.integer("generations"), 200);
}
