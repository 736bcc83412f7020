// Comparative studies: a study spec (a base run spec, named variants, a grid,
// variables and seeds) expanded into a plan of runs, each validated as a run
// spec, each with a stable key and its own seed.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gradlab/core/registry.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"

namespace gradlab::study {

// One run of a study.
struct PlannedRun {
  // "<variant>/<axis>=<value>/.../seed=<i>", grid axes sorted by name, values
  // in compact flow form: the same text whatever the order in the study file.
  std::string key;
  std::string variant;
  nlohmann::json grid;       // axis -> value
  nlohmann::json overrides;  // dotted key -> value (variant and grid keys)
  std::int64_t seed_index = 0;
  std::int64_t seed = 0;  // derive_seed(study seed, key)
  RunSpec spec;           // validated; spec.effective is the run's spec
};

struct StudyPlan {
  std::string name;
  std::string source;       // the study file
  nlohmann::json document;  // the study spec as JSON (stored in the results)
  std::int64_t seed = 0;
  std::int64_t seeds = 1;
  std::string baseline;          // the variant the statistics compare with (baseline:, else the first)
  std::vector<PlannedRun> runs;  // variants in file order x grid (row-major) x seeds
  // FNV-1a 64 (hex) over the run keys, seeds and effective specs: two plans
  // with the same hash run the same runs.
  std::string hash;
};

// FNV-1a 64 over the bytes of `text`.
std::uint64_t fnv1a64(const std::string& text);
// The seed of a run: SplitMix64's finalizer over fnv1a64("<study seed>:<key>"),
// the top bit cleared (a non-negative int64). Fixed: results never depend on
// the machine, the thread count or the order of the runs.
std::int64_t derive_seed(std::int64_t study_seed, const std::string& key);

// Parses, expands and validates a study; throws InputError naming the place
// (file:line:col where there is one) on any problem.
StudyPlan plan_study(const std::string& text, const std::string& source, const Registry& registry,
                     const std::string& study_dir = ".");
StudyPlan load_study(const std::filesystem::path& file, const Registry& registry);

}  // namespace gradlab::study
