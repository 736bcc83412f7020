// The network: an ordered list of layers over one flat parameter vector, one
// flat gradient vector and one flat buffer vector (non-trainable state such as
// batch-norm running statistics). Layers hold Eigen::Map views into them, so a
// layer's gradient norm is the norm of a contiguous segment.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gradlab/chain.hpp"
#include "gradlab/data.hpp"
#include "gradlab/pretrain.hpp"

namespace gradlab {

struct NetworkLayer {
  std::string type;
  std::shared_ptr<Layer> layer;
  std::shared_ptr<const Initializer> init;  // this layer's own initializer, or null
  std::string where;                        // spec location, for error messages
  bool block = false;                       // built with a `layers:` branch (residual): InitSite::blocks
};

// One row of a run summary's per-layer probe.
struct LayerProbe {
  Index index = 0;
  std::string type;
  Index param_count = 0;
  double grad_norm = 0.0;  // |d(mean loss)/d(parameters)| on the probe batch; 0 without parameters
  double weight_norm = 0.0;
  double saturation = 0.0;
  // |d(mean loss)/d(layer output)| on the probe batch: the backpropagated
  // error itself, defined for layers without parameters too.
  double output_grad_norm = 0.0;
  // |w_after - w_before| / |w_before| over the last training step before the
  // probe; absent for layers without parameters and when no step was taken.
  std::optional<double> update_ratio;
  // Recurrent layers only (else empty): the error flow by lag, lag 0 first
  // (LagProbe), and for layers with a cell state the same for the cell.
  std::vector<double> grad_by_lag;
  std::vector<double> cell_grad_by_lag;
};

// A parameter or buffer tensor with its flattened-model name ("3.weight").
struct NamedTensor {
  std::string name;
  std::vector<Index> shape;
  Scalar* data = nullptr;
  Index size = 0;
};

// What a network may plan to take, checked before anything is allocated.
struct NetworkLimits {
  std::uint64_t max_bytes = ~std::uint64_t(0);  // the memory budget
  Index batch = 256;                            // the largest batch it will reserve for
  Index optimizer_slots = 3;                    // per-parameter optimizer state (Adam 2, Rprop+ 3)
};

// Builds a fresh, unconfigured copy of a network's layers (the same types and
// parameters): what Network::clone() needs to give a clone its own layers.
using LayerListFactory = std::function<std::vector<NetworkLayer>()>;

class Network final : public Model {
 public:
  // Configures every layer for `input` and binds it to the flat vectors.
  // Throws InputError naming the layer's spec location if a layer rejects its
  // input, if the output does not fit the task (classes / targets), or if
  // the model's estimated memory (parameters, gradients, optimizer state,
  // buffers and activations for limits.batch) exceeds limits.max_bytes: the
  // layer that crosses the line is named.
  //
  // With sequence input, each layer's output has its input's steps or one
  // step; the model's output has one step for sequence_end targets and the
  // data's steps for every_step targets.
  Network(std::vector<NetworkLayer> layers, Shape input, Task task, Index outputs, NetworkLimits limits = {},
          TargetAt target_at = TargetAt::sequence_end);
  // Lets clone() rebuild the layers; a network built without one cannot be cloned.
  void set_layer_factory(LayerListFactory factory) { layer_factory_ = std::move(factory); }

  // A network owns its flat vectors and its layers are bound to them: a copy
  // would share the layers and write through them into the original.
  Network(const Network&) = delete;
  Network& operator=(const Network&) = delete;

  // Bytes the model is estimated to take for a batch of `batch` examples.
  std::uint64_t estimated_bytes() const { return estimated_bytes_; }

  Index param_count() const { return params_.size(); }
  // Weights from each layer's own initializer or `fallback`; biases 0. Each
  // layer gets its InitSite (index, depth, block) from here.
  void initialize(const Initializer& fallback, Rng& rng);
  // The layers that have parameters, as the optimizer sees them ("3.dense").
  std::vector<ParamGroup> param_groups() const;
  // Gives stochastic layers (dropout) a stream of their own to draw from in
  // training steps (loss_and_gradient). Without one (the default, and in
  // clones) they act as in eval mode. Evaluation and probes never draw.
  void set_stochastic_stream(Rng stream) { random_stream_ = std::move(stream); }
  // Sizes the activation and gradient workspaces for batches of up to
  // max_batch examples; after it, loss_and_gradient allocates nothing.
  void reserve(Index max_batch);
  Index reserved_batch() const { return max_batch_; }

  using Evaluation = ModelScore;
  // Mean loss and accuracy over a whole split, in eval mode: one forward pass,
  // in chunks of the reserved batch size (no more columns than a training
  // batch takes), allocating nothing after reserve(). With `success`, also the
  // fraction of examples it counts as solved.
  ModelScore evaluate(const Split& split, const SuccessCriterion* success = nullptr) override;
  // Gradient probe on one batch, train-mode statistics, nothing updated.
  // params_before: null, or the parameters as they were before the last
  // training step (param_count() values), for each layer's update_ratio.
  std::vector<LayerProbe> probe(const BatchView& batch, const Vector* params_before = nullptr);

