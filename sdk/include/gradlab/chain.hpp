// LayerChain: forward and backward over an ordered list of layers, keeping each
// layer's output for the backward pass. The one copy of that loop: the host's
// Network, the residual block's branch, an autoencoder's decoder and a
// strategy's helper nets all run through it.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
#pragma once

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "gradlab/layer.hpp"
#include "gradlab/types.hpp"

namespace gradlab {

// Contract, in call order:
//  1. configure(input) configures each layer in turn (or adopt(shapes) takes
//     the shapes of layers someone else configured) and returns the last
//     output shape. A layer's refusal comes back as std::invalid_argument
//     "layer j: <its reason>".
//  2. The caller binds the layers' parameter views (the chain owns no
//     parameters) and calls reserve(max_batch): the chain sizes one output
//     matrix per layer and two gradient buffers, and reserves every layer.
//     After it, forward and backward allocate nothing for batches up to
//     max_batch.
//  3. forward(in, ctx) runs the layers and keeps their outputs (output(j)).
//  4. backward(in, grad_out, grad_in, ctx) on the same batch: grad_out is
//     d(loss)/d(last output), either the caller's matrix or output_gradient(),
//     the chain's own buffer a caller may write it into; the layers accumulate
//     their parameter gradients, and grad_in (when non-null) receives
//     d(loss)/d(in).
// The chain does not own its layers: whoever owns them keeps them alive.
// One chain belongs to one thread at a time.
class LayerChain {
 public:
  LayerChain() = default;
  explicit LayerChain(std::vector<Layer*> layers) : layers_(std::move(layers)) {
    for (const Layer* layer : layers_)
      if (!layer) throw std::invalid_argument("a layer chain was given a null layer");
  }

  Index size() const { return static_cast<Index>(layers_.size()); }
  Layer& layer(Index j) const { return *layers_[static_cast<std::size_t>(j)]; }
  // shapes()[j] is the input of layer j; shapes().back() the chain's output.
  const std::vector<Shape>& shapes() const { return shapes_; }
  Shape input_shape() const { return shapes_.front(); }
  Shape output_shape() const { return shapes_.back(); }

  Shape configure(Shape input) {
    std::vector<Shape> shapes{input};
    for (std::size_t j = 0; j < layers_.size(); ++j) {
      Shape out;
      try {
        out = layers_[j]->configure(shapes.back());
      } catch (const std::exception& e) {
        throw std::invalid_argument("layer " + std::to_string(j) + ": " + e.what());
      }
      if (out.features <= 0 || out.steps <= 0)
        throw std::invalid_argument("layer " + std::to_string(j) + " produced an empty output shape");
      shapes.push_back(out);
    }
    adopt(std::move(shapes));
    return shapes_.back();
  }
  // For layers already configured by the caller: shapes[j] is layer j's input.
  void adopt(std::vector<Shape> shapes) {
    if (shapes.size() != layers_.size() + 1)
      throw std::invalid_argument("a chain of " + std::to_string(layers_.size()) + " layers needs " +
                                  std::to_string(layers_.size() + 1) + " shapes");
    shapes_ = std::move(shapes);
    max_batch_ = 0;
    outputs_.clear();
  }

  void reserve(Index max_batch) {
    if (shapes_.empty()) throw std::logic_error("LayerChain::reserve before configure");
    if (max_batch > max_batch_) {
      max_batch_ = max_batch;
      Index widest = 0;
      for (const Shape& s : shapes_) widest = std::max(widest, s.features * s.steps);
      outputs_.resize(layers_.size());
      for (std::size_t j = 0; j < layers_.size(); ++j)
        outputs_[j].resize(shapes_[j + 1].features, shapes_[j + 1].steps * max_batch);
      grad_a_.resize(widest, max_batch);
      grad_b_.resize(widest, max_batch);
    }
    for (Layer* layer : layers_) layer->reserve(max_batch);
  }
  Index reserved_batch() const { return max_batch_; }

  // Runs layers [0, upto) (upto < 0: all) on `in`, ctx.batch examples wide.
  void forward(ConstMatrixMap in, const ForwardContext& ctx, Index upto = -1) {
    const Index n = upto < 0 ? size() : upto;
    const Index batch = ctx.batch;
    if (batch > max_batch_) reserve(batch);  // a no-op after the owner's reserve()
    for (Index j = 0; j < n; ++j) layer(j).forward(j == 0 ? in : output(j - 1, batch), output_mut(j, batch), ctx);
  }

  // Output of layer j from the last forward, `batch` examples wide.
  ConstMatrixMap output(Index j, Index batch) const {
    const Shape s = shapes_[static_cast<std::size_t>(j + 1)];
    return ConstMatrixMap(outputs_[static_cast<std::size_t>(j)].data(), s.features, s.steps * batch);
  }
  ConstMatrixMap output(Index batch) const { return output(size() - 1, batch); }

  // The chain's buffer for d(loss)/d(last output), to pass back to backward().
  MatrixMap output_gradient(Index batch) {
    const Shape s = shapes_.back();
    return MatrixMap(grad_a_.data(), s.features, s.steps * batch);
  }

  // lag_probes: null, or one LagProbe per layer, handed to layer j in its backward.
  // output_grad_norms: null, or one slot per layer that receives the L2 norm
  // of d(loss)/d(output of layer j) (a probe's reading; training passes null).
  void backward(ConstMatrixMap in, ConstMatrixMap grad_out, MatrixMap* grad_in, const ForwardContext& ctx,
                LagProbe* lag_probes = nullptr, double* output_grad_norms = nullptr) {
    const Index batch = ctx.batch;
    ForwardContext layer_ctx = ctx;
    const Scalar* g = grad_out.data();
    for (Index j = size() - 1; j >= 0; --j) {
      const Shape si = shapes_[static_cast<std::size_t>(j)], so = shapes_[static_cast<std::size_t>(j + 1)];
      ConstMatrixMap layer_in = j == 0 ? in : output(j - 1, batch);
      ConstMatrixMap layer_grad_out(g, so.features, so.steps * batch);
      // Read here: the ping-pong buffer holding it is overwritten two layers on.
      if (output_grad_norms) output_grad_norms[j] = std::sqrt(layer_grad_out.template cast<double>().squaredNorm());
      layer_ctx.lag_probe = lag_probes ? &lag_probes[j] : nullptr;
      if (j == 0) {
        layer(0).backward(layer_in, output(0, batch), layer_grad_out, grad_in, layer_ctx);
      } else {
        // Ping-pong: write into whichever buffer does not hold grad_out.
        Matrix& target = g == grad_a_.data() ? grad_b_ : grad_a_;
        MatrixMap layer_grad_in(target.data(), si.features, si.steps * batch);
        layer(j).backward(layer_in, output(j, batch), layer_grad_out, &layer_grad_in, layer_ctx);
        g = target.data();
      }
    }
  }

 private:
  MatrixMap output_mut(Index j, Index batch) {
    const Shape s = shapes_[static_cast<std::size_t>(j + 1)];
    return MatrixMap(outputs_[static_cast<std::size_t>(j)].data(), s.features, s.steps * batch);
  }

  std::vector<Layer*> layers_;
  std::vector<Shape> shapes_;
  Index max_batch_ = 0;
  std::vector<Matrix> outputs_;  // outputs_[j] = output of layer j
  Matrix grad_a_, grad_b_;       // ping-pong gradients between layers
};

}  // namespace gradlab
