#include "gradlab/core/network.hpp"

#include <cmath>
#include <limits>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab {

namespace {
// Sizes are summed in double: an estimate only needs to be right to a few
// digits, and a huge layer must not wrap an integer around to a small number.
constexpr double bytes_per_scalar = sizeof(Scalar);
}  // namespace

Network::Network(std::vector<NetworkLayer> layers, Shape input, Task task, Index outputs, NetworkLimits limits,
                 TargetAt target_at)
    : layers_(std::move(layers)),
      input_(input),
      task_(task),
      outputs_(outputs),
      target_at_(target_at),
      limits_(limits) {
  if (layers_.empty()) throw InputError("model", "has no layers");
  shapes_.push_back(input);
  Index params = 0, buffers = 0;
  const double batch = double(std::max<Index>(limits.batch, 1));
  const double per_param = bytes_per_scalar * double(2 + std::max<Index>(limits.optimizer_slots, 0));
  // The input batch and the two ping-pong gradient buffers (as wide as the widest layer).
  double widest = double(input.features) * double(input.steps);
  double estimate = bytes_per_scalar * widest * batch;
  double activations = 0;
  const double budget = double(limits.max_bytes);
  for (auto& entry : layers_) {
    Shape out;
    try {
      out = entry.layer->configure(shapes_.back());
    } catch (const std::exception& e) {
      const Shape in = shapes_.back();
      throw InputError(entry.where, "layer '" + entry.type + "' cannot take its input of " +
                                        std::to_string(in.features) + " features x " + std::to_string(in.steps) +
                                        (in.steps == 1 ? " step" : " steps") + ": " + e.what());
    }
    if (out.features <= 0 || out.steps <= 0)
      throw InputError(entry.where, "layer '" + entry.type + "' produced an empty output shape");
    // Steps only ever stay or collapse to one (a recurrent layer's last step):
    // that is what lets every layer read the batch's lengths the same way.
    if (out.steps != shapes_.back().steps && out.steps != 1)
      throw InputError(entry.where, "layer '" + entry.type + "' turns " + std::to_string(shapes_.back().steps) +
                                        " time steps into " + std::to_string(out.steps) +
                                        "; a layer may keep its input's steps or produce one step per example");
    const Index count = entry.layer->param_count();
    const Index buffer_count = entry.layer->buffer_count();
    if (count < 0 || buffer_count < 0)
      throw InputError(entry.where, "layer '" + entry.type + "' reports a negative parameter or buffer count");
    const double width = double(out.features) * double(out.steps);
    widest = std::max(widest, width);
    activations += bytes_per_scalar * width * batch;
    estimate += per_param * double(count) + bytes_per_scalar * double(buffer_count);
    const double total = estimate + activations + 2 * bytes_per_scalar * widest * batch;
    if (total > budget || total > 9e18)
      throw InputError(entry.where, "layer '" + entry.type + "' (layer " + std::to_string(shapes_.size() - 1) +
                                        ") brings the model to about " +
                                        format_bytes(std::uint64_t(std::min(total, 9e18))) +
                                        " (parameters, gradients, optimizer state and activations for a batch of " +
                                        std::to_string(std::int64_t(batch)) + "), more than the memory budget of " +
                                        format_bytes(limits.max_bytes) + " (see --max-memory)");
    shapes_.push_back(out);
    offsets_.push_back(params);
    counts_.push_back(count);
    params += count;
    buffer_offsets_.push_back(buffers);
    buffer_counts_.push_back(buffer_count);
    buffers += buffer_count;
  }
  estimated_bytes_ = std::uint64_t(estimate + activations + 2 * bytes_per_scalar * widest * batch);
  const Shape last = shapes_.back();
  if (target_at_ == TargetAt::sequence_end && last.steps != 1)
    throw InputError(layers_.back().where,
                     "the model outputs " + std::to_string(last.steps) +
                         " time steps per example, but the data set has one target per example (at the end of each "
                         "sequence); give the last recurrent layer `sequence: last` (with `sequence: all` it keeps "
                         "every step)");
  if (target_at_ == TargetAt::every_step && last.steps != input.steps)
    throw InputError(layers_.back().where, "the data set has a target at every one of its " +
                                               std::to_string(input.steps) + " steps, but the model outputs " +
                                               std::to_string(last.steps) +
                                               " step(s) per example; keep the steps (`sequence: all`)");
  output_steps_ = last.steps;
  if (last.features != outputs)
    throw InputError(layers_.back().where, "the model outputs " + std::to_string(last.features) +
                                               " values per example, but the data set has " + std::to_string(outputs) +
                                               (task == Task::classification ? " classes" : " targets") +
                                               "; make the last layer produce " + std::to_string(outputs));
  params_ = Vector::Zero(params);
  grads_ = Vector::Zero(params);
  buffers_ = Vector::Zero(buffers);
  std::vector<Layer*> chain;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    layers_[i].layer->bind(VectorMap(params_.data() + offsets_[i], counts_[i]),
                           VectorMap(grads_.data() + offsets_[i], counts_[i]),
                           VectorMap(buffers_.data() + buffer_offsets_[i], buffer_counts_[i]));
    chain.push_back(layers_[i].layer.get());
  }
  chain_ = LayerChain(std::move(chain));
  chain_.adopt(shapes_);  // configured above, with the memory check between layers
}

