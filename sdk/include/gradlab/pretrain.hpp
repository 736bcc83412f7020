// The PretrainStrategy interface and the view of the network it works on.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "gradlab/data.hpp"
#include "gradlab/initializer.hpp"
#include "gradlab/layer.hpp"
#include "gradlab/optimizer.hpp"
#include "gradlab/params.hpp"

namespace gradlab {

// A batch of examples in batch layout: inputs [features, steps * batch]; for
// classification the labels, else the regression targets, one per example or
// (every_step data) one per step, time-major like the inputs; the valid steps
// of each example (null: all).
struct BatchView {
  const Scalar* inputs = nullptr;
  Index batch = 0;
  const std::int32_t* labels = nullptr;
  const Scalar* targets = nullptr;
  const std::int32_t* lengths = nullptr;
};

// The network as a pretraining strategy sees it. Layer indices are those of
// the flattened model (repeats expanded), the same as in run summaries.
class Model {
 public:
  virtual ~Model() = default;
  virtual Index layer_count() const = 0;
  virtual const std::string& layer_type(Index i) const = 0;
  virtual Layer& layer(Index i) = 0;
  virtual Shape layer_input_shape(Index i) const = 0;
  virtual Shape layer_output_shape(Index i) const = 0;
  // The flat parameter vector and per-layer views into it.
  virtual VectorMap parameters() = 0;
  virtual VectorMap gradients() = 0;
  virtual VectorMap layer_parameters(Index i) = 0;
  // Runs `batch` through layers [0, upto) in eval mode and copies the result
  // (layer_output_shape(upto - 1).features rows) into out.
  virtual void forward_prefix(const BatchView& batch, Index upto, MatrixMap out) = 0;
  // Mean loss of the whole network on a batch, in eval mode (no gradient).
  virtual double loss(const BatchView& batch) = 0;
  // Mean loss in train mode, and its gradient written to gradients().
  virtual double loss_and_gradient(const BatchView& batch) = 0;
};

// Lets a strategy build helper components (an RBM's hidden-to-visible layer, an
// autoencoder's decoder, its own optimizer) through the host's registry, with
// the same validation as a run spec.
class ComponentSource {
 public:
  virtual ~ComponentSource() = default;
  virtual std::shared_ptr<Layer> make_layer(const std::string& name, const Params& params) const = 0;
  virtual std::shared_ptr<Initializer> make_initializer(const std::string& name, const Params& params) const = 0;
  virtual std::shared_ptr<Optimizer> make_optimizer(const std::string& name, const Params& params) const = 0;
};

struct PretrainContext {
  Model& model;
  const Dataset& data;
  Rng& rng;
  const ComponentSource& components;
  std::function<void(const std::string&)> log;  // one progress line; may be empty
  std::function<bool()> cancelled;              // poll between epochs; may be empty
};

// Contract: pretrain(ctx) leaves the model's parameters set to what the
// strategy produced; the host then fine-tunes them for training.epochs epochs
// (0 = the strategy alone). It may use only ctx.rng for randomness and must
// return promptly once ctx.cancelled() is true. A NaN it produces is caught by
// the host and reported as a diverged run.
class PretrainStrategy {
 public:
  virtual ~PretrainStrategy() = default;
  virtual void pretrain(PretrainContext& ctx) = 0;
};

}  // namespace gradlab
