#include "gradlab/core/network.hpp"

#include <cmath>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"

namespace gradlab {

namespace {
// Sizes are summed in double: an estimate only needs to be right to a few
// digits, and a huge layer must not wrap an integer around to a small number.
constexpr double bytes_per_scalar = sizeof(Scalar);
}  // namespace

Network::Network(std::vector<NetworkLayer> layers, Shape input, Task task, Index outputs, NetworkLimits limits)
    : layers_(std::move(layers)), input_(input), task_(task), outputs_(outputs) {
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
      throw InputError(entry.where, "layer '" + entry.type + "' cannot take an input of " +
                                        std::to_string(shapes_.back().features) + " features: " + e.what());
    }
    if (out.features <= 0 || out.steps <= 0)
      throw InputError(entry.where, "layer '" + entry.type + "' produced an empty output shape");
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
  if (last.steps != 1)
    throw InputError(layers_.back().where, "the model's output has " + std::to_string(last.steps) +
                                               " time steps; the last layer must produce one output per example");
  if (last.features != outputs)
    throw InputError(layers_.back().where, "the model outputs " + std::to_string(last.features) +
                                               " values per example, but the data set has " + std::to_string(outputs) +
                                               (task == Task::classification ? " classes" : " targets") +
                                               "; make the last layer produce " + std::to_string(outputs));
  params_ = Vector::Zero(params);
  grads_ = Vector::Zero(params);
  buffers_ = Vector::Zero(buffers);
  for (std::size_t i = 0; i < layers_.size(); ++i)
    layers_[i].layer->bind(VectorMap(params_.data() + offsets_[i], counts_[i]),
                           VectorMap(grads_.data() + offsets_[i], counts_[i]),
                           VectorMap(buffers_.data() + buffer_offsets_[i], buffer_counts_[i]));
}

void Network::initialize(const Initializer& fallback, Rng& rng) {
  for (auto& entry : layers_) entry.layer->initialize(entry.init ? *entry.init : fallback, rng);
}

void Network::reserve(Index max_batch) {
  if (max_batch <= max_batch_) return;
  max_batch_ = max_batch;
  Index widest = input_.features * input_.steps;
  activations_.resize(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const Shape s = shapes_[i + 1];
    activations_[i].resize(s.features, s.steps * max_batch);
    widest = std::max(widest, s.features * s.steps);
    layers_[i].layer->reserve(max_batch);
  }
  grad_a_.resize(widest, max_batch);
  grad_b_.resize(widest, max_batch);
  batch_inputs_.resize(input_.features, input_.steps * max_batch);
  labels_.resize(static_cast<std::size_t>(max_batch));
  if (task_ == Task::regression) targets_.resize(outputs_, max_batch);
}

MatrixMap Network::activation(Index i, Index batch) {
  return MatrixMap(activations_[i].data(), shapes_[i + 1].features, shapes_[i + 1].steps * batch);
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
  for (Index b = 0; b < count; ++b) {
    const Index example = order ? static_cast<Index>(order[b]) : first + b;
    // Split storage is example-major (steps consecutive columns per example);
    // a batch is time-major (column t * batch + b), so recurrent layers read
    // one contiguous block per step.
    for (Index t = 0; t < steps; ++t) batch_inputs_.col(t * count + b) = split.inputs.col(example * steps + t);
    if (task_ == Task::classification)
      labels_[static_cast<std::size_t>(b)] = split.labels[static_cast<std::size_t>(example)];
    else
      targets_.col(b) = split.targets.col(example);
  }
  BatchView view;
  view.inputs = batch_inputs_.data();
  view.batch = count;
  view.labels = task_ == Task::classification ? labels_.data() : nullptr;
  view.targets = task_ == Task::regression ? targets_.data() : nullptr;
  return view;
}

void Network::forward(const BatchView& batch, Index upto, const ForwardContext& ctx) {
  for (Index i = 0; i < upto; ++i) {
    MatrixMap out = activation(i, batch.batch);
    if (i == 0) {
      layers_[0].layer->forward(input_view(batch), out, ctx);
    } else {
      const Shape s = shapes_[i];
      layers_[i].layer->forward(ConstMatrixMap(activations_[i - 1].data(), s.features, s.steps * batch.batch), out,
                                ctx);
    }
  }
}

