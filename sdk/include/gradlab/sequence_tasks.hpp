// Helpers shared by the generated sequence benchmarks (the long-time-lag tasks
// of Hochreiter & Schmidhuber 1997 and the tasks they were compared on):
// portable seeded draws, the split streams, a builder that fills a Split in
// the layout below, the parameters every generator has, and the published
// success criteria as SuccessCriterion builders.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
//
// Header-only: a data set plugin includes it and links nothing more.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <numbers>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/data.hpp"
#include "gradlab/params.hpp"
#include "gradlab/types.hpp"

namespace gradlab::seq {

// ---------------------------------------------------------------------------
// Draws. The standard distributions (std::uniform_int_distribution, ...) are
// implementation-defined, so the same seed would give different data with
// libstdc++ and libc++; these use only the engine's raw 64-bit output, which
// std::mt19937_64 fixes, and so give the same data everywhere.

// Uniform integer in [lo, hi] (inclusive), without modulo bias.
inline std::int64_t uniform_int(Rng& rng, std::int64_t lo, std::int64_t hi) {
  if (hi <= lo) return lo;
  const std::uint64_t span = static_cast<std::uint64_t>(hi - lo) + 1;
  const std::uint64_t limit = span == 0 ? 0 : (~std::uint64_t(0) / span) * span;  // span==0: full range
  std::uint64_t x = rng();
  if (span == 0) return lo + static_cast<std::int64_t>(x);
  while (x >= limit) x = rng();
  return lo + static_cast<std::int64_t>(x % span);
}

// Uniform real in [0, 1) with 53 random bits.
inline double uniform01(Rng& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Uniform real in [lo, hi].
inline double uniform_real(Rng& rng, double lo, double hi) { return lo + (hi - lo) * uniform01(rng); }

// Fair coin.
inline bool coin(Rng& rng) { return (rng() >> 63) != 0; }

// Gaussian with mean 0 and the given variance (the papers state variances,
// not standard deviations). Box-Muller on two fresh draws; no cached state.
inline double gaussian(Rng& rng, double variance) {
  const double u1 = 1.0 - uniform01(rng);  // (0, 1]: log is finite
  const double u2 = uniform01(rng);
  return std::sqrt(variance) * std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

// ---------------------------------------------------------------------------
// Streams. A generator draws its train and test splits from two independent
// streams derived from data_seed(seed, DataContext::seed), so changing the
// train size leaves the test split as it was.
struct SplitStreams {
  Rng train;
  Rng test;
};

inline SplitStreams split_streams(std::int64_t dataset_seed, std::int64_t run_seed) {
  const std::uint64_t base = data_seed(dataset_seed, run_seed);
  return {Rng(data_seed(static_cast<std::int64_t>(base), 1)), Rng(data_seed(static_cast<std::int64_t>(base), 2))};
}

// ---------------------------------------------------------------------------
// Parameters every generated benchmark has: its own seed and the split sizes.
inline Schema common_schema(std::int64_t train_default, std::int64_t test_default) {
  return {ParamSpec::integer("seed", 1).describe(
              "the data set's own seed; mixed with training.seed (gradlab::data_seed) to draw the data"),
          ParamSpec::integer("train", train_default).at_least(1).at_most(1e7).describe("training sequences"),
          ParamSpec::integer("test", test_default).at_least(1).at_most(1e7).describe("test sequences")};
}

// Appends `more` to `base` (a benchmark's own parameters after the common ones).
inline Schema with(Schema base, const Schema& more) {
  base.insert(base.end(), more.begin(), more.end());
  return base;
}

// Refuses a data set that would exceed DataContext::max_bytes before allocating.
inline void check_size(const std::string& name, Index train, Index test, Index features, Index steps, Index target_rows,
                       const DataContext& ctx) {
  const double per_example =
      double(features) * double(steps) * sizeof(Scalar) + double(target_rows) * sizeof(Scalar) + 4.0 * double(steps);
  const double total = per_example * double(train + test);
  if (total > double(ctx.max_bytes))
    throw std::invalid_argument("data set '" + name + "': train + test would take " +
                                std::to_string(static_cast<long long>(total)) + " bytes, more than the limit of " +
                                std::to_string(ctx.max_bytes) + "; lower 'train' or 'test'");
}

// ---------------------------------------------------------------------------
// Fills one Split: inputs [features, examples * steps] and targets (regression:
// [outputs, examples] or [outputs, examples * steps]; classification: labels),
// zeros (labels -1) at padded steps. Lengths are recorded only if some example
// is shorter than `steps`.
class SplitBuilder {
 public:
  SplitBuilder(Index examples, Index features, Index steps, Index outputs, Task task, TargetAt at)
      : steps_(steps), task_(task), at_(at) {
    split_.examples = examples;
    split_.inputs = Matrix::Zero(features, examples * steps);
    const Index per_example = at == TargetAt::every_step ? steps : 1;
    if (task == Task::regression)
      split_.targets = Matrix::Zero(outputs, examples * per_example);
    else
      split_.labels.assign(static_cast<std::size_t>(examples * per_example), -1);
    lengths_.assign(static_cast<std::size_t>(examples), static_cast<std::int32_t>(steps));
  }

  Index steps() const { return steps_; }
  void set_length(Index example, Index length) {
    if (length < 1 || length > steps_) throw std::logic_error("SplitBuilder: length outside 1..steps");
    lengths_[static_cast<std::size_t>(example)] = static_cast<std::int32_t>(length);
  }
  // Input feature `feature` of example `example` at step `t`.
  Scalar& input(Index example, Index t, Index feature) { return split_.inputs(feature, example * steps_ + t); }
  // Local (one-hot) coding of `symbol` at step t.
  void one_hot(Index example, Index t, Index symbol) { input(example, t, symbol) = Scalar(1); }
  // Regression target `row` (sequence_end: t is ignored).
  Scalar& target(Index example, Index row, Index t = 0) {
    return split_.targets(row, at_ == TargetAt::every_step ? example * steps_ + t : example);
  }
  std::int32_t& label(Index example, Index t = 0) {
    return split_.labels[static_cast<std::size_t>(at_ == TargetAt::every_step ? example * steps_ + t : example)];
  }

  Split finish() && {
    bool all_full = true;
    for (auto l : lengths_) all_full = all_full && l == steps_;
    if (!all_full) split_.lengths = std::move(lengths_);
    return std::move(split_);
  }

 private:
  Split split_;
  std::vector<std::int32_t> lengths_;
  Index steps_;
  Task task_;
  TargetAt at_;
};

// The Dataset of a generated regression benchmark (all of them are: the papers
// train output units on squared error): the fields every generator sets, once.
inline std::shared_ptr<Dataset> regression_dataset(std::string name, Shape input, Index outputs, TargetAt target_at,
                                                   SuccessCriterion success, Split train, Split test) {
  auto d = std::make_shared<Dataset>();
  d->name = std::move(name);
  d->task = Task::regression;
  d->input = input;
  d->outputs = outputs;
  d->target_at = target_at;
  d->success = std::move(success);
  d->train = std::move(train);
  d->test = std::move(test);
  return d;
}

// The sequence-length range of the random-guessing benchmarks (latch, parity):
// `min_length` .. `max_length`, checked against each other by the factory
// through checked_length_range().
inline Schema length_range_schema(std::int64_t min_default, std::int64_t max_default) {
  return {ParamSpec::integer("min_length", min_default).at_least(1).at_most(1000000).describe("shortest sequence"),
          ParamSpec::integer("max_length", max_default)
              .at_least(1)
              .at_most(1000000)
              .describe("longest sequence (at least min_length)")};
}
inline std::pair<Index, Index> checked_length_range(const Params& p, const std::string& dataset) {
  const Index lo = p.integer("min_length"), hi = p.integer("max_length");
  if (hi < lo)
    throw std::invalid_argument("'max_length' of dataset '" + dataset + "' (" + std::to_string(hi) +
                                ") is below 'min_length' (" + std::to_string(lo) + ")");
  return {lo, hi};
}

// ---------------------------------------------------------------------------
// Success criteria (SuccessCriterion::solved sees one example: output and
// target [outputs, n], n = 1 at the sequence end or the example's length).

// Solved when every output at every scored step is within `threshold` of its
// target: |output - target| < threshold (strictly, as the papers say "below").
inline SuccessCriterion all_abs_errors_below(double threshold, std::string description) {
  SuccessCriterion c;
  c.description = std::move(description);
  c.solved = [threshold](ConstMatrixMap output, ConstMatrixMap target, const std::int32_t*) {
    if (output.rows() != target.rows() || output.cols() != target.cols()) return false;
    for (Index j = 0; j < output.cols(); ++j)
      for (Index i = 0; i < output.rows(); ++i)
        if (!(std::abs(double(output(i, j)) - double(target(i, j))) < threshold)) return false;
    return true;
  };
  return c;
}

// Like all_abs_errors_below, but only at the last scored step (every_step
// data whose criterion concerns the final prediction).
inline SuccessCriterion final_abs_errors_below(double threshold, std::string description) {
  SuccessCriterion c;
  c.description = std::move(description);
  c.solved = [threshold](ConstMatrixMap output, ConstMatrixMap target, const std::int32_t*) {
    if (output.rows() != target.rows() || output.cols() != target.cols() || output.cols() < 1) return false;
    const Index j = output.cols() - 1;
    for (Index i = 0; i < output.rows(); ++i)
      if (!(std::abs(double(output(i, j)) - double(target(i, j))) < threshold)) return false;
    return true;
  };
  return c;
}

// Next-symbol prediction with several possible next symbols (targets 1 for
// each possible symbol, 0 otherwise): solved when at every step each possible
// symbol's output is strictly above every impossible symbol's output, i.e.
// the possible next symbols are the most active outputs.
inline SuccessCriterion possible_symbols_most_active(std::string description) {
  SuccessCriterion c;
  c.description = std::move(description);
  c.solved = [](ConstMatrixMap output, ConstMatrixMap target, const std::int32_t*) {
    if (output.rows() != target.rows() || output.cols() != target.cols()) return false;
    for (Index j = 0; j < output.cols(); ++j) {
      double lowest_possible = INFINITY, highest_impossible = -INFINITY;
      for (Index i = 0; i < output.rows(); ++i) {
        const double o = output(i, j);
        if (std::isnan(o)) return false;
        if (target(i, j) > Scalar(0.5))
          lowest_possible = std::min(lowest_possible, o);
        else
          highest_impossible = std::max(highest_impossible, o);
      }
      if (!(lowest_possible > highest_impossible)) return false;
    }
    return true;
  };
  return c;
}

}  // namespace gradlab::seq
