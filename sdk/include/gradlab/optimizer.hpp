// The Optimizer interface: how a gradient turns into a parameter update.
#pragma once

#include <cstdint>

#include "gradlab/types.hpp"

namespace gradlab {

struct StepInfo {
  std::int64_t iteration = 1;  // 1 for the first step of the run
  double loss = 0.0;           // mean loss of the batch the gradient came from
};

// Contract: reset(n) is called once before the first step (and again if the
// run restarts, e.g. after pretraining) and allocates all state for n
// parameters, zeroed. step(params, grads, info) updates params in place from
// grads (already clipped by the host if the spec asks for clipping) and must not
// allocate. Hyper-parameters come from the factory's Params; there is no global
// state, so one optimizer object belongs to one run.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void reset(Index param_count) = 0;
  virtual void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) = 0;
};

}  // namespace gradlab