double Network::output_loss(const BatchView& batch, bool gradient, Index* correct) {
  const Index n = batch.batch;
  ConstMatrixMap out(activations_.back().data(), outputs_, n);
  MatrixMap grad(grad_a_.data(), outputs_, n);
  double total = 0.0;
  Index right = 0;
  if (task_ == Task::classification) {
    // Softmax + cross-entropy, the mean over the batch (PyTorch's
    // CrossEntropyLoss()); the gradient is (softmax - onehot) / n.
    const Scalar inv_n = Scalar(1) / static_cast<Scalar>(n);
    for (Index b = 0; b < n; ++b) {
      Index best = 0;
      const Scalar top = out.col(b).maxCoeff(&best);
      double sum = 0.0;
      for (Index c = 0; c < outputs_; ++c) sum += std::exp(double(out(c, b) - top));
      const double log_sum = std::log(sum) + double(top);
      const std::int32_t label = batch.labels[b];
      total += log_sum - double(out(label, b));
      if (best == label) ++right;
      if (gradient) {
        for (Index c = 0; c < outputs_; ++c)
          grad(c, b) = static_cast<Scalar>(std::exp(double(out(c, b)) - log_sum)) * inv_n;
        grad(label, b) -= inv_n;
      }
    }
    total /= double(n);
  } else {
    // Mean squared error over all outputs (PyTorch's MSELoss()).
    ConstMatrixMap target(batch.targets, outputs_, n);
    const double count = double(outputs_ * n);
    for (Index b = 0; b < n; ++b)
      for (Index c = 0; c < outputs_; ++c) {
        const double diff = double(out(c, b)) - double(target(c, b));
        total += diff * diff;
        if (gradient) grad(c, b) = static_cast<Scalar>(2.0 * diff / count);
      }
    total /= count;
  }
  if (correct) *correct = right;
  return total;
}

void Network::backward(const BatchView& batch, const ForwardContext& ctx) {
  // grad_a_ holds d(loss)/d(output of the last layer); each layer writes the
  // gradient of its input into the other buffer, then the roles swap.
  Matrix* grad_out = &grad_a_;
  Matrix* grad_in = &grad_b_;
  for (Index i = layer_count() - 1; i >= 0; --i) {
    const Shape in_shape = shapes_[i];
    const Shape out_shape = shapes_[i + 1];
    const Index n = batch.batch;
    ConstMatrixMap in =
        i == 0 ? input_view(batch) : ConstMatrixMap(activations_[i - 1].data(), in_shape.features, in_shape.steps * n);
    ConstMatrixMap out(activations_[i].data(), out_shape.features, out_shape.steps * n);
    ConstMatrixMap g_out(grad_out->data(), out_shape.features, out_shape.steps * n);
    if (i == 0) {
      layers_[i].layer->backward(in, out, g_out, nullptr, ctx);
    } else {
      MatrixMap g_in(grad_in->data(), in_shape.features, in_shape.steps * n);
      layers_[i].layer->backward(in, out, g_out, &g_in, ctx);
      std::swap(grad_out, grad_in);
    }
  }
}

double Network::loss_and_gradient(const BatchView& batch) {
  reserve(batch.batch);
  ForwardContext ctx{Mode::train, true, batch.batch};
  forward(batch, layer_count(), ctx);
  const double value = output_loss(batch, true, nullptr);
  grads_.setZero();
  backward(batch, ctx);
  return value;
}

double Network::loss(const BatchView& batch) {
  reserve(batch.batch);
  ForwardContext ctx{Mode::eval, false, batch.batch};
  forward(batch, layer_count(), ctx);
  return output_loss(batch, false, nullptr);
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
  ForwardContext ctx{Mode::eval, false, batch.batch};
  forward(batch, upto, ctx);
  if (upto == 0)
    out = input_view(batch);
  else
    out = activation(upto - 1, batch.batch);
}

Network::Evaluation Network::evaluate(const Split& split) {
  Evaluation result;
  const Index total = split.examples;
  if (total == 0) return result;
  const Index chunk = std::max<Index>(max_batch_, 1);
  reserve(chunk);
  double loss_sum = 0.0;
  Index correct = 0;
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
    ForwardContext ctx{Mode::eval, false, count};
    forward(batch, layer_count(), ctx);
    Index right = 0;
    loss_sum += output_loss(batch, false, &right) * double(count);
    correct += right;
  }
  result.loss = loss_sum / double(total);
  result.accuracy = task_ == Task::classification ? double(correct) / double(total) : 0.0;
  return result;
}

std::vector<LayerProbe> Network::probe(const BatchView& batch) {
  reserve(batch.batch);
  ForwardContext ctx{Mode::train, false, batch.batch};
  forward(batch, layer_count(), ctx);
  output_loss(batch, true, nullptr);
  grads_.setZero();
  backward(batch, ctx);
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
    const Shape s = shapes_[i];
    ConstMatrixMap in =
        i == 0 ? input_view(batch) : ConstMatrixMap(activations_[i - 1].data(), s.features, s.steps * batch.batch);
    const Shape o = shapes_[i + 1];
    row.saturation =
        layers_[i].layer->saturation(in, ConstMatrixMap(activations_[i].data(), o.features, o.steps * batch.batch));
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