std::unique_ptr<Network> Network::clone_network() const {
  if (!layer_factory_) throw std::logic_error("this network was built without a layer factory and cannot be cloned");
  auto copy = std::make_unique<Network>(layer_factory_(), input_, task_, outputs_, limits_, target_at_);
  if (copy->params_.size() != params_.size() || copy->buffers_.size() != buffers_.size())
    throw std::logic_error("a clone's layers have other sizes than the original's");
  copy->layer_factory_ = layer_factory_;
  copy->params_ = params_;
  copy->buffers_ = buffers_;
  if (max_batch_ > 0) copy->reserve(max_batch_);
  return copy;
}

std::unique_ptr<Model> Network::clone() const { return clone_network(); }

void Network::initialize(const Initializer& fallback, Rng& rng) {
  InitSite site;
  site.layers = static_cast<Index>(layers_.size());
  site.weight_layers = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    site.weight_layers += counts_[i] > 0 ? 1 : 0;
    site.blocks += layers_[i].block ? 1 : 0;
  }
  Index weight_layer = 0, block = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto& entry = layers_[i];
    site.layer = static_cast<Index>(i);
    site.weight_layer = weight_layer;
    site.block = entry.block ? block : -1;
    entry.layer->initialize(entry.init ? *entry.init : fallback, rng, site);
    weight_layer += counts_[i] > 0 ? 1 : 0;
    block += entry.block ? 1 : 0;
  }
}

std::vector<ParamGroup> Network::param_groups() const {
  std::vector<ParamGroup> groups;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    if (counts_[i] > 0) groups.push_back({std::to_string(i) + "." + layers_[i].type, offsets_[i], counts_[i]});
  return groups;
}

void Network::reserve(Index max_batch) {
  if (max_batch <= max_batch_) return;
  max_batch_ = max_batch;
  chain_.reserve(max_batch);
  batch_inputs_.resize(input_.features, input_.steps * max_batch);
  labels_.resize(static_cast<std::size_t>(output_steps_ * max_batch));
  if (task_ == Task::regression) targets_.resize(outputs_, output_steps_ * max_batch);
  if (input_.steps > 1) lengths_.resize(static_cast<std::size_t>(max_batch));
  example_output_.resize(outputs_, output_steps_);
  example_target_.resize(task_ == Task::regression ? outputs_ : 0, output_steps_);
  example_labels_.resize(static_cast<std::size_t>(output_steps_));
  lag_probes_.resize(layers_.size());
  output_grad_norms_.assign(layers_.size(), 0.0);
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    lag_probes_[i].hidden.assign(static_cast<std::size_t>(shapes_[i].steps), 0.0);
    lag_probes_[i].cell.assign(static_cast<std::size_t>(shapes_[i].steps), 0.0);
  }
}

ForwardContext Network::context(Mode mode, bool update_statistics, const BatchView& batch) const {
  ForwardContext ctx;
  ctx.mode = mode;
  ctx.update_statistics = update_statistics;
  ctx.batch = batch.batch;
  ctx.lengths = input_.steps > 1 ? batch.lengths : nullptr;
  return ctx;
}

ConstMatrixMap Network::input_view(const BatchView& batch) const {
  return ConstMatrixMap(batch.inputs, input_.features, input_.steps * batch.batch);
}

