// autoencoder: greedy layer-wise pretraining of a feed-forward net as a stack
// of autoencoders (Bengio, Lamblin, Popovici & Larochelle 2007, "Greedy
// layer-wise training of deep networks"), optionally denoising (Vincent,
// Larochelle, Bengio & Manzagol 2008, "Extracting and composing robust
// features with denoising autoencoders").
//
// Every hidden dense layer directly followed by an activation (sigmoid, tanh,
// relu, leaky_relu) is one level; the model's last dense layer (its output)
// is left as initialized. Level k is trained, bottom up, to reconstruct its
// own input (the data for the first level, the outputs of the already trained
// levels below for the others, computed by the model itself) from a copy in
// which each entry is zeroed with probability `noise`; its trained encoder
// weights are written back into the model before the next level starts. See
// autoencoder_level.hpp for one level and docs/pretraining/autoencoder.md.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>
#include <numeric>
#include <string>
#include <vector>

#include "autoencoder_level.hpp"

namespace {

using namespace gradlab;
using autoencoder::Level;
using autoencoder::LevelOptions;
using autoencoder::Reconstruction;

bool is_activation(const std::string& type) {
  return type == "sigmoid" || type == "tanh" || type == "relu" || type == "leaky_relu";
}

// Index of the dense layer of each level: a dense layer followed directly by
// an activation, other than the model's last dense layer.
std::vector<Index> find_levels(const Model& model) {
  Index last_dense = -1;
  for (Index i = 0; i < model.layer_count(); ++i)
    if (model.layer_type(i) == "dense") last_dense = i;
  std::vector<Index> levels;
  for (Index i = 0; i + 1 < model.layer_count(); ++i)
    if (model.layer_type(i) == "dense" && i != last_dense && is_activation(model.layer_type(i + 1)))
      levels.push_back(i);
  return levels;
}

bool in_unit_interval(ConstMatrixMap x) { return x.size() == 0 || (x.minCoeff() >= 0 && x.maxCoeff() <= 1); }

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

class Autoencoder final : public PretrainStrategy {
 public:
  explicit Autoencoder(const Params& p)
      : epochs_(p.integer("epochs")),
        batch_(p.integer("batch_size")),
        noise_(p.real("noise")),
        tied_(p.boolean("tied")),
        reconstruction_(p.string("reconstruction")),
        optimizer_(p.string("optimizer")),
        lr_(p.real("lr")) {
    if (noise_ >= 1)
      throw std::invalid_argument("noise must be below 1 (it is " + number(noise_) +
                                  "): at 1 every input is zeroed and nothing is left to reconstruct from");
  }

  void check(const Model& model, const Dataset& data) const override {
    if (data.input.steps > 1)
      throw std::invalid_argument("needs feed-forward data (one step per example); '" + data.name +
                                  "' has sequences of up to " + std::to_string(data.input.steps) + " steps");
    const auto levels = find_levels(model);
    if (levels.empty())
      throw std::invalid_argument(
          "needs a hidden dense layer followed directly by sigmoid, tanh, relu or "
          "leaky_relu (before the output layer); this model has none");
    if (reconstruction_ == "cross_entropy")
      for (Index i : levels) {
        const bool bounded = i == 0 ? in_unit_interval(ConstMatrixMap(
                                          data.train.inputs.data(), data.train.inputs.rows(), data.train.inputs.cols()))
                                    : model.layer_type(i - 1) == "sigmoid";
        if (!bounded)
          throw std::invalid_argument(
              "reconstruction: cross_entropy needs inputs in [0, 1], and the input of layer " + std::to_string(i) +
              " (" + (i == 0 ? std::string("the data") : model.layer_type(i - 1)) + ") is not; use mse or auto");
      }
  }

