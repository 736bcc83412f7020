// Data sets as the core and plugins see them.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gradlab/types.hpp"

namespace gradlab {

enum class Task { classification, regression };

// Where a sequence's targets are: one per example, due at its last valid step
// (a classifier of whole sequences, the adding problem), or one per valid step
// (next-symbol prediction). Feed-forward data (steps = 1) is sequence_end.
enum class TargetAt { sequence_end, every_step };

// One split, in the layout above.
//  - inputs: [features, examples * steps]; padded steps hold zeros.
//  - labels (classification): one per example (sequence_end), or one per step
//    (every_step, example-major like the inputs, -1 at padded steps), each in
//    0 .. classes-1.
//  - targets (regression): [outputs, examples] (sequence_end) or
//    [outputs, examples * steps] (every_step; padded steps hold zeros).
//  - lengths: the valid steps of each example, 1 .. steps; empty when every
//    example has all `steps` of them.
struct Split {
  Matrix inputs;
  std::vector<std::int32_t> labels;
  Matrix targets;
  std::vector<std::int32_t> lengths;
  Index examples = 0;

  Index length(Index example, Index steps) const {
    return lengths.empty() ? steps : static_cast<Index>(lengths[static_cast<std::size_t>(example)]);
  }
};

// A task's own measure of an example being solved (the long-time-lag
// benchmarks' published criteria: "absolute error below 0.04 at the end").
// solved(output, target, labels) sees one example at its scored steps: the
// model's output [outputs, n], and the regression targets [outputs, n] (empty
// for classification) or the n class labels (null for regression), where n is
// 1 for sequence_end targets and the example's length for every_step ones.
// It must be a pure function: it is called concurrently.
struct SuccessCriterion {
  std::string description;  // one line, with its source
  std::function<bool(ConstMatrixMap output, ConstMatrixMap target, const std::int32_t* labels)> solved;
  explicit operator bool() const { return static_cast<bool>(solved); }
};

struct Dataset {
  std::string name;
  Task task = Task::classification;
  Shape input;        // per-example input shape; steps = the longest sequence
  Index outputs = 0;  // number of classes, or target dimension for regression
  TargetAt target_at = TargetAt::sequence_end;
  SuccessCriterion success;  // empty: the summary reports no success_rate
  Split train;
  Split test;
};

// Where relative paths in a data spec are resolved, and where shipped data lives.
struct DataContext {
  std::string spec_dir;
  std::string data_dir;
  // The memory the data set may take, in bytes. A loader checks file sizes
  // and sizes declared in headers against it before allocating, and refuses
  // (std::invalid_argument or the core's InputError) what exceeds it.
  std::uint64_t max_bytes = ~std::uint64_t(0);
  // The run's seed (a study's per-run seed, else training.seed). A generator
  // draws from it (combined with its own `seed` parameter, data_seed()), and
  // a study then loads one copy per run seed: each seed of a variant is a
  // trial on fresh sequences, as in the papers' repeated trials. A loader
  // that ignores it registers with ComponentInfo::uses_run_seed = false and
  // is loaded once and shared by a study's runs.
  std::int64_t seed = 0;
};

// Combines a data set's own seed with DataContext::seed into the seed of its
// generator (splitmix64 of both, so nearby seeds give unrelated streams).
inline std::uint64_t data_seed(std::int64_t dataset_seed, std::int64_t run_seed) {
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(static_cast<std::uint64_t>(dataset_seed)) ^ static_cast<std::uint64_t>(run_seed));
}

}  // namespace gradlab
