// Data sets as the core and plugins see them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gradlab/types.hpp"

namespace gradlab {

enum class Task { classification, regression };

// One split. `inputs` has one column per example for feed-forward data, or
// `steps` consecutive columns per example (example-major) for sequences.
// Classification fills `labels` (0 .. classes-1); regression fills `targets`
// ([outputs, examples]).
struct Split {
  Matrix inputs;
  std::vector<std::int32_t> labels;
  Matrix targets;
  Index examples = 0;
};

struct Dataset {
  std::string name;
  Task task = Task::classification;
  Shape input;        // per-example input shape
  Index outputs = 0;  // number of classes, or target dimension for regression
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
};

}  // namespace gradlab
