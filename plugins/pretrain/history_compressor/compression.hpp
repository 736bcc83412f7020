// The compression step of the neural history compressor (Schmidhuber 1992,
// "Learning complex, extended sequences using the principle of history
// compression"): of a level's input sequence only the inputs its predictor
// failed to predict go up, each with the step of the bottom sequence it came
// from, so the level above sees a shorter sequence. Header-only and free of
// any network so that a test can script the predictor.
//
// Layout: a SequenceSet stores each example's steps together, example-major
// (column e * steps + t), padded at the end like a Split.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gradlab/types.hpp>
#include <stdexcept>
#include <vector>

namespace gradlab::history_compressor {

struct SequenceSet {
  Index features = 0;
  Index steps = 0;
  Index examples = 0;
  Matrix inputs;                      // [features, steps * examples], zero after each length
  std::vector<std::int32_t> lengths;  // valid steps of each example, 1 .. steps
  std::vector<std::int32_t> origin;   // per column: the bottom sequence's step it came from
  bool timed = false;                 // the last feature codes the bottom step (every level above the lowest)

  Index length(Index e) const { return lengths[static_cast<std::size_t>(e)]; }
  Index valid_steps() const {
    Index n = 0;
    for (auto l : lengths) n += l;
    return n;
  }
};

// A prediction fails when some unit is off by more than `threshold`.
inline bool prediction_failed(const Scalar* predicted, const Scalar* actual, Index features, double threshold) {
  for (Index f = 0; f < features; ++f)
    if (!(std::abs(double(predicted[f]) - double(actual[f])) <= threshold)) return true;  // NaN fails too
  return false;
}

// The time code of bottom step t in a bottom sequence of `bottom_steps` steps: t / bottom_steps.
inline Scalar time_code(Index t, Index bottom_steps) { return Scalar(double(t) / double(bottom_steps)); }

// `predictions` column e * steps + t is the level's prediction, made at step
// t, of its input at step t + 1 (level.features rows). Step 0 of every example
// always goes up ("the beginning of an episode usually is not predictable,
// therefore it has to be fed to the chunking level, too"); step t > 0 goes up
// exactly when the prediction made at step t - 1 failed. What goes up is the
// input itself followed, at the lowest level, by one unit coding the bottom
// step it occurred at; a timed level passes its inputs (time unit included)
// up unchanged. `passed` (optional) receives how many steps went up.
inline SequenceSet compress(const SequenceSet& level, const Matrix& predictions, double threshold, Index bottom_steps,
                            Index* passed = nullptr) {
  if (predictions.rows() != level.features || predictions.cols() != level.steps * level.examples)
    throw std::invalid_argument("history_compressor: predictions do not match the level's sequences");
  SequenceSet up;
  up.features = level.timed ? level.features : level.features + 1;
  up.examples = level.examples;
  up.timed = true;
  up.lengths.assign(static_cast<std::size_t>(level.examples), 0);
  std::vector<std::vector<Index>> kept(static_cast<std::size_t>(level.examples));
  Index total = 0;
  for (Index e = 0; e < level.examples; ++e) {
    auto& k = kept[static_cast<std::size_t>(e)];
    for (Index t = 0; t < level.length(e); ++t) {
      const Index c = e * level.steps + t;
      if (t == 0 ||
          prediction_failed(predictions.col(c - 1).data(), level.inputs.col(c).data(), level.features, threshold))
        k.push_back(t);
    }
    up.lengths[static_cast<std::size_t>(e)] = static_cast<std::int32_t>(k.size());
    up.steps = std::max<Index>(up.steps, Index(k.size()));
    total += Index(k.size());
  }
  up.inputs = Matrix::Zero(up.features, up.steps * up.examples);
  up.origin.assign(static_cast<std::size_t>(up.steps * up.examples), -1);
  for (Index e = 0; e < level.examples; ++e) {
    const auto& k = kept[static_cast<std::size_t>(e)];
    for (Index j = 0; j < Index(k.size()); ++j) {
      const Index from = e * level.steps + k[static_cast<std::size_t>(j)], to = e * up.steps + j;
      up.inputs.col(to).head(level.features) = level.inputs.col(from);
      const std::int32_t bottom = level.origin[static_cast<std::size_t>(from)];
      if (!level.timed) up.inputs(level.features, to) = time_code(bottom, bottom_steps);
      up.origin[static_cast<std::size_t>(to)] = bottom;
    }
  }
  if (passed) *passed = total;
  return up;
}

// The step of `level` that holds the state at bottom step t of example e: the
// last of its steps that came from a bottom step <= t (0 when none did).
inline Index step_at(const SequenceSet& level, Index e, Index t) {
  Index j = 0;
  for (Index i = 1; i < level.length(e); ++i)
    if (level.origin[static_cast<std::size_t>(e * level.steps + i)] <= t) j = i;
  return j;
}

}  // namespace gradlab::history_compressor
