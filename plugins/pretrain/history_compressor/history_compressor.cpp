// history_compressor: the neural sequence chunker / history compressor of
// Schmidhuber ("Neural sequence chunkers", TR FKI-148-91, 1991; "Learning
// complex, extended sequences using the principle of history compression",
// Neural Computation 4(2):234-242, 1992), as pretraining for the run's
// recurrent layer.
//
// 1. Level 0 is the run's own recurrent layer (the paper's "automatizer" A)
//    with a head (linear, or sigmoid with cross-entropy): it learns to predict
//    its next input and, with `targets`, the teacher's target that comes with
//    it, as the paper's A does.
// 2. Only the inputs it failed to predict (some unit off by more than
//    `threshold`; the first step of every sequence always) go up, each with
//    one unit coding the bottom step it occurred at (the paper's "unique
//    representation of the current time step"). Level k (a recurrent layer of
//    the same type with `units` units, built here) learns to predict its next
//    input on that shorter sequence, and what it fails to predict goes up
//    again. Levels are trained one at a time, `epochs` passes each.
// 3. Collapse: the run's recurrent layer is additionally trained, for
//    `collapse_epochs` passes, to predict the hidden states of the levels
//    above (each held since its last update), "by predicting C's state", so
//    that it holds the compressed history itself. The helper nets are then
//    dropped; the host fine-tunes the run's model for training.epochs.
// See docs/pretraining/history_compressor.md.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <gradlab/chain.hpp>
#include <gradlab/sdk.hpp>
#include <limits>
#include <numeric>

#include "compression.hpp"

namespace {

using namespace gradlab;
namespace hc = gradlab::history_compressor;
using hc::SequenceSet;

bool is_recurrent(const std::string& type) { return type == "rnn" || type == "lstm"; }

Index find_recurrent(const Model& model) {
  for (Index i = 0; i < model.layer_count(); ++i)
    if (is_recurrent(model.layer_type(i))) return i;
  return -1;
}

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// A layer built here, with its own parameter, gradient and buffer storage.
struct OwnedLayer {
  std::shared_ptr<Layer> layer;
  Vector params, grads, buffers;
  Shape in, out;

  OwnedLayer(const ComponentSource& components, const std::string& type, const Params& p, Shape input,
             const Initializer& init, Rng& rng)
      : layer(components.make_layer(type, p)), in(input) {
    out = layer->configure(in);
    params = Vector::Zero(layer->param_count());
    grads = Vector::Zero(layer->param_count());
    buffers = Vector::Zero(layer->buffer_count());
    layer->bind(VectorMap(params.data(), params.size()), VectorMap(grads.data(), grads.size()),
                VectorMap(buffers.data(), buffers.size()));
    layer->initialize(init, rng, InitSite{});
  }
  OwnedLayer(const OwnedLayer&) = delete;
  OwnedLayer& operator=(const OwnedLayer&) = delete;
};

// Parameters trained by one optimizer.
struct Block {
  Scalar* params;
  Scalar* grads;
  Index size;
  std::shared_ptr<Optimizer> optimizer;
  VectorMap p() const { return VectorMap(params, size); }
  VectorMap g() const { return VectorMap(grads, size); }
};

// A recurrent layer seen as a map from a batch of sequences to hidden states,
// one column per (example, step). A layer that outputs every step runs once;
// one that outputs the last valid step only (`sequence: last`) runs on every
// prefix of each sequence (prefix l has length l), so that its output at
// prefix l is its state at step l - 1: exact, for any recurrent layer, at the
// cost of about steps / 2 times the work.
class Recurrent {
 public:
  struct Position {
    Index slot;  // the example's place in the batch
    Index step;
    bool valid;
  };

  // The layer reads the first in.features units of a set's inputs (level 0's
  // sets also hold the teacher's targets after them).
  Recurrent(Layer& layer, Shape in, Shape out, Index max_batch)
      : chain_(std::vector<Layer*>{&layer}), steps_(in.steps), features_(in.features), units_(out.features) {
    chain_.adopt({in, out});
    last_ = out.steps == 1;
    const Index max_examples = last_ ? max_batch * steps_ : max_batch;
    chain_.reserve(max_examples);
    input_.resize(features_, steps_ * max_examples);
    lengths_.resize(static_cast<std::size_t>(max_examples));
    positions_.reserve(static_cast<std::size_t>(max_batch * steps_));
  }

