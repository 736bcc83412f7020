// The Optimizer interface: how a gradient turns into a parameter update.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "gradlab/types.hpp"

namespace gradlab {

// Where a step falls in the run, and the learning-rate factor the run's
// schedule gives it. The host fills every field; a caller without a schedule
// or epochs (a pretraining strategy's inner optimizer) may leave the defaults.
struct StepInfo {
  std::int64_t iteration = 1;        // 1 for the first step of the run
  std::int64_t epoch = 1;            // the epoch the step belongs to, 1-based
  std::int64_t steps_per_epoch = 1;  // steps in one epoch
  std::int64_t total_steps = 1;      // steps in the whole run (epochs * steps_per_epoch)
  double progress = 0.0;             // (iteration - 1) / total_steps, in [0, 1)
  // The schedule's factor at this step (1 without a schedule): every
  // optimizer multiplies its learning rate by it. A method without a learning
  // rate (rprop) says in its description that it ignores it.
  double lr_scale = 1.0;
  double loss = 0.0;  // mean loss of the batch the gradient came from
};

// One layer's slice of the flat parameter vector: `size` scalars from
// `offset`, named by the layer's index and type ("3.dense"). A layer-wise
// method (LARS) computes its statistics per group.
struct ParamGroup {
  std::string name;
  Index offset = 0;
  Index size = 0;
};

// Contract: reset(n, groups) is called once before the first step (and again
// if the run restarts, e.g. after pretraining) and allocates all state for n
// parameters, zeroed. `groups` are the network's layers that have parameters,
// in order; they do not overlap and together cover [0, n) (a caller with no
// layer structure passes one group for everything). step(params, grads, info)
// updates params in place from grads (already clipped by the host if the spec
// asks for clipping) and must not allocate. Hyper-parameters come from the
// factory's Params; there is no global state, so one optimizer object belongs
// to one run.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void reset(Index param_count, std::span<const ParamGroup> groups) = 0;
  virtual void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) = 0;

  // reset() with one group covering all n parameters.
  void reset(Index param_count) {
    const ParamGroup all{"all", 0, param_count};
    reset(param_count, std::span<const ParamGroup>(&all, 1));
  }
};

}  // namespace gradlab