BatchView Network::gather(const Split& split, const std::int64_t* order, Index count) {
  return gather_examples(split, order, 0, count);
}

BatchView Network::gather_range(const Split& split, Index first, Index count) {
  return gather_examples(split, nullptr, first, count);
}

BatchView Network::gather_examples(const Split& split, const std::int64_t* order, Index first, Index count) {
  reserve(count);
  const Index steps = input_.steps;
  const bool ragged = steps > 1 && !split.lengths.empty();
  for (Index b = 0; b < count; ++b) {
    const Index example = order ? static_cast<Index>(order[b]) : first + b;
    // Split storage is example-major (steps consecutive columns per example);
    // a batch is time-major (column t * batch + b), so recurrent layers read
    // one contiguous block per step. Targets follow the same layout.
    for (Index t = 0; t < steps; ++t) batch_inputs_.col(t * count + b) = split.inputs.col(example * steps + t);
    if (steps > 1) lengths_[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(split.length(example, steps));
    for (Index t = 0; t < output_steps_; ++t) {
      const Index column = t * count + b, stored = example * output_steps_ + t;
      if (task_ == Task::classification)
        labels_[static_cast<std::size_t>(column)] = split.labels[static_cast<std::size_t>(stored)];
      else
        targets_.col(column) = split.targets.col(stored);
    }
  }
  BatchView view;
  view.inputs = batch_inputs_.data();
  view.batch = count;
  view.labels = task_ == Task::classification ? labels_.data() : nullptr;
  view.targets = task_ == Task::regression ? targets_.data() : nullptr;
  view.lengths = ragged ? lengths_.data() : nullptr;
  return view;
}

void Network::forward(const BatchView& batch, Index upto, const ForwardContext& ctx) {
  chain_.forward(input_view(batch), ctx, upto);
}

Network::LossTotals Network::output_loss(const BatchView& batch, bool gradient) {
  const Index n = batch.batch;
  const Index columns = output_steps_ * n;
  ConstMatrixMap out = chain_.output(n);
  MatrixMap grad = chain_.output_gradient(n);
  // Scored columns: every column for sequence_end targets (one per example);
  // for every_step targets, the valid steps only (column t * n + b).
  auto scored = [&](Index c) { return output_steps_ == 1 || !batch.lengths || c / n < Index(batch.lengths[c % n]); };
  LossTotals totals;
  for (Index c = 0; c < columns; ++c) totals.scored += scored(c) ? 1 : 0;
  if (task_ == Task::classification) {
    // Softmax + cross-entropy, the mean over the scored steps (PyTorch's
    // CrossEntropyLoss(), which ignores padded targets the same way); the
    // gradient is (softmax - onehot) / scored.
    totals.count = double(totals.scored);
    const Scalar inv_n = totals.scored > 0 ? Scalar(1) / static_cast<Scalar>(totals.scored) : Scalar(0);
    for (Index c = 0; c < columns; ++c) {
      if (!scored(c)) {
        if (gradient) grad.col(c).setZero();
        continue;
      }
      Index best = 0;
      const Scalar top = out.col(c).maxCoeff(&best);
      double sum = 0.0;
      for (Index k = 0; k < outputs_; ++k) sum += std::exp(double(out(k, c) - top));
      const double log_sum = std::log(sum) + double(top);
      const std::int32_t label = batch.labels[c];
      totals.sum += log_sum - double(out(label, c));
      if (best == label) ++totals.correct;
      if (gradient) {
        for (Index k = 0; k < outputs_; ++k)
          grad(k, c) = static_cast<Scalar>(std::exp(double(out(k, c)) - log_sum)) * inv_n;
        grad(label, c) -= inv_n;
      }
    }
  } else {
    // Mean squared error over all outputs of the scored steps (PyTorch's MSELoss()).
    ConstMatrixMap target(batch.targets, outputs_, columns);
    totals.count = double(outputs_ * totals.scored);
    for (Index c = 0; c < columns; ++c) {
      if (!scored(c)) {
        if (gradient) grad.col(c).setZero();
        continue;
      }
      for (Index k = 0; k < outputs_; ++k) {
        const double diff = double(out(k, c)) - double(target(k, c));
        totals.sum += diff * diff;
        if (gradient) grad(k, c) = static_cast<Scalar>(2.0 * diff / totals.count);
      }
    }
  }
  return totals;
}

Index Network::count_solved(const BatchView& batch, const Split& split, Index first, const SuccessCriterion& success) {
  const Index n = batch.batch;
  ConstMatrixMap out = chain_.output(n);
  Index solved = 0;
  for (Index b = 0; b < n; ++b) {
    const Index example = first + b;
    const Index length = output_steps_ == 1 ? 1 : split.length(example, output_steps_);
    for (Index t = 0; t < length; ++t) {
      example_output_.col(t) = out.col(t * n + b);
      if (task_ == Task::regression)
        example_target_.col(t) = split.targets.col(example * output_steps_ + t);
      else
        example_labels_[static_cast<std::size_t>(t)] =
            split.labels[static_cast<std::size_t>(example * output_steps_ + t)];
    }
    const bool ok =
        success.solved(ConstMatrixMap(example_output_.data(), outputs_, length),
                       ConstMatrixMap(example_target_.data(), task_ == Task::regression ? outputs_ : 0, length),
                       task_ == Task::classification ? example_labels_.data() : nullptr);
    solved += ok ? 1 : 0;
  }
  return solved;
}

void Network::backward(const BatchView& batch, const ForwardContext& ctx, std::vector<LagProbe>* lag_probes,
                       double* output_grad_norms) {
  // output_loss wrote d(loss)/d(output) into the chain's output gradient.
  const MatrixMap grad_out = chain_.output_gradient(batch.batch);
  chain_.backward(input_view(batch), ConstMatrixMap(grad_out.data(), grad_out.rows(), grad_out.cols()), nullptr, ctx,
                  lag_probes ? lag_probes->data() : nullptr, output_grad_norms);
}

double Network::loss_and_gradient(const BatchView& batch) {
  reserve(batch.batch);
  ForwardContext ctx = context(Mode::train, true, batch);
  ctx.rng = random_stream_ ? &*random_stream_ : nullptr;
  forward(batch, layer_count(), ctx);
  const double value = output_loss(batch, true).mean();
  grads_.setZero();
  backward(batch, ctx);
  return value;
}

double Network::loss(const BatchView& batch) {
  reserve(batch.batch);
  const ForwardContext ctx = context(Mode::eval, false, batch);
  forward(batch, layer_count(), ctx);
  return output_loss(batch, false).mean();
}

void Network::forward_prefix(const BatchView& batch, Index upto, MatrixMap out) {
  if (upto < 0 || upto > layer_count())
    throw std::out_of_range("forward_prefix: no layer prefix of length " + std::to_string(upto));
  const Shape s = shapes_[static_cast<std::size_t>(upto)];
  if (out.rows() != s.features || out.cols() != s.steps * batch.batch)
    throw std::invalid_argument("forward_prefix: out is " + std::to_string(out.rows()) + "x" +
                                std::to_string(out.cols()) + ", the activation is " + std::to_string(s.features) + "x" +
                                std::to_string(s.steps * batch.batch));
  reserve(batch.batch);
  const ForwardContext ctx = context(Mode::eval, false, batch);
  forward(batch, upto, ctx);
  if (upto == 0)
    out = input_view(batch);
  else
    out = chain_.output(upto - 1, batch.batch);
}

ModelScore Network::evaluate(const Split& split, const SuccessCriterion* success) {
  ModelScore result;
  const Index total = split.examples;
  if (total == 0) return result;
  // The chunk is the reserved batch: evaluation takes no more activation
  // memory than a training step or a probe (for long sequences the planned
  // batch has no floor of its own, see run.cpp planned_batch).
  const Index chunk = std::max<Index>(max_batch_, 1);
  reserve(chunk);
  LossTotals totals;
  Index solved = 0;
  const bool criterion = success && *success;
  // One forward pass over the split, chunk by chunk, nothing allocated: with one
  // step per example a chunk of the split is already in batch layout and is read
  // in place; sequences are copied into the time-major batch workspace.
  for (Index first = 0; first < total; first += chunk) {
    const Index count = std::min(chunk, total - first);
    BatchView batch;
    if (input_.steps == 1) {
      batch.inputs = split.inputs.data() + first * input_.features;
      batch.batch = count;
      if (task_ == Task::classification)
        batch.labels = split.labels.data() + first;
      else
        batch.targets = split.targets.data() + first * outputs_;
    } else {
      batch = gather_range(split, first, count);
    }
    forward(batch, layer_count(), context(Mode::eval, false, batch));
    const LossTotals chunk_totals = output_loss(batch, false);
    totals.sum += chunk_totals.sum;
    totals.count += chunk_totals.count;
    totals.scored += chunk_totals.scored;
    totals.correct += chunk_totals.correct;
    if (criterion) solved += count_solved(batch, split, first, *success);
  }
  result.loss = totals.mean();
  result.accuracy =
      task_ == Task::classification && totals.scored > 0 ? double(totals.correct) / double(totals.scored) : 0.0;
  if (criterion) result.success_rate = double(solved) / double(total);
  return result;
}

std::vector<LayerProbe> Network::probe(const BatchView& batch, const Vector* params_before) {
  if (params_before && params_before->size() != params_.size())
    throw std::logic_error("Network::probe: params_before has " + std::to_string(params_before->size()) +
                           " values, the network " + std::to_string(params_.size()));
  reserve(batch.batch);
  const ForwardContext ctx = context(Mode::train, false, batch);
  forward(batch, layer_count(), ctx);
  output_loss(batch, true);
  grads_.setZero();
  for (auto& lag : lag_probes_) {
    std::fill(lag.hidden.begin(), lag.hidden.end(), 0.0);
    std::fill(lag.cell.begin(), lag.cell.end(), 0.0);
    lag.has_cell = lag.reported = false;
  }
  std::fill(output_grad_norms_.begin(), output_grad_norms_.end(), 0.0);
  backward(batch, ctx, &lag_probes_, output_grad_norms_.data());
  std::vector<LayerProbe> rows;
  for (Index i = 0; i < layer_count(); ++i) {
    LayerProbe row;
    row.index = i;
    row.type = layers_[i].type;
    row.param_count = counts_[i];
    double g = 0.0, w = 0.0;
    for (Index k = 0; k < counts_[i]; ++k) {
      g += double(grads_[offsets_[i] + k]) * double(grads_[offsets_[i] + k]);
      w += double(params_[offsets_[i] + k]) * double(params_[offsets_[i] + k]);
    }
    row.grad_norm = std::sqrt(g);
    row.weight_norm = std::sqrt(w);
    row.output_grad_norm = output_grad_norms_[static_cast<std::size_t>(i)];
    if (params_before && counts_[i] > 0) {
      double delta = 0.0, before = 0.0;
      for (Index k = 0; k < counts_[i]; ++k) {
        const double b = double((*params_before)[offsets_[i] + k]);
        const double d = double(params_[offsets_[i] + k]) - b;
        delta += d * d;
        before += b * b;
      }
      // All-zero weights before the step: 0 if they stayed zero, else infinite.
      row.update_ratio = before > 0 ? std::sqrt(delta) / std::sqrt(before)
                                    : (delta > 0 ? std::numeric_limits<double>::infinity() : 0.0);
    }
    ConstMatrixMap in = i == 0 ? input_view(batch) : chain_.output(i - 1, batch.batch);
    row.saturation = layers_[i].layer->saturation(in, chain_.output(i, batch.batch), ctx);
    const LagProbe& lag = lag_probes_[static_cast<std::size_t>(i)];
    if (lag.reported) {
      for (double v : lag.hidden) row.grad_by_lag.push_back(std::sqrt(v));
      if (lag.has_cell)
        for (double v : lag.cell) row.cell_grad_by_lag.push_back(std::sqrt(v));
    }
    rows.push_back(row);
  }
  return rows;
}

std::vector<NamedTensor> Network::named_tensors(bool include_buffers) {
  std::vector<NamedTensor> out;
  for (Index i = 0; i < layer_count(); ++i) {
    auto add = [&](const std::vector<TensorInfo>& infos, Scalar* base) {
      for (const auto& t : infos) {
        Index size = 1;
        for (auto d : t.shape) size *= d;
        out.push_back({std::to_string(i) + "." + t.name, t.shape, base + t.offset, size});
      }
    };
    add(layers_[i].layer->tensors(), params_.data() + offsets_[i]);
    if (include_buffers) add(layers_[i].layer->buffer_tensors(), buffers_.data() + buffer_offsets_[i]);
  }
  return out;
}

}  // namespace gradlab