  Index units() const { return units_; }
  Index columns() const { return Index(positions_.size()); }
  const std::vector<Position>& positions() const { return positions_; }
  ConstMatrixMap hidden() const { return chain_.output(ctx_.batch); }

  void forward(const SequenceSet& set, const Index* order, Index count, Mode mode) {
    positions_.clear();
    Index examples = 0;
    if (!last_) {
      examples = count;
      for (Index b = 0; b < count; ++b) {
        const Index e = order[b];
        lengths_[static_cast<std::size_t>(b)] = static_cast<std::int32_t>(set.length(e));
        for (Index t = 0; t < steps_; ++t) input_.col(t * count + b) = set.inputs.col(e * steps_ + t).head(features_);
      }
      for (Index t = 0; t < steps_; ++t)
        for (Index b = 0; b < count; ++b) positions_.push_back({b, t, t < set.length(order[b])});
    } else {
      for (Index b = 0; b < count; ++b) examples += set.length(order[b]);
      Index x = 0;
      for (Index b = 0; b < count; ++b) {
        const Index e = order[b];
        for (Index l = 1; l <= set.length(e); ++l, ++x) {
          lengths_[static_cast<std::size_t>(x)] = static_cast<std::int32_t>(l);
          for (Index t = 0; t < steps_; ++t)
            input_.col(t * examples + x) = set.inputs.col(e * steps_ + t).head(features_);
          positions_.push_back({b, l - 1, true});
        }
      }
    }
    ctx_ = ForwardContext{};
    ctx_.mode = mode;
    ctx_.update_statistics = mode == Mode::train;
    ctx_.batch = examples;
    ctx_.lengths = lengths_.data();
    chain_.forward(in(), ctx_);
  }

  void backward(ConstMatrixMap grad_hidden) { chain_.backward(in(), grad_hidden, nullptr, ctx_); }

 private:
  ConstMatrixMap in() const { return ConstMatrixMap(input_.data(), features_, steps_ * ctx_.batch); }

  LayerChain chain_;
  Index steps_, features_, units_;
  bool last_ = false;
  Matrix input_;
  std::vector<std::int32_t> lengths_;
  std::vector<Position> positions_;
  ForwardContext ctx_;
};

// A linear head on the hidden state of each position.
struct Head {
  std::unique_ptr<OwnedLayer> dense;
  LayerChain chain;
  bool sigmoid = false;
  Matrix squashed, target, grad_in;
  std::vector<char> mask;
  double weight = 1.0;

  // sigmoid: the head's output is logistic(dense), trained by cross-entropy
  // (the gradient at the dense layer is output - target), else it is linear,
  // trained by squared error. Either way the loss reported is the squared error.
  Head(const ComponentSource& components, Index hidden, Index outputs, bool sigmoid_output, Index max_columns,
       const Initializer& init, Rng& rng)
      : sigmoid(sigmoid_output) {
    Params p;
    p.set("units", std::int64_t(outputs));
    dense = std::make_unique<OwnedLayer>(components, "dense", p, Shape{hidden, 1}, init, rng);
    chain = LayerChain({dense->layer.get()});
    chain.adopt({Shape{hidden, 1}, dense->out});
    chain.reserve(max_columns);
    squashed.resize(outputs, max_columns);
    target.resize(outputs, max_columns);
    grad_in.resize(hidden, max_columns);
    mask.resize(static_cast<std::size_t>(max_columns));
  }
  void forward(ConstMatrixMap hidden, const ForwardContext& ctx) {
    chain.forward(hidden, ctx);
    if (sigmoid) {
      auto z = chain.output(ctx.batch);
      squashed.leftCols(z.cols()) = z.array().logistic().matrix();
    }
  }
  ConstMatrixMap output(Index n) const {
    return sigmoid ? ConstMatrixMap(squashed.data(), outputs(), n) : chain.output(n);
  }
  Index outputs() const { return dense->out.features; }
};

// What a predictor is trained on: fills each head's target and mask for the
// positions of the last forward over examples order[0 .. count).
using Targets = std::function<void(const Recurrent&, const Index* order, std::vector<Head>& heads)>;

// A recurrent part and its heads, trained together.
class Predictor {
 public:
  Predictor(Recurrent recurrent, std::vector<Head> heads, std::vector<Block> blocks)
      : rec_(std::move(recurrent)), heads_(std::move(heads)), blocks_(std::move(blocks)) {
    for (auto& b : blocks_) b.optimizer->reset(b.size);
  }
  Recurrent& recurrent() { return rec_; }
  std::vector<Head>& heads() { return heads_; }

