// The Layer interface: one differentiable stage of a network.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
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

// Error flow through time, reported by a recurrent layer during a probe's
// backward. The host sizes `hidden` (and `cell`) to the layer's input steps,
// zeroed. For each example b and lag k < length_b the layer adds the squared
// L2 norm of d(mean loss)/d h at step length_b - 1 - k, the gradient its
// backward actually propagated (so a truncated BPTT shows its truncation), to
// hidden[k]; a layer with a cell state does the same for d(mean loss)/d c into
// cell[k] and sets has_cell. It sets `reported` (the host shows the curve of
// those layers only) and must not resize the vectors: backward allocates
// nothing. The host takes the square roots.
struct LagProbe {
  std::vector<double> hidden;
  std::vector<double> cell;
  bool has_cell = false;
  bool reported = false;
};

struct ForwardContext {
  Mode mode = Mode::train;
  // Layers with running statistics (batch_norm) update them only when true; the
  // host clears it for probes so that measuring never changes the model.
  bool update_statistics = true;
  // Examples in this batch; the activation matrices have batch * steps columns.
  Index batch = 0;
  // The valid steps of each example (1 .. steps), or null when every example
  // has all of them. Only a layer whose input has steps > 1 reads it. A step at
  // or after an example's length is padding: it must not change any valid
  // step's output, any gradient or any probe (a recurrent layer outputs zeros
  // there; an elementwise layer may compute anything finite).
  const std::int32_t* lengths = nullptr;
  // The run's stream for stochastic layers (dropout), in train mode; null in
  // eval mode. A stochastic layer draws only from it (so a run repeats bit for
  // bit) and, given null, acts as in eval mode. Within one forward/backward
  // pair the backward reuses what the forward drew.
  Rng* rng = nullptr;
  // Non-null only in a probe's backward, and then per layer: where a recurrent
  // layer reports its error flow by lag. Other layers ignore it.
  LagProbe* lag_probe = nullptr;

  // Valid steps of example b for a layer whose input has `steps` steps.
  Index length(Index b, Index steps) const { return lengths && steps > 1 ? Index(lengths[b]) : steps; }
  // Whether column `column` of a [rows, steps * batch] matrix is a valid step.
  bool valid_column(Index column, Index steps) const {
    return !lengths || steps == 1 || column / batch < Index(lengths[column % batch]);
  }
};

// Contract, in call order:
//  1. configure(input) once: validate the per-example input shape and return the
//     output shape. Throw std::invalid_argument with a readable reason if the
//     input does not fit (the host adds where in the spec the layer is).
//  2. param_count(), buffer_count(), tensors(), buffer_tensors(): sizes of the
//     layer's blocks. Constant after configure.
//  2b. set_initializer(key, init) for each initializer key the spec gives (see
//     ComponentInfo::initializer_keys), any time before initialize().
//  3. bind(params, grads, buffers): views into the network's flat vectors, each
//     exactly as long as the counts above. The layer keeps them (as Eigen::Map
//     views) and never owns parameter storage itself.
//  4. initialize(init, rng, site): set the parameters (weights from `init`,
//     biases 0, buffers to their neutral value), drawing only from `rng`, and
//     hand `site` (where the layer sits, see InitSite) to every fill(). A block
//     passes its children the site with the branch fields set.
//  5. reserve(max_batch): allocate any scratch needed for batches of up to
//     max_batch examples. forward/backward must not allocate afterwards: the
//     training step is allocation free.
//  6. forward(in, out, ctx) then backward(in, out, grad_out, grad_in, ctx) on the
//     same batch. A layer's output has either its input's steps or one step
//     (a recurrent layer's `sequence: last`); the host refuses any other. `in` and `out` are still the matrices of that
//     forward. backward ACCUMULATES parameter gradients into the bound grads view (the host zeroes it first) and writes
//     grad_in when it is non-null (null for the first layer, whose input gradient nobody needs).
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
  // An initializer for the part of the weights that `key` names, one of the
  // ComponentInfo::initializer_keys the layer registered; called before
  // initialize(). The default refuses: the layer registered no such key.
  virtual void set_initializer(const std::string& key, std::shared_ptr<const Initializer> init) {
    (void)init;
    throw std::invalid_argument("this layer takes no initializer '" + key + "'");
  }
  virtual void initialize(const Initializer& weights, Rng& rng, const InitSite& site) = 0;
  virtual void reserve(Index max_batch) = 0;
  virtual void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) = 0;
  virtual void backward(ConstMatrixMap in, ConstMatrixMap out, ConstMatrixMap grad_out, MatrixMap* grad_in,
                        const ForwardContext& ctx) = 0;

  // Fraction in [0, 1] of this layer's units that sit in their flat region
  // (|f'| < 0.01 max|f'|) or, for rectifiers, are dead, judged on one probe
  // forward over the valid steps only (ctx.valid_column). 0 for layers that are
  // not activations.
  virtual double saturation(ConstMatrixMap in, ConstMatrixMap out, const ForwardContext& ctx) const {
    (void)in;
    (void)out;
    (void)ctx;
    return 0.0;
  }
};

}  // namespace gradlab
