// Study specs: expansion into runs, stable keys and seeds, `study plan`, and
// bad input refused at plan time with its place.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "gradlab/core/error.hpp"
#include "gradlab/core/study/study.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

using study::plan_study;

const char* base_yaml = R"(
base:
  data: {name: digits}
  model:
    layers:
      - repeat: ${depth}
        layers: [{type: dense, units: 8}, {type: "${act}"}]
      - {type: dense, units: 10}
  init: {name: lecun_normal}
  optimizer: {name: sgd, lr: 0.1}
  training: {epochs: 1, batch_size: 64}
)";

std::string study_text(const std::string& rest) { return std::string("study: s\n") + base_yaml + rest; }

std::map<std::string, std::int64_t> seeds_by_key(const study::StudyPlan& plan) {
  std::map<std::string, std::int64_t> out;
  for (const auto& run : plan.runs) out[run.key] = run.seed;
  return out;
}

TEST(StudyPlan, VariantsTimesGridTimesSeeds) {
  auto plan = plan_study(study_text(R"(
variables: {act: sigmoid}
variants:
  baseline: {}
  relu_he: {"model.layers.0.layers.1.type": relu, init.name: he_normal}
grid: {depth: [1, 2, 3], optimizer.lr: [0.1, 0.05]}
seeds: 2
seed: 7
)"),
                         "s.yaml", test::bundled_registry());
  ASSERT_EQ(plan.runs.size(), 2u * 3 * 2 * 2);
  EXPECT_EQ(plan.runs.front().key, "baseline/depth=1/optimizer.lr=0.1/seed=0");
  EXPECT_EQ(plan.runs.back().key, "relu_he/depth=3/optimizer.lr=0.05/seed=1");
  std::set<std::string> keys;
  std::set<std::int64_t> seeds;
  for (const auto& run : plan.runs) {
    keys.insert(run.key);
    seeds.insert(run.seed);
    EXPECT_EQ(run.seed, study::derive_seed(7, run.key));
    EXPECT_GE(run.seed, 0);
    // ${depth} substituted: depth x (dense, activation) + the output layer.
    const auto depth = run.grid["depth"].get<int>();
    EXPECT_EQ(run.spec.layers.size(), std::size_t(2 * depth + 1)) << run.key;
    EXPECT_EQ(run.spec.effective["optimizer"]["lr"], run.grid["optimizer.lr"]);
    const bool relu = run.variant == "relu_he";
    EXPECT_EQ(run.spec.layers[1].layer.name, relu ? "relu" : "sigmoid");
    EXPECT_EQ(run.spec.init.name, relu ? "he_normal" : "lecun_normal");
  }
  EXPECT_EQ(keys.size(), plan.runs.size());
  EXPECT_EQ(seeds.size(), plan.runs.size());
  EXPECT_EQ(plan.hash.size(), 16u);
}