  // Forward in `mode` and the loss of each head: 0.5 |y - target|^2 averaged over its masked positions (NaN: none).
  std::vector<double> forward(const SequenceSet& set, const Index* order, Index count, Mode mode,
                              const Targets& targets) {
    rec_.forward(set, order, count, mode);
    const Index n = rec_.columns();
    ForwardContext ctx;
    ctx.mode = mode;
    ctx.update_statistics = mode == Mode::train;
    ctx.batch = n;
    targets(rec_, order, heads_);
    std::vector<double> losses;
    for (auto& h : heads_) {
      h.forward(rec_.hidden(), ctx);
      auto y = h.output(n);
      double sum = 0.0;
      Index used = 0;
      for (Index c = 0; c < n; ++c)
        if (h.mask[static_cast<std::size_t>(c)]) {
          sum += 0.5 * double((y.col(c) - h.target.col(c)).squaredNorm());
          ++used;
        }
      losses.push_back(used ? sum / double(used) : std::numeric_limits<double>::quiet_NaN());
    }
    return losses;
  }

  // One training step on examples order[0 .. count); returns the head losses.
  std::vector<double> step(const SequenceSet& set, const Index* order, Index count, const Targets& targets) {
    for (auto& b : blocks_) b.g().setZero();
    auto losses = forward(set, order, count, Mode::train, targets);
    const Index n = rec_.columns();
    ForwardContext ctx;
    ctx.batch = n;
    grad_hidden_.setZero(rec_.units(), n);
    double total = 0.0;
    for (std::size_t k = 0; k < heads_.size(); ++k) {
      Head& h = heads_[k];
      Index used = 0;
      for (Index c = 0; c < n; ++c) used += h.mask[static_cast<std::size_t>(c)] ? 1 : 0;
      if (!used) continue;
      total += h.weight * losses[k];
      auto y = h.output(n);
      MatrixMap g = h.chain.output_gradient(n);
      for (Index c = 0; c < n; ++c)
        g.col(c) = h.mask[static_cast<std::size_t>(c)]
                       ? ((y.col(c) - h.target.col(c)) * Scalar(h.weight / double(used))).eval()
                       : Vector::Zero(h.outputs()).eval();
      MatrixMap gin(h.grad_in.data(), rec_.units(), n);
      h.chain.backward(rec_.hidden(), ConstMatrixMap(g.data(), g.rows(), g.cols()), &gin, ctx);
      grad_hidden_ += gin;
    }
    if (total == 0.0) return losses;  // nothing to learn from in this batch
    rec_.backward(ConstMatrixMap(grad_hidden_.data(), grad_hidden_.rows(), grad_hidden_.cols()));
    ++iteration_;
    for (auto& b : blocks_)
      b.optimizer->step(b.p(), ConstVectorMap(b.grads, b.size), StepInfo{.iteration = iteration_, .loss = total});
    return losses;
  }

 private:
  Recurrent rec_;
  std::vector<Head> heads_;
  std::vector<Block> blocks_;
  Matrix grad_hidden_;
  std::int64_t iteration_ = 0;
};

// Targets for "predict the next input": head 0 at position (b, t) is set's
// input at t + 1, where t + 1 is a valid step.
Targets next_input(const SequenceSet& set) {
  return [&set](const Recurrent& rec, const Index* order, std::vector<Head>& heads) {
    Head& h = heads[0];
    const auto& pos = rec.positions();
    for (Index c = 0; c < Index(pos.size()); ++c) {
      const auto& p = pos[static_cast<std::size_t>(c)];
      const Index e = order[p.slot];
      const bool has = p.valid && p.step + 1 < set.length(e);
      h.mask[static_cast<std::size_t>(c)] = has;
      if (has) h.target.col(c) = set.inputs.col(e * set.steps + p.step + 1);
    }
  };
}

SequenceSet padded(SequenceSet s, Index steps) {
  if (s.steps >= steps) return s;
  Matrix inputs = Matrix::Zero(s.features, steps * s.examples);
  std::vector<std::int32_t> origin(static_cast<std::size_t>(steps * s.examples), -1);
  for (Index e = 0; e < s.examples; ++e)
    for (Index t = 0; t < s.steps; ++t) {
      inputs.col(e * steps + t) = s.inputs.col(e * s.steps + t);
      origin[static_cast<std::size_t>(e * steps + t)] = s.origin[static_cast<std::size_t>(e * s.steps + t)];
    }
  s.inputs = std::move(inputs);
  s.origin = std::move(origin);
  s.steps = steps;
  return s;
}

class HistoryCompressor final : public PretrainStrategy {
 public:
  explicit HistoryCompressor(const Params& p)
      : levels_(p.integer("levels")),
        units_(p.integer("units")),
        threshold_(p.real("threshold")),
        head_(p.string("head")),
        optimizer_(p.string("optimizer")),
        lr_(p.real("lr")),
        targets_(p.boolean("targets")),
        epochs_(p.integer("epochs")),
        collapse_epochs_(p.integer("collapse_epochs")),
        batch_size_(p.integer("batch_size")) {}

