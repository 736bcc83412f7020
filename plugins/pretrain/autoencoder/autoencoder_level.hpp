// One level of a greedy layer-wise stacked autoencoder (Bengio, Lamblin,
// Popovici & Larochelle 2007), optionally denoising (Vincent, Larochelle,
// Bengio & Manzagol 2008): an encoder h = f(W x + b), the model's own dense
// layer and activation, and a decoder a = W' h + c that maps back to the
// level's input, trained to reconstruct the clean input x from a masked copy.
//
//  - cross_entropy: the reconstruction is z = sigmoid(a) and the error per
//    example is -sum_j [x_j log z_j + (1 - x_j) log(1 - z_j)] (for x in [0, 1]);
//    computed from the logits a (softplus(a) - x a, no log of 0) and its
//    gradient with respect to a is z - x.
//  - mse: the reconstruction is a itself (a linear decoder) and the error per
//    example is sum_j (a_j - x_j)^2.
// Both are summed over the features of an example and averaged over a batch.
// With tied weights W' = W^T (one matrix used twice); untied, W' is a matrix
// of its own that starts as W^T.
//
// Header-only so that the plugin and its tests share it.
#pragma once

#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "gradlab/chain.hpp"
#include "gradlab/pretrain.hpp"

namespace gradlab::autoencoder {

enum class Reconstruction { cross_entropy, mse };

struct LevelOptions {
  Index batch = 20;  // the most examples one step sees
  bool tied = true;
  Reconstruction loss = Reconstruction::cross_entropy;
  std::string optimizer = "sgd";
  double lr = 0.1;
};

// The parameters of a level live in one vector, in this order, so that one
// optimizer steps them all: encoder weight W [units, inputs] (row-major, as the
// dense layer and PyTorch store it), encoder bias b [units] (when the model's
// dense layer has one), then untied: decoder weight W' [inputs, units] and
// decoder bias c [inputs]; tied: only c. The encoder part has exactly the
// layout of the model's dense layer, so it copies in and out as one block.
class Level {
 public:
  // `activation` is the model's own activation layer (parameter-free); the
  // encoder and decoder dense layers and the optimizer come from `components`.
  Level(const ComponentSource& components, Layer& activation, Index inputs, Index units, bool encoder_bias,
        const LevelOptions& options)
      : inputs_(inputs), units_(units), options_(options) {
    if (activation.param_count() != 0)
      throw std::invalid_argument("the activation after a dense layer must have no parameters of its own");
    encoder_ = components.make_layer(
        "dense", Params({{"units", ParamValue(std::int64_t(units))}, {"bias", ParamValue(encoder_bias)}}));
    decoder_ = components.make_layer("dense",
                                     Params({{"units", ParamValue(std::int64_t(inputs))}, {"bias", ParamValue(true)}}));
    const Shape in{inputs, 1}, hidden{units, 1};
    if (!(encoder_->configure(in) == hidden) || !(decoder_->configure(hidden) == in))
      throw std::logic_error("a dense layer gave an unexpected output shape");
    encoder_count_ = encoder_->param_count();
    const Index weight = inputs * units, decoder_count = decoder_->param_count();
    if (encoder_count_ != weight + (encoder_bias ? units : 0) || decoder_count != weight + inputs)
      throw std::logic_error("a dense layer has an unexpected parameter layout");
    const Index total = encoder_count_ + (options.tied ? inputs : decoder_count);
    params_ = Vector::Zero(total);
    grads_ = Vector::Zero(total);
    const VectorMap none(nullptr, 0);
    encoder_->bind(VectorMap(params_.data(), encoder_count_), VectorMap(grads_.data(), encoder_count_), none);
    if (options.tied) {
      // The decoder layer computes with a copy of W^T (made before each
      // forward) and its gradients are folded back into W and c.
      tied_params_ = Vector::Zero(decoder_count);
      tied_grads_ = Vector::Zero(decoder_count);
      decoder_->bind(VectorMap(tied_params_.data(), decoder_count), VectorMap(tied_grads_.data(), decoder_count), none);
    } else {
      decoder_->bind(VectorMap(params_.data() + encoder_count_, decoder_count),
                     VectorMap(grads_.data() + encoder_count_, decoder_count), none);
    }
    chain_ = LayerChain({encoder_.get(), &activation, decoder_.get()});
    chain_.adopt({in, hidden, hidden, in});
    chain_.reserve(options.batch);
    corrupted_.resize(inputs, options.batch);
    optimizer_ = components.make_optimizer(options.optimizer, Params({{"lr", ParamValue(options.lr)}}));
    optimizer_->reset(total);
  }

  Index inputs() const { return inputs_; }
  Index units() const { return units_; }
  Index encoder_count() const { return encoder_count_; }
  VectorMap parameters() { return VectorMap(params_.data(), params_.size()); }
  VectorMap gradients() { return VectorMap(grads_.data(), grads_.size()); }
  // The encoder's block (same layout as the model's dense layer) and W.
  VectorMap encoder() { return VectorMap(params_.data(), encoder_count_); }
  RowMatrixMap weight() { return RowMatrixMap(params_.data(), units_, inputs_); }