  std::vector<NamedTensor> named_tensors(bool include_buffers = true);
  VectorMap buffers() { return VectorMap(buffers_.data(), buffers_.size()); }
  Task task() const { return task_; }
  TargetAt target_at() const { return target_at_; }
  Shape input_shape() const { return input_; }
  Index outputs() const { return outputs_; }

  // Copies examples `first .. first+count` of a split (or the listed examples)
  // into the network's input workspace in batch layout, and returns its view.
  BatchView gather(const Split& split, const std::int64_t* order, Index count) override;
  // The same for examples first .. first+count in order.
  BatchView gather_range(const Split& split, Index first, Index count);

  // Model
  Index layer_count() const override { return static_cast<Index>(layers_.size()); }
  const std::string& layer_type(Index i) const override { return layers_[i].type; }
  Layer& layer(Index i) override { return *layers_[i].layer; }
  Shape layer_input_shape(Index i) const override { return shapes_[i]; }
  Shape layer_output_shape(Index i) const override { return shapes_[i + 1]; }
  VectorMap parameters() override { return VectorMap(params_.data(), params_.size()); }
  VectorMap gradients() override { return VectorMap(grads_.data(), grads_.size()); }
  VectorMap layer_parameters(Index i) override { return VectorMap(params_.data() + offsets_[i], counts_[i]); }
  VectorMap layer_gradients(Index i) override { return VectorMap(grads_.data() + offsets_[i], counts_[i]); }
  void forward_prefix(const BatchView& batch, Index upto, MatrixMap out) override;
  double loss(const BatchView& batch) override;
  double loss_and_gradient(const BatchView& batch) override;
  // Needs set_layer_factory(); throws std::logic_error without one.
  std::unique_ptr<Model> clone() const override;
  std::unique_ptr<Network> clone_network() const;

 private:
  BatchView gather_examples(const Split& split, const std::int64_t* order, Index first, Index count);
  void forward(const BatchView& batch, Index upto, const ForwardContext& ctx);
  // The loss of the last forward, summed over what it averages (classification:
  // the scored steps; regression: their outputs), with how many there are and
  // how many scored steps were classified right.
  struct LossTotals {
    double sum = 0.0;
    double count = 0.0;
    Index scored = 0, correct = 0;
    double mean() const { return count > 0 ? sum / count : 0.0; }
  };
  // Writes d(mean loss)/d(output) into the gradient workspace when `gradient`;
  // padded steps get a zero gradient and add nothing.
  LossTotals output_loss(const BatchView& batch, bool gradient);
  // Fraction-of-solved bookkeeping for evaluate(): examples of `batch` that
  // `success` counts as solved (the batch's examples start at `first` in split).
  Index count_solved(const BatchView& batch, const Split& split, Index first, const SuccessCriterion& success);
  // lag_probes: null, or one LagProbe per layer, handed to it in its backward;
  // output_grad_norms: null, or one slot per layer (LayerChain::backward).
  void backward(const BatchView& batch, const ForwardContext& ctx, std::vector<LagProbe>* lag_probes = nullptr,
                double* output_grad_norms = nullptr);
  ForwardContext context(Mode mode, bool update_statistics, const BatchView& batch) const;
  ConstMatrixMap input_view(const BatchView& batch) const;

  std::vector<NetworkLayer> layers_;
  std::vector<Shape> shapes_;  // shapes_[i] = input of layer i; shapes_.back() = output
  std::vector<Index> offsets_, counts_, buffer_offsets_, buffer_counts_;
  Vector params_, grads_, buffers_;
  Shape input_;
  Task task_;
  Index outputs_;
  TargetAt target_at_;
  Index output_steps_ = 1;  // steps of the model's output: 1, or input_.steps for every_step targets

  NetworkLimits limits_;
  LayerListFactory layer_factory_;
  Index max_batch_ = 0;
  std::uint64_t estimated_bytes_ = 0;
  LayerChain chain_;                        // the layers' outputs and the ping-pong gradients between them
  Matrix batch_inputs_;                     // gathered batch
  std::vector<std::int32_t> labels_;        // per scored column, time-major
  Matrix targets_;                          // [outputs, scored columns], time-major
  std::vector<std::int32_t> lengths_;       // per example of the gathered batch (sequences only)
  Matrix example_output_, example_target_;  // one example's scored steps, for success criteria
  std::vector<std::int32_t> example_labels_;
  std::vector<LagProbe> lag_probes_;
  std::vector<double> output_grad_norms_;  // probe(): |d(loss)/d(output of layer i)|
  std::optional<Rng> random_stream_;
};

}  // namespace gradlab