  void check(const Model& model, const Dataset& data) const override {
    if (data.input.steps <= 1)
      throw std::invalid_argument("history_compressor needs sequence data (steps > 1); '" + data.name +
                                  "' has one step per example");
    const Index r = find_recurrent(model);
    if (r < 0)
      throw std::invalid_argument(
          "history_compressor needs a recurrent layer (rnn or lstm) in the model to collapse the hierarchy into; "
          "the model has none");
    if (model.layer_input_shape(r).steps <= 1)
      throw std::invalid_argument("history_compressor: the recurrent layer " + std::to_string(r) +
                                  " gets one step per example");
    if (data.train.examples < 1) throw std::invalid_argument("history_compressor needs training sequences");
  }

  void pretrain(PretrainContext& ctx) override {
    Model& model = ctx.model;
    check(model, ctx.data);
    const Index r = find_recurrent(model);
    const std::string type = model.layer_type(r);
    const Shape in_r = model.layer_input_shape(r), out_r = model.layer_output_shape(r);
    const Index bottom_steps = in_r.steps;
    Rng init_rng = ctx.stream(0), order_rng = ctx.stream(1);
    auto init = ctx.components.make_initializer("glorot_uniform", Params{});
    auto make_optimizer = [&] {
      Params p;
      p.set("lr", lr_);
      return ctx.components.make_optimizer(optimizer_, p);
    };

    std::vector<SequenceSet> sets;
    sets.reserve(static_cast<std::size_t>(levels_));  // the targets below keep references to its elements
    sets.push_back(bottom_set(model, ctx.data, r));
    const Index n = sets[0].examples;
    if (head_ == "sigmoid" && (sets[0].inputs.minCoeff() < 0 || sets[0].inputs.maxCoeff() > 1))
      ctx.say(
          "history_compressor: warning: head: sigmoid predicts values in (0, 1), but level 0's inputs range over [" +
          fixed(sets[0].inputs.minCoeff()) + ", " + fixed(sets[0].inputs.maxCoeff()) + "]; head: linear fits them");
    const Index max_columns = batch_size_ * bottom_steps;
    std::int64_t sequences = 0;
    std::vector<Index> order(static_cast<std::size_t>(n));

    // Trains `pred` on `set` for `epochs` passes; after each, notes the
    // prediction error and the fraction of inputs that would go up.
    auto train_level = [&](Predictor& pred, const SequenceSet& set, const Targets& targets, Index epochs,
                           const std::string& name, bool compressing) {
      for (Index epoch = 1; epoch <= epochs; ++epoch) {
        if (ctx.stop()) return false;
        std::iota(order.begin(), order.end(), Index(0));
        std::shuffle(order.begin(), order.end(), order_rng);
        for (Index first = 0; first < n; first += batch_size_) {
          if (first % (64 * batch_size_) == 0 && ctx.stop()) return false;
          pred.step(set, order.data() + first, std::min(batch_size_, n - first), targets);
        }
        sequences += n;
        auto [losses, predictions] = evaluate(pred, set, targets);
        std::string line = "history_compressor: " + name + " epoch " + std::to_string(epoch) + "/" +
                           std::to_string(epochs) + ": error";
        for (std::size_t k = 0; k < losses.size(); ++k) {
          ctx.note(name + (k == 0 ? "_error" : "_state_error"), losses[k]);
          line += " " + fixed(losses[k]);
        }
        if (compressing) {
          Index passed = 0;
          hc::compress(set, predictions, threshold_, bottom_steps, &passed);
          const double fraction = double(passed) / double(set.valid_steps());
          ctx.note(name + "_passed", fraction);
          line += ", passed up " + fixed(fraction, 3) + " of " + std::to_string(set.valid_steps()) + " inputs";
        }
        ctx.say(line);
      }
      ctx.note("sequences", double(sequences));
      return true;
    };

    // Level 0: the run's recurrent layer predicts its next input.
    std::vector<Head> heads0;
    heads0.emplace_back(ctx.components, out_r.features, sets[0].features, head_ == "sigmoid", max_columns, *init,
                        init_rng);
    std::vector<Block> blocks0{{model.layer_parameters(r).data(), model.layer_gradients(r).data(),
                                model.layer_parameters(r).size(), make_optimizer()},
                               head_block(heads0[0], make_optimizer())};
    Predictor automatizer(Recurrent(model.layer(r), in_r, out_r, batch_size_), std::move(heads0), std::move(blocks0));
    auto targets0 = next_input(sets[0]);
    if (!train_level(automatizer, sets[0], targets0, epochs_, "level0", true)) return;
    if (levels_ < 2) return;

    // Levels 1 .. levels - 1, one at a time, each on what the one below failed to predict.
    std::vector<std::unique_ptr<OwnedLayer>> rnns;
    std::vector<std::unique_ptr<Predictor>> uppers;
    Matrix predictions = evaluate(automatizer, sets[0], targets0).second;
    for (Index k = 1; k < levels_; ++k) {
      Index passed = 0;
      sets.push_back(padded(
          hc::compress(sets[static_cast<std::size_t>(k - 1)], predictions, threshold_, bottom_steps, &passed), 2));
      const SequenceSet& set = sets.back();
      ctx.say("history_compressor: level " + std::to_string(k) + " gets " + std::to_string(passed) + " of " +
              std::to_string(sets[static_cast<std::size_t>(k - 1)].valid_steps()) + " inputs (" +
              std::to_string(set.features) + " units each, the last the bottom step), at most " +
              std::to_string(set.steps) + " per sequence");
      Params p;
      p.set("units", units_);
      p.set("sequence", std::string("all"));
      rnns.push_back(
          std::make_unique<OwnedLayer>(ctx.components, type, p, Shape{set.features, set.steps}, *init, init_rng));
      OwnedLayer& rnn = *rnns.back();
      std::vector<Head> heads;
      heads.emplace_back(ctx.components, units_, set.features, head_ == "sigmoid", batch_size_ * set.steps, *init,
                         init_rng);
      std::vector<Block> blocks{{rnn.params.data(), rnn.grads.data(), rnn.params.size(), make_optimizer()},
                                head_block(heads[0], make_optimizer())};
      uppers.push_back(std::make_unique<Predictor>(Recurrent(*rnn.layer, rnn.in, rnn.out, batch_size_),
                                                   std::move(heads), std::move(blocks)));
      auto targets = next_input(set);
      if (set.valid_steps() == set.examples) {
        ctx.say("history_compressor: level " + std::to_string(k) +
                ": every sequence is one input long, nothing to predict; its state after that input is what the "
                "collapse passes down");
        predictions = Matrix::Zero(set.features, set.steps * set.examples);
        continue;
      }
      if (!train_level(*uppers.back(), set, targets, epochs_, "level" + std::to_string(k), k + 1 < levels_)) return;
      predictions = evaluate(*uppers.back(), set, targets).second;
    }

    // Collapse: the run's recurrent layer also predicts the upper levels' states.
    Index state_units = 0;
    for (auto& u : uppers) state_units += u->recurrent().units();
    Matrix states = Matrix::Zero(state_units, bottom_steps * n);
    Index row = 0;
    for (std::size_t k = 0; k < uppers.size(); ++k) {
      const SequenceSet& set = sets[k + 1];
      Recurrent& rec = uppers[k]->recurrent();
      for (Index first = 0; first < n; first += batch_size_) {
        const Index count = std::min(batch_size_, n - first);
        std::vector<Index> slots(static_cast<std::size_t>(count));
        std::iota(slots.begin(), slots.end(), first);
        rec.forward(set, slots.data(), count, Mode::eval);
        auto h = rec.hidden();
        // Column of (slot b, step j) in the all-steps output: j * count + b.
        for (Index b = 0; b < count; ++b) {
          const Index e = first + b;
          for (Index t = 0; t < sets[0].length(e); ++t)
            states.col(e * bottom_steps + t).segment(row, rec.units()) = h.col(hc::step_at(set, e, t) * count + b);
        }
      }
      row += rec.units();
    }
    automatizer.heads().emplace_back(ctx.components, out_r.features, state_units, false, max_columns, *init, init_rng);
    // (A fresh predictor so that its optimizers know the new head.)
    std::vector<Head> heads = std::move(automatizer.heads());
    std::vector<Block> blocks{{model.layer_parameters(r).data(), model.layer_gradients(r).data(),
                               model.layer_parameters(r).size(), make_optimizer()},
                              head_block(heads[0], make_optimizer()),
                              head_block(heads[1], make_optimizer())};
    Predictor collapsed(Recurrent(model.layer(r), in_r, out_r, batch_size_), std::move(heads), std::move(blocks));
    const SequenceSet& bottom = sets[0];
    Targets targets = [&](const Recurrent& rec, const Index* ord, std::vector<Head>& hs) {
      targets0(rec, ord, hs);
      Head& h = hs[1];
      const auto& pos = rec.positions();
      for (Index c = 0; c < Index(pos.size()); ++c) {
        const auto& p = pos[static_cast<std::size_t>(c)];
        h.mask[static_cast<std::size_t>(c)] = p.valid;
        if (p.valid) h.target.col(c) = states.col(ord[p.slot] * bottom.steps + p.step);
      }
    };
    train_level(collapsed, bottom, targets, collapse_epochs_, "collapse", false);
  }