  void pretrain(PretrainContext& ctx) override {
    Model& model = ctx.model;
    check(model, ctx.data);
    const Split& train = ctx.data.train;
    const Index n_examples = train.examples;
    if (n_examples == 0) return;
    const Index batch = std::min<Index>(batch_, n_examples);
    std::vector<std::int64_t> order(static_cast<std::size_t>(n_examples));
    Matrix codes;  // a level's inputs when they are not the data itself
    const auto levels = find_levels(model);
    for (std::size_t k = 0; k < levels.size(); ++k) {
      if (ctx.stop()) return;
      const Index i = levels[k];
      const Index inputs = model.layer_input_shape(i).features, units = model.layer_output_shape(i).features;

      // The level's input: the data, or what the trained layers below make of it.
      const Scalar* x_data = train.inputs.data();
      if (i > 0) {
        codes.resize(inputs, n_examples);
        std::iota(order.begin(), order.end(), std::int64_t(0));
        for (Index first = 0; first < n_examples; first += batch) {
          const Index count = std::min(batch, n_examples - first);
          const BatchView view = model.gather(train, order.data() + first, count);
          model.forward_prefix(view, i, MatrixMap(codes.data() + first * inputs, inputs, count));
        }
        x_data = codes.data();
      }
      const ConstMatrixMap x(x_data, inputs, n_examples);

      LevelOptions options;
      options.batch = batch;
      options.tied = tied_;
      options.optimizer = optimizer_;
      options.lr = lr_;
      const bool bounded = in_unit_interval(x);
      if (reconstruction_ == "cross_entropy" && !bounded)
        throw std::invalid_argument("reconstruction: cross_entropy needs inputs in [0, 1], and the input of layer " +
                                    std::to_string(i) + " is not");
      options.loss = reconstruction_ == "mse" || (reconstruction_ == "auto" && !bounded)
                         ? Reconstruction::mse
                         : Reconstruction::cross_entropy;
      VectorMap model_block = model.layer_parameters(i);
      const bool bias = model_block.size() == inputs * units + units;
      Level level(ctx.components, model.layer(i + 1), inputs, units, bias, options);
      level.start(ConstVectorMap(model_block.data(), model_block.size()));

      const std::string metric = "layer_" + std::to_string(i) + "_reconstruction_error";
      const std::string what = "autoencoder: layer " + std::to_string(i) + " (dense " + std::to_string(inputs) + "->" +
                               std::to_string(units) + ", " + model.layer_type(i + 1) + ", " +
                               (options.loss == Reconstruction::mse ? "squared error" : "cross-entropy") +
                               (noise_ > 0 ? ", noise " + number(noise_) : std::string()) + ")";
      Rng rng = ctx.stream(k);  // this level's shuffles and masks
      Matrix clean(inputs, batch);
      std::iota(order.begin(), order.end(), std::int64_t(0));
      bool finite = true;
      for (std::int64_t epoch = 1; epoch <= epochs_ && finite; ++epoch) {
        if (ctx.stop()) break;
        // Fisher-Yates on the engine's raw bits: the same order everywhere.
        for (Index j = n_examples - 1; j > 0; --j)
          std::swap(order[static_cast<std::size_t>(j)], order[static_cast<std::size_t>(seq::uniform_int(rng, 0, j))]);
        double sum = 0.0;
        for (Index first = 0; first < n_examples; first += batch) {
          const Index count = std::min(batch, n_examples - first);
          for (Index b = 0; b < count; ++b) clean.col(b) = x.col(order[static_cast<std::size_t>(first + b)]);
          sum += level.step(ConstMatrixMap(clean.data(), inputs, count), noise_, rng) * static_cast<double>(count);
        }
        const double error = sum / static_cast<double>(n_examples);
        finite = std::isfinite(error);
        ctx.note(metric, error);
        ctx.say(what + " epoch " + std::to_string(epoch) + "/" + std::to_string(epochs_) + ": reconstruction error " +
                number(error) + " per example");
      }
      // Non-finite weights are copied too: the host reports them as diverged.
      model_block = level.encoder();
      if (!finite) return;
    }
  }

 private:
  std::int64_t epochs_, batch_;
  double noise_;
  bool tied_;
  std::string reconstruction_, optimizer_;
  double lr_;
};

void register_autoencoder(Registrar& r) {
  r.add_pretrain(
      {"autoencoder",
       "Greedy layer-wise stacked autoencoders over the hidden dense+activation layers (Bengio, Lamblin, Popovici & "
       "Larochelle 2007), denoising with masking noise (Vincent, Larochelle, Bengio & Manzagol 2008)",
       {ParamSpec::integer("epochs", 5).at_least(1).at_most(1000000).describe("passes over the training set per level"),
        ParamSpec::integer("batch_size", 20).at_least(1).at_most(1000000).describe("examples per update"),
        ParamSpec::real("noise", 0.0)
            .at_least(0)
            .at_most(1)
            .describe("masking noise: each input entry is zeroed with this probability, below 1 (0: plain)"),
        ParamSpec::boolean("tied", true)
            .describe("decoder weight = encoder weight transposed (else its own matrix, "
                      "starting as the transpose)"),
        ParamSpec::choice("reconstruction", "auto", {"auto", "cross_entropy", "mse"})
            .describe("sigmoid decoder + cross-entropy (inputs in [0,1]) or linear decoder + squared error; auto: "
                      "cross-entropy where the level's inputs lie in [0,1]"),
        ParamSpec::choice("optimizer", "sgd", {"sgd", "momentum", "adam", "rmsprop"})
            .describe("optimizer of each level (its own defaults besides lr)"),
        ParamSpec::real("lr", 0.1).positive().describe("learning rate of that optimizer")}},
      [](const Params& p) { return std::make_unique<Autoencoder>(p); });
}

}  // namespace

GRADLAB_PLUGIN("autoencoder", "1.0.0", "Stacked (denoising) autoencoder pretraining", register_autoencoder)