  // Sets the encoder from the model's dense layer; the decoder starts as
  // W' = W^T (untied) and c = 0.
  void start(ConstVectorMap encoder_block) {
    if (encoder_block.size() != encoder_count_) throw std::logic_error("encoder block of the wrong size");
    encoder() = encoder_block;
    params_.tail(params_.size() - encoder_count_).setZero();
    if (!options_.tied) decoder_weight() = weight().transpose();
    optimizer_->reset(params_.size());
    iteration_ = 0;
  }

  // Reconstruction error (summed over features, mean over the batch) of
  // `clean` from `input` (its corrupted copy, or itself), both [inputs, n]
  // with n <= batch; the gradient of that mean is written to gradients().
  double loss_and_gradient(ConstMatrixMap input, ConstMatrixMap clean) {
    const Index n = input.cols();
    ForwardContext ctx;
    ctx.mode = Mode::train;
    ctx.batch = n;
    if (options_.tied) sync_tied();
    chain_.forward(input, ctx);
    const ConstMatrixMap logits = chain_.output(n);
    const auto a = logits.array();
    const auto x = clean.array();
    MatrixMap g = chain_.output_gradient(n);
    double total = 0.0;
    const Scalar inv_n = Scalar(1) / static_cast<Scalar>(n);
    if (options_.loss == Reconstruction::cross_entropy) {
      // -[x log z + (1-x) log(1-z)] with z = sigmoid(a) is softplus(a) - x a.
      total = (a.max(Scalar(0)) + (-a.abs()).exp().log1p() - x * a).template cast<double>().sum();
      g.array() = (a.logistic() - x) * inv_n;
    } else {
      total = (a - x).square().template cast<double>().sum();
      g.array() = Scalar(2) * inv_n * (a - x);
    }
    grads_.setZero();
    if (options_.tied) tied_grads_.setZero();
    chain_.backward(input, ConstMatrixMap(g.data(), inputs_, n), nullptr, ctx);
    if (options_.tied) {
      // W is used twice: dL/dW = (encoder use) + (decoder use)^T.
      const Index weight_count = inputs_ * units_;
      RowMatrixMap(grads_.data(), units_, inputs_) += RowMatrixMap(tied_grads_.data(), inputs_, units_).transpose();
      grads_.tail(inputs_) = tied_grads_.segment(weight_count, inputs_);
    }
    return total / static_cast<double>(n);
  }

  // One optimizer step on a batch; `noise` masks each input entry to 0 with
  // that probability, drawn from `rng`. Returns the batch's error.
  double step(ConstMatrixMap clean, double noise, Rng& rng) {
    double loss;
    if (noise > 0) {
      const Index n = clean.cols();
      MatrixMap corrupted(corrupted_.data(), inputs_, n);
      // Uniform [0,1) from the engine's raw bits: the same masks everywhere.
      for (Index k = 0; k < corrupted.size(); ++k)
        corrupted.data()[k] = static_cast<double>(rng() >> 11) * 0x1.0p-53 < noise ? Scalar(0) : clean.data()[k];
      loss = loss_and_gradient(ConstMatrixMap(corrupted_.data(), inputs_, n), clean);
    } else {
      loss = loss_and_gradient(clean, clean);
    }
    optimizer_->step(parameters(), ConstVectorMap(grads_.data(), grads_.size()),
                     StepInfo{.iteration = ++iteration_, .loss = loss});
    return loss;
  }

  // The reconstruction of `input` ([inputs, n], n <= batch) into `out`: the
  // decoder's output through the sigmoid (cross_entropy) or as is (mse).
  void reconstruct(ConstMatrixMap input, MatrixMap out) {
    ForwardContext ctx;
    ctx.mode = Mode::eval;
    ctx.update_statistics = false;
    ctx.batch = input.cols();
    if (options_.tied) sync_tied();
    chain_.forward(input, ctx);
    if (options_.loss == Reconstruction::cross_entropy)
      out.array() = chain_.output(input.cols()).array().logistic();
    else
      out = chain_.output(input.cols());
  }

 private:
  RowMatrixMap decoder_weight() { return RowMatrixMap(params_.data() + encoder_count_, inputs_, units_); }
  // Tied: the decoder layer's weight becomes W^T and its bias c.
  void sync_tied() {
    RowMatrixMap(tied_params_.data(), inputs_, units_) = weight().transpose();
    tied_params_.tail(inputs_) = params_.tail(inputs_);
  }

  Index inputs_, units_;
  LevelOptions options_;
  Index encoder_count_ = 0;
  std::shared_ptr<Layer> encoder_, decoder_;
  std::shared_ptr<Optimizer> optimizer_;
  LayerChain chain_;
  Vector params_, grads_, tied_params_, tied_grads_;
  Matrix corrupted_;
  std::int64_t iteration_ = 0;
};

}  // namespace gradlab::autoencoder