 private:
  static Block head_block(Head& h, std::shared_ptr<Optimizer> opt) {
    return {h.dense->params.data(), h.dense->grads.data(), h.dense->params.size(), std::move(opt)};
  }

  // The input of the recurrent layer r for every training example, example-major.
  SequenceSet bottom_set(Model& model, const Dataset& data, Index r) const {
    const Split& split = data.train;
    const Shape in = model.layer_input_shape(r);
    const Index targets = targets_ ? data.outputs : 0;
    SequenceSet s;
    s.features = in.features + targets;
    s.steps = in.steps;
    s.examples = split.examples;
    s.lengths.resize(static_cast<std::size_t>(s.examples));
    s.origin.resize(static_cast<std::size_t>(s.steps * s.examples));
    for (Index e = 0; e < s.examples; ++e) {
      s.lengths[static_cast<std::size_t>(e)] = static_cast<std::int32_t>(split.length(e, s.steps));
      for (Index t = 0; t < s.steps; ++t) s.origin[static_cast<std::size_t>(e * s.steps + t)] = std::int32_t(t);
    }
    s.inputs = Matrix::Zero(s.features, s.steps * s.examples);
    if (r == 0) {
      s.inputs.topRows(in.features) = split.inputs;
    } else {
      Matrix out(in.features, s.steps * batch_size_);
      std::vector<std::int64_t> order(static_cast<std::size_t>(batch_size_));
      for (Index first = 0; first < s.examples; first += batch_size_) {
        const Index count = std::min(batch_size_, s.examples - first);
        std::iota(order.begin(), order.begin() + count, std::int64_t(first));
        BatchView batch = model.gather(split, order.data(), count);
        MatrixMap o(out.data(), in.features, s.steps * count);
        model.forward_prefix(batch, r, o);
        for (Index b = 0; b < count; ++b)
          for (Index t = 0; t < s.steps; ++t)
            if (t < s.length(first + b))
              s.inputs.col((first + b) * s.steps + t).head(in.features) = o.col(t * count + b);
      }
    }
    // The teacher's target of step t, where there is one: units in.features ..
    // (regression values, or a class as one-hot units).
    for (Index e = 0; targets && e < s.examples; ++e) {
      const bool every = data.target_at == TargetAt::every_step;
      for (Index t = every ? 0 : s.length(e) - 1; t < s.length(e); ++t) {
        auto unit = s.inputs.col(e * s.steps + t).segment(in.features, targets);
        const Index k = every ? e * s.steps + t : e;
        if (data.task == Task::regression) {
          unit = split.targets.col(k);
        } else {
          const std::int32_t label = split.labels[static_cast<std::size_t>(k)];
          if (label >= 0 && label < targets) unit(label) = 1;
        }
      }
    }
    return s;
  }

