#include "gradlab/core/training/early_stopping.hpp"

#include <cmath>

namespace gradlab {

EarlyStopper::EarlyStopper(EarlyStopping options) : options_(std::move(options)), maximize_(rises(options_.metric)) {}

bool EarlyStopper::rises(const std::string& metric) { return metric.find("loss") == std::string::npos; }

bool EarlyStopper::observe(std::int64_t epoch, double value) {
  bool improved = false;
  if (!std::isnan(value)) {
    if (!seen_ || std::isnan(best_))
      improved = true;
    else
      improved = maximize_ ? value > best_ + options_.min_delta : value < best_ - options_.min_delta;
  }
  seen_ = true;
  if (improved) {
    best_ = value;
    best_epoch_ = epoch;
    stale_ = 0;
  } else {
    ++stale_;
  }
  return improved;
}

}  // namespace gradlab
