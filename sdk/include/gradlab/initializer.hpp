// The Initializer interface: how a weight matrix gets its first values.
#pragma once

#include "gradlab/types.hpp"

namespace gradlab {

// Where the matrix being filled sits in the network, for depth-aware schemes
// (Fixup). The host fills the network-level fields; a block (residual) passes
// its own site to its branch's layers with the branch fields set. fan_in and
// fan_out are the matrix's own shape: weights.cols() and weights.rows().
struct InitSite {
  Index layer = 0;          // the layer's index in the network (its state_dict prefix)
  Index layers = 1;         // the network's layers
  Index weight_layer = 0;   // its rank among the network's layers that have parameters
  Index weight_layers = 1;  // how many layers have parameters: the network's depth
  Index blocks = 0;         // blocks (layers with a `layers:` branch, residual) in the network
  Index block = -1;         // in a block's branch: which block, 0-based; else -1
  Index branch_layer = -1;  // in a branch: this layer's rank among the branch's layers with parameters
  Index branch_layers = 0;  // in a branch: how many of its layers have parameters
  // The network's last layer with parameters, outside any branch (the classifier).
  bool output() const { return block < 0 && weight_layer == weight_layers - 1; }
  bool in_branch() const { return block >= 0 && branch_layer >= 0; }
};

// Contract: fill(weights, rng, site) overwrites every entry of `weights`, a
// [fan_out, fan_in] matrix (row-major, as PyTorch stores nn.Linear.weight),
// drawing randomness only from `rng`, so the result is a pure function of the
// engine state, the shape and the site. fill is const and keeps no state
// between calls: one initializer serves every layer of a network. Biases are
// not its business (they start at zero). A scheme that ignores depth ignores
// `site`.
class Initializer {
 public:
  virtual ~Initializer() = default;
  virtual void fill(RowMatrixMap weights, Rng& rng, const InitSite& site) const = 0;
};

// Fills `weights` with independent draws of `distribution` (a <random>
// distribution over double), in storage order: the common body of fill().
template <class Distribution>
void fill_iid(RowMatrixMap weights, Rng& rng, Distribution distribution) {
  for (Index i = 0; i < weights.size(); ++i) weights.data()[i] = static_cast<Scalar>(distribution(rng));
}

}  // namespace gradlab
