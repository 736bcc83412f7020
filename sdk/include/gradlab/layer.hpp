// The Layer interface: one differentiable stage of a network.
#pragma once

#include <string>
#include <vector>

#include "gradlab/initializer.hpp"
#include "gradlab/types.hpp"

namespace gradlab {

// A named tensor inside a layer's parameter (or buffer) block. `name` is
// relative to the layer ("weight", "bias", "0.weight" inside a block); the host
// prefixes the layer's flattened index, giving PyTorch state_dict names.
// `shape` is row-major as PyTorch reports it; `offset` counts scalars from the
// start of the layer's block.
struct TensorInfo {
  std::string name;
  std::vector<Index> shape;
  Index offset = 0;
};

enum class Mode { train, eval };

struct ForwardContext {
  Mode mode = Mode::train;
  // Layers with running statistics (batch_norm) update them only when true; the
  // host clears it for probes so that measuring never changes the model.
  bool update_statistics = true;
  // Examples in this batch; the activation matrices have batch * steps columns.
  Index batch = 0;
};

// Contract, in call order:
//  1. configure(input) once: validate the per-example input shape and return the
//     output shape. Throw std::invalid_argument with a readable reason if the
//     input does not fit (the host adds where in the spec the layer is).
//  2. param_count(), buffer_count(), tensors(), buffer_tensors(): sizes of the
//     layer's blocks. Constant after configure.
//  3. bind(params, grads, buffers): views into the network's flat vectors, each
//     exactly as long as the counts above. The layer keeps them (as Eigen::Map
//     views) and never owns parameter storage itself.
//  4. initialize(init, rng): set the parameters (weights from `init`, biases 0,
//     buffers to their neutral value), drawing only from `rng`.
//  5. reserve(max_batch): allocate any scratch needed for batches of up to
//     max_batch examples. forward/backward must not allocate afterwards: the
//     training step is allocation free.
//  6. forward(in, out, ctx) then backward(in, out, grad_out, grad_in, ctx) on the
//     same batch. `in` and `out` are still the matrices of that forward. backward
//     ACCUMULATES parameter gradients into the bound grads view (the host zeroes it
//     first) and writes grad_in when it is non-null (null for the first layer,
//     whose input gradient nobody needs).
// A layer instance belongs to one network, used by one thread at a time.
class Layer {
 public:
  virtual ~Layer() = default;

  virtual Shape configure(Shape input) = 0;
  virtual Index param_count() const = 0;
  virtual Index buffer_count() const { return 0; }
  virtual std::vector<TensorInfo> tensors() const = 0;
  virtual std::vector<TensorInfo> buffer_tensors() const { return {}; }
  virtual void bind(VectorMap params, VectorMap grads, VectorMap buffers) = 0;
  virtual void initialize(const Initializer& weights, Rng& rng) = 0;
  virtual void reserve(Index max_batch) = 0;
  virtual void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) = 0;
  virtual void backward(ConstMatrixMap in, ConstMatrixMap out, ConstMatrixMap grad_out, MatrixMap* grad_in,
                        const ForwardContext& ctx) = 0;

  // Fraction in [0, 1] of this layer's units that sit in their flat region
  // (|f'| < 0.01 max|f'|) or, for rectifiers, are dead, judged on one probe
  // forward. 0 for layers that are not activations.
  virtual double saturation(ConstMatrixMap in, ConstMatrixMap out) const {
    (void)in;
    (void)out;
    return 0.0;
  }
};

}  // namespace gradlab
