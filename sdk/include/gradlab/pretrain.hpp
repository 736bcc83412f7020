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
#include <optional>
#include <random>
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

// A model's loss and accuracy over a whole split (eval mode), and the fraction
// of examples the data set's success criterion counts as solved.
struct ModelScore {
  double loss = 0.0;
  double accuracy = 0.0;  // classification only: of the scored steps
  std::optional<double> success_rate;
};

// The network as a pretraining strategy sees it. Layer indices are those of
// the flattened model (repeats expanded), the same as in run summaries.
// A Model is used by one thread at a time; for parallel work take one clone()
// per task or thread.
class Model {
 public:
  virtual ~Model() = default;
  virtual Index layer_count() const = 0;
  virtual const std::string& layer_type(Index i) const = 0;
  virtual Layer& layer(Index i) = 0;
  virtual Shape layer_input_shape(Index i) const = 0;
  virtual Shape layer_output_shape(Index i) const = 0;
  // The flat parameter and gradient vectors and per-layer views into them.
  virtual VectorMap parameters() = 0;
  virtual VectorMap gradients() = 0;
  virtual VectorMap layer_parameters(Index i) = 0;
  virtual VectorMap layer_gradients(Index i) = 0;
  // Copies the listed examples of a split (order[0 .. count)) into the model's
  // batch workspace in batch layout; the view is valid until the next gather.
  virtual BatchView gather(const Split& split, const std::int64_t* order, Index count) = 0;
  // Runs `batch` through layers [0, upto) in eval mode and copies the result
  // (layer_output_shape(upto - 1).features rows) into out.
  virtual void forward_prefix(const BatchView& batch, Index upto, MatrixMap out) = 0;
  // Mean loss of the whole network on a batch, in eval mode (no gradient).
  virtual double loss(const BatchView& batch) = 0;
  // Mean loss in train mode, and its gradient written to gradients().
  virtual double loss_and_gradient(const BatchView& batch) = 0;
  // Loss, accuracy and (given a criterion) success rate over a whole split,
  // in eval mode, allocating nothing after the first call.
  virtual ModelScore evaluate(const Split& split, const SuccessCriterion* success = nullptr) = 0;
  // An independent model of the same architecture: its own layers, parameter,
  // gradient and buffer storage and workspaces, starting from a copy of this
  // model's parameters and buffers. Writing to a clone never changes the
  // original; clones may be used concurrently, one per thread.
  virtual std::unique_ptr<Model> clone() const = 0;
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

// An independent random stream for `stream` (0, 1, 2, ...) derived from a
// seed: the same (seed, stream) always gives the same draws, and different
// streams do not overlap in practice (std::seed_seq mixes all four words).
inline Rng derived_rng(std::uint64_t seed, std::uint64_t stream) {
  std::seed_seq mix{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                    static_cast<std::uint32_t>(stream), static_cast<std::uint32_t>(stream >> 32),
                    0x67726164u /* "grad" */};
  return Rng(mix);
}

struct PretrainContext {
  Model& model;
  const Dataset& data;
  Rng& rng;  // the run's stream, after the model's initialization
  const ComponentSource& components;
  std::function<void(const std::string&)> log;  // one progress line; may be empty
  std::function<bool()> cancelled;              // poll between epochs; may be empty
  // The run's seed, for stream(): independent streams, one per purpose or per
  // task, so that a parallel strategy draws the same numbers in any order.
  std::uint64_t seed = 0;
  // The most threads the strategy may use at once (gradlab train --threads;
  // 1 inside a study, whose runs already fill the cores). The result must not
  // depend on it.
  int threads = 1;
  // Appends `value` to the series `metric` of the run summary's "pretraining"
  // object (a reconstruction error per epoch, a trial count); may be empty.
  std::function<void(const std::string& metric, double value)> record;

  Rng stream(std::uint64_t index) const { return derived_rng(seed, index); }
  void say(const std::string& line) const {
    if (log) log(line);
  }
  bool stop() const { return cancelled && cancelled(); }
  void note(const std::string& metric, double value) const {
    if (record) record(metric, value);
  }
};

// Contract: pretrain(ctx) leaves the model's parameters set to what the
// strategy produced; the host then fine-tunes them for training.epochs epochs
// (0 = the strategy alone). It may use only ctx.rng and ctx.stream(i) for
// randomness and must return promptly once ctx.stop() is true. A NaN it produces is caught by
// the host and reported as a diverged run.
//
// check(model, data) runs before anything is trained: a strategy that cannot
// work on this model or data (an RBM stack without dense+sigmoid pairs, a
// sequence strategy on feed-forward data) throws std::invalid_argument with
// one readable reason, and the host reports it as bad input at the spec's
// `pretrain:` entry (exit code 2), before any epoch is computed.
class PretrainStrategy {
 public:
  virtual ~PretrainStrategy() = default;
  virtual void check(const Model& model, const Dataset& data) const {
    (void)model;
    (void)data;
  }
  virtual void pretrain(PretrainContext& ctx) = 0;
};

}  // namespace gradlab
