// The Initializer interface: how a weight matrix gets its first values.
#pragma once

#include "gradlab/types.hpp"

namespace gradlab {

// Contract: fill(weights, rng) overwrites every entry of `weights`, a
// [fan_out, fan_in] matrix (row-major, as PyTorch stores nn.Linear.weight),
// drawing randomness only from `rng`, so the result is a pure function of the
// engine state and the shape. fill is const and keeps no state between calls:
// one initializer serves every layer of a network. Biases are not its business
// (they start at zero).
class Initializer {
 public:
  virtual ~Initializer() = default;
  virtual void fill(RowMatrixMap weights, Rng& rng) const = 0;
};

// Fills `weights` with independent draws of `distribution` (a <random>
// distribution over double), in storage order: the common body of fill().
template <class Distribution>
void fill_iid(RowMatrixMap weights, Rng& rng, Distribution distribution) {
  for (Index i = 0; i < weights.size(); ++i) weights.data()[i] = static_cast<Scalar>(distribution(rng));
}

}  // namespace gradlab