  // Eval-mode losses over the whole set and head 0's predictions, example-major.
  std::pair<std::vector<double>, Matrix> evaluate(Predictor& pred, const SequenceSet& set,
                                                  const Targets& targets) const {
    Matrix predictions = Matrix::Zero(set.features, set.steps * set.examples);
    std::vector<double> sums(pred.heads().size(), 0.0);
    std::vector<Index> counts(pred.heads().size(), 0);
    std::vector<Index> slots(static_cast<std::size_t>(batch_size_));
    for (Index first = 0; first < set.examples; first += batch_size_) {
      const Index count = std::min(batch_size_, set.examples - first);
      std::iota(slots.begin(), slots.begin() + count, first);
      pred.forward(set, slots.data(), count, Mode::eval, targets);
      const auto& pos = pred.recurrent().positions();
      const Index cols = pred.recurrent().columns();
      for (std::size_t k = 0; k < pred.heads().size(); ++k) {
        Head& h = pred.heads()[k];
        auto y = h.output(cols);
        for (Index c = 0; c < cols; ++c) {
          if (k == 0 && pos[static_cast<std::size_t>(c)].valid)
            predictions.col((first + pos[static_cast<std::size_t>(c)].slot) * set.steps +
                            pos[static_cast<std::size_t>(c)].step) = y.col(c);
          if (h.mask[static_cast<std::size_t>(c)]) {
            sums[k] += 0.5 * double((y.col(c) - h.target.col(c)).squaredNorm());
            ++counts[k];
          }
        }
      }
    }
    std::vector<double> losses;
    for (std::size_t k = 0; k < sums.size(); ++k)
      losses.push_back(counts[k] ? sums[k] / double(counts[k]) : std::numeric_limits<double>::quiet_NaN());
    return {losses, predictions};
  }