TEST(StudyPlan, KeysAndSeedsDoNotDependOnOrder) {
  auto a = plan_study(study_text(R"(
variables: {act: sigmoid}
variants: {x: {}, y: {optimizer.lr: 0.2}}
grid: {depth: [1, 2], training.batch_size: [16, 32]}
seeds: 2
)"),
                      "a.yaml", test::bundled_registry());
  auto b = plan_study(study_text(R"(
seeds: 2
grid: {training.batch_size: [32, 16], depth: [2, 1]}
variants: {y: {optimizer.lr: 0.2}, x: {}}
variables: {act: sigmoid}
)"),
                      "b.yaml", test::bundled_registry());
  EXPECT_EQ(seeds_by_key(a), seeds_by_key(b));
  EXPECT_EQ(a.runs.size(), 16u);
  // The documented hash, fixed for good: FNV-1a 64 then SplitMix64's finalizer.
  EXPECT_EQ(study::fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(study::fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(study::derive_seed(1, "base/seed=0"), study::derive_seed(1, "base/seed=0"));
  EXPECT_NE(study::derive_seed(1, "base/seed=0"), study::derive_seed(2, "base/seed=0"));
}

TEST(StudyPlan, NoVariantsNoGrid) {
  auto plan =
      plan_study(study_text("variables: {depth: 2, act: tanh}\nseeds: 3\n"), "s.yaml", test::bundled_registry());
  ASSERT_EQ(plan.runs.size(), 3u);
  EXPECT_EQ(plan.runs[0].key, "base/seed=0");
  EXPECT_EQ(plan.runs[2].key, "base/seed=2");
  EXPECT_EQ(plan.runs[0].spec.layers[1].layer.name, "tanh");
}

TEST(StudyPlan, Baseline) {
  const std::string variants = "variants: {a: {}, b: {optimizer.lr: 0.05}}\nvariables: {depth: 2, act: tanh}\n";
  EXPECT_EQ(plan_study(study_text(variants), "s.yaml", test::bundled_registry()).baseline, "a");
  EXPECT_EQ(plan_study(study_text(variants + "baseline: b\n"), "s.yaml", test::bundled_registry()).baseline, "b");
  try {
    plan_study(study_text(variants + "baseline: c\n"), "s.yaml", test::bundled_registry());
    FAIL() << "an unknown baseline was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("baseline 'c' is not a variant (variants: a, b)"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(plan_study(study_text("variables: {depth: 2, act: tanh}\n"), "s.yaml", test::bundled_registry()).baseline,
            "base");
}

TEST(StudyPlan, BaseFromAFileRelativeToTheStudy) {
  test::TempDir dir;
  test::write_text(dir / "base.yaml",
                   "data: {name: digits}\nmodel: {layers: [{type: dense, units: 10}]}\ntraining: {epochs: 1}\n");
  test::write_text(dir / "s.yaml", "study: f\nbase: base.yaml\nvariants: {a: {}, b: {optimizer.lr: 0.3}}\n");
  auto plan = study::load_study(dir / "s.yaml", test::bundled_registry());
  ASSERT_EQ(plan.runs.size(), 2u);
  EXPECT_EQ(plan.runs[1].spec.effective["optimizer"]["lr"], 0.3);
}

TEST(StudyPlan, TheExampleStudyPlans) {
  // make demo's study: 8 variants x 3 seeds; Rprop takes full-batch steps for 200 epochs.
  auto plan =
      study::load_study(test::source_dir() / "examples/studies/vanishing_gradient.yaml", test::bundled_registry());
  ASSERT_EQ(plan.runs.size(), 24u);
  for (const auto& run : plan.runs) {
    EXPECT_EQ(run.spec.training.epochs, run.variant == "rprop" ? 200 : 30) << run.key;
    EXPECT_EQ(run.spec.training.batch_size, run.variant == "rprop" ? 1437 : 32) << run.key;
    EXPECT_EQ(run.spec.layers.size(), run.variant == "batch_norm" ? 31u
                                      : run.variant == "residual" ? 12u
                                                                  : 21u)
        << run.key;
  }
}

TEST(StudyPlan, OverrideValuesKeepTheirType) {
  // Numbers stay numbers; a string with YAML syntax in it stays that string.
  auto plan = plan_study(study_text("variables: {depth: 1, act: sigmoid}\n"
                                    "variants: {a: {optimizer.lr: 0.25}, b: {data.name: \"digits\"}}\n"),
                         "s.yaml", test::bundled_registry());
  EXPECT_EQ(plan.runs[0].spec.effective["optimizer"]["lr"], 0.25);
  EXPECT_EQ(plan.runs[1].spec.data.name, "digits");
  try {
    plan_study(study_text("variables: {depth: 1, act: sigmoid}\nvariants: {a: {init.name: \"x: {y\"}}\n"), "s.yaml",
               test::bundled_registry());
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'x: {y'"), std::string::npos) << e.what();
  }
}

std::string plan_error(const std::string& text) {
  try {
    plan_study(text, "bad.yaml", test::bundled_registry());
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(StudyPlan, BadInputNamesThePlace) {
  const std::string vars = "variables: {depth: 1, act: sigmoid}\n";
  auto e = plan_error(study_text(vars + "variants:\n  v: {optimizer.lrr: 0.1}\n"));
  EXPECT_NE(e.find("bad.yaml:15:7: run 'v/seed=0': optimizer.lrr"), std::string::npos) << e;
  EXPECT_NE(e.find("lrr"), std::string::npos) << e;

  e = plan_error(study_text(vars + "grid:\n  optimizer.lr: []\n"));
  EXPECT_NE(e.find("bad.yaml:15:3: grid axis 'optimizer.lr' has no values"), std::string::npos) << e;

  e = plan_error(study_text("variables: {depth: 1}\n"));
  EXPECT_NE(e.find("bad.yaml:8:"), std::string::npos) << e;  // the quoted ${act}
  EXPECT_NE(e.find("variable '${act}' is never defined"), std::string::npos) << e;

  e = plan_error(study_text(vars + "variants:\n  v: {training.epochs: -3}\n"));
  EXPECT_NE(e.find("bad.yaml:15:7: run 'v/seed=0': training.epochs"), std::string::npos) << e;
  EXPECT_NE(e.find("is '-3', outside its bounds"), std::string::npos) << e;  // a number, not a string

  e = plan_error(study_text(vars + "grid: {depth: [1, 0]}\n"));
  EXPECT_NE(e.find("run 'base/depth=0/seed=0'"), std::string::npos) << e;

  e = plan_error(study_text(vars + "sedes: 3\n"));
  EXPECT_NE(e.find("bad.yaml:14:1: unknown key 'sedes'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'seeds'"), std::string::npos) << e;

  e = plan_error("base: {}\n");
  EXPECT_NE(e.find("needs 'study: NAME'"), std::string::npos) << e;
}

TEST(StudyCli, PlanPrintsTheRuns) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml", study_text("variables: {act: sigmoid}\nvariants: {a: {}, b: {optimizer.lr: 0.2}}\n"
                                              "grid: {depth: [1, 2]}\nseeds: 2\n"));
  auto r = test::run_cli({"study", "plan", (dir / "s.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("study s: 8 runs"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  a/depth=1/seed=0  seed "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  b/depth=2/seed=1  seed "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("optimizer.lr=0.2"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));

  r = test::run_cli({"study", "plan", (dir / "s.yaml").string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["runs"].size(), 8u);
}

TEST(StudyCli, BadStudyExitsWithTwoAndWritesNothing) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml",
                   study_text("variants: {v: {init.nme: he_normal}}\nvariables: {act: relu, depth: 1}\n"));
  auto r = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("s.yaml:13:16: run 'v/seed=0': init.nme"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out"));
}

}  // namespace
}  // namespace gradlab
