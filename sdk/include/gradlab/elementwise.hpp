// Base for parameter-free, shape-preserving layers (activation functions):
// derived classes write only forward, backward and saturation.
#pragma once

#include "gradlab/layer.hpp"

namespace gradlab {

class ElementwiseLayer : public Layer {
 public:
  Shape configure(Shape input) override { return input; }
  Index param_count() const override { return 0; }
  std::vector<TensorInfo> tensors() const override { return {}; }
  void bind(VectorMap, VectorMap, VectorMap) override {}
  void initialize(const Initializer&, Rng&) override {}
  void reserve(Index) override {}
};

}  // namespace gradlab
