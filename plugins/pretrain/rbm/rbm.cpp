// rbm: greedy layer-wise pretraining of a sigmoid net as a stack of
// Bernoulli-Bernoulli RBMs (Hinton, Osindero & Teh 2006; Hinton &
// Salakhutdinov 2006), each trained by contrastive divergence CD-k (Hinton
// 2002) or persistent CD (Tieleman 2008). Every `dense` layer immediately
// followed by a `sigmoid` layer is one RBM: its visible units are the dense
// layer's input (the data, or the sigmoid outputs of the pair below it), its
// hidden units the sigmoid's outputs. The trained weights and hidden biases go
// into the dense layer; the visible biases are dropped, as in the papers. The
// output layer is left as initialized, and the host fine-tunes the whole net.
#include "rbm.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <gradlab/sdk.hpp>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace {

using namespace gradlab;

struct Pair {
  Index dense;  // model index of the dense layer; the sigmoid is dense + 1
  Index visible, hidden;
};

std::string model_layers(const Model& model) {
  std::string s;
  for (Index i = 0; i < model.layer_count(); ++i) s += (i ? ", " : "") + model.layer_type(i);
  return s.empty() ? "no layers" : "layers " + s;
}

const TensorInfo* find_tensor(const std::vector<TensorInfo>& tensors, const std::string& name) {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

// The RBM stack of a model, or std::invalid_argument with the reason there is none.
std::vector<Pair> rbm_pairs(const Model& model, const Dataset& data) {
  if (data.input.steps > 1)
    throw std::invalid_argument(
        "rbm works on feed-forward data (one step per example); this data set has sequences of " +
        std::to_string(data.input.steps) + " steps");
  std::vector<Pair> pairs;
  for (Index i = 0; i + 1 < model.layer_count(); ++i) {
    if (model.layer_type(i) != "dense" || model.layer_type(i + 1) != "sigmoid") continue;
    if (i > 0 && model.layer_type(i - 1) != "sigmoid")
      throw std::invalid_argument("rbm: the dense layer at index " + std::to_string(i) +
                                  " (followed by a sigmoid) gets its input from a " + model.layer_type(i - 1) +
                                  " layer; an RBM's visible units must be the data or a sigmoid's outputs");
    // Layer's tensors() is const; Model only hands out mutable layers.
    const auto tensors = const_cast<Model&>(model).layer(i).tensors();
    if (!find_tensor(tensors, "weight") || !find_tensor(tensors, "bias"))
      throw std::invalid_argument("rbm: the dense layer at index " + std::to_string(i) +
                                  " has no bias; the RBM's hidden biases need one (bias: true)");
    pairs.push_back({i, model.layer_input_shape(i).features, model.layer_output_shape(i).features});
  }
  if (pairs.empty())
    throw std::invalid_argument("rbm needs at least one dense layer followed by a sigmoid layer; this model has " +
                                model_layers(model));
  if (pairs.front().dense == 0 && data.train.examples > 0) {
    const Scalar lo = data.train.inputs.minCoeff(), hi = data.train.inputs.maxCoeff();
    if (!(lo >= 0 && hi <= 1)) {
      std::ostringstream s;
      s << "rbm: the first RBM's visible units are the data inputs, which must lie in [0, 1]; this data set's range "
           "over ["
        << lo << ", " << hi << "] (scale it, e.g. the csv data set's scale parameter)";
      throw std::invalid_argument(s.str());
    }
  }
  return pairs;
}

class RbmPretrain final : public PretrainStrategy {
 public:
  explicit RbmPretrain(const Params& p)
      : epochs_(p.integer("epochs")),
        batch_(p.integer("batch_size")),
        momentum_epochs_(p.integer("momentum_epochs")),
        max_examples_(p.integer("max_examples")),
        k_(static_cast<int>(p.integer("k"))),
        persistent_(p.boolean("persistent")),
        lr_(static_cast<Scalar>(p.real("learning_rate"))),
        initial_momentum_(static_cast<Scalar>(p.real("initial_momentum"))),
        final_momentum_(static_cast<Scalar>(p.real("final_momentum"))),
        weight_cost_(static_cast<Scalar>(p.real("weight_cost"))),
        init_std_(static_cast<Scalar>(p.real("init_std"))) {}

  void check(const Model& model, const Dataset& data) const override { rbm_pairs(model, data); }

  void pretrain(PretrainContext& ctx) override {
    const auto pairs = rbm_pairs(ctx.model, ctx.data);
    const Split& train = ctx.data.train;
    const Index n = max_examples_ > 0 ? std::min<Index>(max_examples_, train.examples) : train.examples;
    if (n == 0) return;
    const Index batch = std::min<Index>(batch_, n);
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    Matrix below;  // the visible units of an RBM above the first: [visible, n]
    Matrix visible_batch;
    for (std::size_t r = 0; r < pairs.size(); ++r) {
      const Pair& pair = pairs[r];
      Rng rng = ctx.stream(r);
      // The visible units: the data, or the stack below run forward (the
      // pairs below already hold their RBMs' weights).
      if (pair.dense > 0) {
        below.resize(pair.visible, n);
        std::iota(order.begin(), order.end(), 0);
        for (Index first = 0; first < n; first += batch) {
          const Index count = std::min(batch, n - first);
          const BatchView view = ctx.model.gather(train, order.data() + first, count);
          ctx.model.forward_prefix(view, pair.dense,
                                   MatrixMap(below.data() + first * pair.visible, pair.visible, count));
        }
      }
      const ConstMatrixMap visible(pair.dense > 0 ? below.data() : train.inputs.data(), pair.visible, n);
      rbm::Rbm machine(pair.visible, pair.hidden);
      machine.initialize(init_std_, rng);
      machine.set_persistent(persistent_);
      machine.reserve(batch);
      visible_batch.resize(pair.visible, batch);
      std::iota(order.begin(), order.end(), 0);
      const std::string metric = "layer_" + std::to_string(pair.dense) + "_reconstruction_error";
      for (std::int64_t epoch = 0; epoch < epochs_; ++epoch) {
        if (ctx.stop()) return;
        std::shuffle(order.begin(), order.end(), rng);
        const rbm::Step step{lr_, epoch < momentum_epochs_ ? initial_momentum_ : final_momentum_, weight_cost_, k_};
        double error = 0.0;
        for (Index first = 0; first < n; first += batch) {
          const Index count = std::min(batch, n - first);
          MatrixMap v(visible_batch.data(), pair.visible, count);
          for (Index j = 0; j < count; ++j) v.col(j) = visible.col(order[static_cast<std::size_t>(first + j)]);
          error += machine.update(ConstMatrixMap(v.data(), v.rows(), v.cols()), step, rng);
        }
        error /= double(n);
        char line[200];
        std::snprintf(line, sizeof line, "rbm layer %lld epoch %lld/%lld: reconstruction error %.4f (%lld x %lld)",
                      static_cast<long long>(pair.dense), static_cast<long long>(epoch + 1),
                      static_cast<long long>(epochs_), error, static_cast<long long>(pair.visible),
                      static_cast<long long>(pair.hidden));
        ctx.say(line);
        ctx.note(metric, error);
      }
      // Into the dense layer: W [hidden, visible] row-major is the RBM's
      // [visible, hidden] column-major, and the hidden biases are its bias.
      const auto tensors = ctx.model.layer(pair.dense).tensors();
      const TensorInfo* w = find_tensor(tensors, "weight");
      const TensorInfo* b = find_tensor(tensors, "bias");
      if (!w || !b || w->shape != std::vector<Index>{pair.hidden, pair.visible} ||
          b->shape != std::vector<Index>{pair.hidden})
        throw std::logic_error("rbm: the dense layer's tensors are not weight [hidden, visible] and bias [hidden]");
      VectorMap params = ctx.model.layer_parameters(pair.dense);
      std::copy_n(machine.weights().data(), machine.weights().size(), params.data() + w->offset);
      std::copy_n(machine.hidden_bias().data(), pair.hidden, params.data() + b->offset);
    }
  }

 private:
  std::int64_t epochs_, batch_, momentum_epochs_, max_examples_;
  int k_;
  bool persistent_;
  Scalar lr_, initial_momentum_, final_momentum_, weight_cost_, init_std_;
};

void register_rbm(Registrar& r) {
  r.add_pretrain(
      {"rbm",
       "Greedy layer-wise RBM pretraining of dense+sigmoid stacks (Hinton, Osindero & Teh 2006), CD-k (Hinton 2002) or "
       "persistent CD (Tieleman 2008), update and defaults of rbm.m (Hinton & Salakhutdinov 2006)",
       {ParamSpec::integer("epochs", 10)
            .at_least(0)
            .at_most(100000)
            .describe("passes over the training set per RBM (rbm.m with mnistdeepauto.m: 10)"),
        ParamSpec::integer("batch_size", 100)
            .at_least(1)
            .at_most(1 << 20)
            .describe("examples per CD update, at most 2^20 (rbm.m: 100)"),
        ParamSpec::real("learning_rate", 0.1)
            .positive()
            .at_most(100)
            .describe(
                "step size for weights, visible and hidden biases (rbm.m: epsilonw = epsilonvb = epsilonhb = 0.1)"),
        ParamSpec::real("initial_momentum", 0.5)
            .at_least(0)
            .at_most(0.999)
            .describe("momentum for the first momentum_epochs epochs (rbm.m: 0.5)"),
        ParamSpec::real("final_momentum", 0.9).at_least(0).at_most(0.999).describe("momentum afterwards (rbm.m: 0.9)"),
        ParamSpec::integer("momentum_epochs", 5)
            .at_least(0)
            .at_most(100000)
            .describe("epochs at initial_momentum before final_momentum (rbm.m: 5)"),
        ParamSpec::real("weight_cost", 0.0002)
            .at_least(0)
            .at_most(1)
            .describe("L2 weight decay on the weights, not the biases, added to the gradient as -weight_cost W (rbm.m: "
                      "0.0002)"),
        ParamSpec::integer("k", 1).at_least(1).at_most(1000).describe(
            "Gibbs steps of the negative phase, CD-k (rbm.m: 1); intermediate steps sample the visible units"),
        ParamSpec::boolean("persistent", false)
            .describe("persistent CD (Tieleman 2008): the negative chain goes on from the last update's particles, "
                      "batch_size of them"),
        ParamSpec::real("init_std", 0.1)
            .positive()
            .at_most(10)
            .describe("initial weights W ~ init_std * N(0, 1), biases 0 (rbm.m: 0.1)"),
        ParamSpec::integer("max_examples", 0)
            .at_least(0)
            .describe("pretrain on the first max_examples training examples only (0: all of them)")}},
      [](const Params& p) { return std::make_unique<RbmPretrain>(p); });
}

}  // namespace

GRADLAB_PLUGIN("rbm", "1.0.0", "Greedy RBM pretraining of sigmoid nets (deep belief net)", register_rbm)
