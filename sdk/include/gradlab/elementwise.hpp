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
  void initialize(const Initializer&, Rng&, const InitSite&) override {}
  void reserve(Index) override {}

 protected:
  // For saturation(): the fraction of valid entries (padded steps excluded)
  // for which flat(in_value, out_value) holds.
  template <class Flat>
  static double valid_fraction(ConstMatrixMap in, ConstMatrixMap out, const ForwardContext& ctx, Flat flat) {
    const Index steps = ctx.batch > 0 ? out.cols() / ctx.batch : 1;
    Index hits = 0, total = 0;
    for (Index c = 0; c < out.cols(); ++c) {
      if (!ctx.valid_column(c, steps)) continue;
      total += out.rows();
      for (Index r = 0; r < out.rows(); ++r) hits += flat(in(r, c), out(r, c)) ? 1 : 0;
    }
    return total == 0 ? 0.0 : double(hits) / double(total);
  }
  // For rectifiers: the fraction of units (rows) that are <= 0 at every valid
  // column, i.e. get no gradient (relu) from the whole batch.
  static double dead_unit_fraction(ConstMatrixMap values, const ForwardContext& ctx) {
    if (values.rows() == 0 || values.cols() == 0) return 0.0;
    const Index steps = ctx.batch > 0 ? values.cols() / ctx.batch : 1;
    Index dead = 0;
    for (Index u = 0; u < values.rows(); ++u) {
      bool alive = false;
      for (Index c = 0; c < values.cols() && !alive; ++c)
        alive = ctx.valid_column(c, steps) && values(u, c) > Scalar(0);
      dead += alive ? 0 : 1;
    }
    return double(dead) / double(values.rows());
  }
};

}  // namespace gradlab
