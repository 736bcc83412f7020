// The Schedule interface: how the learning rate changes over a run.
#pragma once

#include "gradlab/optimizer.hpp"

namespace gradlab {

// Contract: factor(at) is the multiplier of the optimizer's base learning
// rate at the step `at` describes (its iteration, epoch and progress; its
// lr_scale is not yet set). It is a pure function of `at` and the schedule's
// parameters: const, no state between calls, finite and >= 0. The host
// passes the result to the optimizer as StepInfo::lr_scale. A schedule that
// hands over to another after a phase (linear_warmup's `then:`) gets that one
// from its factory (ComponentInfo::accepts_children) and calls it with a
// StepInfo of its choosing (the steps counted from the hand-over, say).
class Schedule {
 public:
  virtual ~Schedule() = default;
  virtual double factor(const StepInfo& at) const = 0;
};

}  // namespace gradlab
