// Early stopping: when a watched metric stops improving, the run ends.
#pragma once

#include <cstdint>
#include <limits>

#include "gradlab/core/spec.hpp"

namespace gradlab {

// Watches one metric over the evaluated epochs of a run, in order.
// observe() says whether the epoch is the best so far (the host then keeps
// its weights); should_stop() says whether `patience` evaluated epochs in a
// row have passed without an improvement of more than min_delta. Losses
// improve by falling, accuracies and success rates by rising; a NaN never
// improves. A pure state machine, so a scripted sequence of values tests it.
class EarlyStopper {
 public:
  explicit EarlyStopper(EarlyStopping options);

  bool observe(std::int64_t epoch, double value);
  bool should_stop() const { return stale_ >= options_.patience; }
  std::int64_t best_epoch() const { return best_epoch_; }
  double best_value() const { return best_; }
  const EarlyStopping& options() const { return options_; }

  // Whether `metric` improves by rising (an accuracy, a success rate).
  static bool rises(const std::string& metric);

 private:
  EarlyStopping options_;
  bool maximize_ = false;
  bool seen_ = false;
  double best_ = std::numeric_limits<double>::quiet_NaN();
  std::int64_t best_epoch_ = -1;
  std::int64_t stale_ = 0;
};

}  // namespace gradlab