  std::int64_t levels_, units_;
  double threshold_;
  std::string head_, optimizer_;
  double lr_;
  bool targets_;
  std::int64_t epochs_, collapse_epochs_;
  Index batch_size_;
};

void register_history_compressor(Registrar& r) {
  ComponentInfo info;
  info.name = "history_compressor";
  info.description =
      "neural history compressor / sequence chunker (Schmidhuber 1992, Learning complex, extended sequences using "
      "the principle of history compression): levels of recurrent predictors, each fed what the one below failed "
      "to predict, collapsed into the run's recurrent layer";
  info.schema = {
      ParamSpec::integer("levels", 2)
          .at_least(1)
          .at_most(16)
          .describe("levels of the hierarchy; level 0 is the run's recurrent layer"),
      ParamSpec::integer("units", 8).at_least(1).at_most(1 << 16).describe("hidden units of each level above level 0"),
      ParamSpec::real("threshold", 0.3)
          .positive()
          .describe("an input goes up when some unit of its prediction is off by more than this"),
      ParamSpec::choice("head", "linear", {"linear", "sigmoid"})
          .describe("output units of the next-input predictors (sigmoid, trained by cross-entropy: for one-hot or 0/1 "
                    "inputs)"),
      ParamSpec::boolean("targets", true)
          .describe("the teacher's targets are part of each step's input to predict, as in 1992: a mispredicted one "
                    "goes up with its step (false: the hierarchy sees the inputs alone)"),
      ParamSpec::string("optimizer", "adam").describe("optimizer of every level and the collapse (a registered name)"),
      ParamSpec::real("lr", 0.03).positive().describe("its learning rate"),
      ParamSpec::integer("epochs", 10)
          .at_least(1)
          .at_most(1000000)
          .describe("passes over the training sequences per level"),
      ParamSpec::integer("collapse_epochs", 20)
          .at_least(0)
          .at_most(1000000)
          .describe("passes in which the run's recurrent layer learns to predict the upper levels' states"),
      ParamSpec::integer("batch_size", 1)
          .at_least(1)
          .at_most(1 << 16)
          .describe("sequences per update (1: online, as in 1992)"),
  };
  r.add_pretrain(std::move(info), [](const Params& p) { return std::make_unique<HistoryCompressor>(p); });
}

}  // namespace

GRADLAB_PLUGIN("history_compressor", "1.0.0",
               "neural history compressor (Schmidhuber 1992, Neural Computation 4(2)) as pretraining",
               register_history_compressor)
