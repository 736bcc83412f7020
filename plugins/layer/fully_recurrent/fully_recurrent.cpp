// fully_recurrent: a fully recurrent network in the sense of the weight-guessing
// experiments of Hochreiter & Schmidhuber (1996, "Bridging long time lags by
// weight guessing and Long Short-Term Memory") and Schmidhuber, Hochreiter &
// Bengio (2001, "Evaluating benchmark problems by random guessing"): `units`
// non-input units, each of which sees the input and every unit's activation
// of the previous step (its own included); the last `outputs` of them are the
// output units, whose activations are the layer's output. Architecture A1 of
// the 2001 report (1 input, 1 output, n hidden units, hidden units biased) is
// {type: fully_recurrent, units: n+1, outputs: 1, bias: hidden}.
//
//   hidden units:  h_t = f(W_ih[hid] x_t + W_hh[hid, :] a_{t-1} + b[hid])
//   output units:  o_t = g(W_ih[out] x_t + W_hh[out, hid] h_t + W_hh[out, out] o_{t-1} + b[out])
//   a_t = (h_t, o_t),  a_{-1} = 0
//
// f = `activation`, g = `output_activation`. With `update: layered` (the
// default) the output units see the hidden units' activations of the same
// step, as the output layer of Bengio et al.'s (1994) recurrent nets does;
// with `update: synchronous` every unit sees only a_{t-1}
// (o_t = g(W_ih[out] x_t + W_hh[out, :] a_{t-1} + b[out])). The two coincide
// when every unit is an output unit. Only the biased units (`bias`: all,
// hidden or none) have a bias parameter, so a weight-guessing strategy that
// draws every parameter draws exactly the report's weights.
//
// Tensors: weight_ih [units, in], weight_hh [units, units], bias [B] (B =
// units, hidden units or 0; absent when 0), in that order in the block.
//
// Options shared with rnn and lstm (gradlab/recurrent.hpp): sequence (last:
// the output units at each example's last valid step; all: at every step, 0 at
// padded steps) and tbptt (gradients flow through the last K valid steps of
// each sequence only). Backward is BPTT (Werbos 1990) over the unit
// activations: dA_t = G_t + (the gradient from every connection that reads
// a_t: W_hh^T dZ_{t+1}, and in the layered update W_hh[out, hid]^T dZ_t[out]
// for the hidden units), dZ_t = dA_t f'(Z_t). The lag probe sees |dA_t|^2
// over all units.
#include <gradlab/recurrent.hpp>

namespace {

using namespace gradlab;

enum class Act { tanh, sigmoid };

Act act_of(const std::string& name) { return name == "sigmoid" ? Act::sigmoid : Act::tanh; }

class FullyRecurrent final : public Layer {
 public:
  explicit FullyRecurrent(const Params& p) {
    const auto o = recurrent::read_options(p);
    units_ = o.units;
    all_ = o.sequence_all;
    K_ = o.tbptt;
    outputs_ = p.integer("outputs");
    if (outputs_ > units_)
      throw std::invalid_argument("outputs (" + std::to_string(outputs_) + ") must not exceed units (" +
                                  std::to_string(units_) + "): the output units are some of the units");
    hidden_act_ = act_of(p.string("activation"));
    const std::string& oa = p.string("output_activation");
    out_act_ = oa == "same" ? hidden_act_ : act_of(oa);
    const std::string& bias = p.string("bias");
    biased_ = bias == "all" ? units_ : bias == "hidden" ? units_ - outputs_ : 0;
    layered_ = p.string("update") == "layered";
  }

  Shape configure(Shape input) override {
    if (input.steps <= 1)
      throw std::invalid_argument("a recurrent layer needs sequence data (steps > 1) and got one step per example");
    inputs_ = input.features;
    steps_ = input.steps;
    return {outputs_, all_ ? steps_ : 1};
  }
  Index param_count() const override { return units_ * inputs_ + units_ * units_ + biased_; }
  std::vector<TensorInfo> tensors() const override {
    std::vector<TensorInfo> t{{"weight_ih", {units_, inputs_}, 0}, {"weight_hh", {units_, units_}, units_ * inputs_}};
    if (biased_ > 0) t.push_back({"bias", {biased_}, units_ * inputs_ + units_ * units_});
    return t;
  }
  void bind(VectorMap params, VectorMap grads, VectorMap) override {
    params_ = params.data();
    grads_ = grads.data();
  }
  void set_initializer(const std::string& key, std::shared_ptr<const Initializer> init) override {
    if (key != "recurrent_init") return Layer::set_initializer(key, std::move(init));  // refuses
    recurrent_init_ = std::move(init);
  }
  void initialize(const Initializer& init, Rng& rng, const InitSite& site) override {
    init.fill(RowMatrixMap(params_, units_, inputs_), rng, site);
    const Initializer& rec = recurrent_init_ ? *recurrent_init_ : init;
    rec.fill(RowMatrixMap(params_ + units_ * inputs_, units_, units_), rng, site);
    bias().setZero();
  }
  void reserve(Index max_batch) override {
    if (max_batch <= max_batch_) return;
    max_batch_ = max_batch;
    const Index N = units_, H = hidden(), k = outputs_, n = max_batch, cols = steps_ * n;
    z_.resize(N, cols);
    dz_.resize(N, cols);
    a_.resize(N, cols);
    da_.resize(N, n);
    bias_sum_.resize(N);
    gemm_.reserve(N, cols, inputs_);  // Z = W_ih X
    gemm_.reserve(inputs_, cols, N);  // grad_in = W_ih^T dZ
    gemm_.reserve(N, inputs_, cols);  // dW_ih += dZ X^T
    if (!layered()) {
      gemm_.reserve(N, n, N);     // Z_t += W_hh a_{t-1}; dA_{t-1} = W_hh^T dZ_t
      gemm_.reserve(N, N, cols);  // dW_hh += dZ_{1..} A_{..-1}^T
      return;
    }
    gemm_.reserve(H, n, N);     // Z_t[hid] += W_hh[hid, :] a_{t-1}
    gemm_.reserve(k, n, H);     // Z_t[out] += W_hh[out, hid] a_t[hid]
    gemm_.reserve(k, n, k);     // Z_t[out] += W_hh[out, out] a_{t-1}[out]; and its transpose
    gemm_.reserve(N, n, H);     // R = W_hh[hid, :]^T dZ_{t+1}[hid]
    gemm_.reserve(H, n, k);     // dA_t[hid] += W_hh[out, hid]^T dZ_t[out]
    gemm_.reserve(H, N, cols);  // dW_hh[hid, :]
    gemm_.reserve(k, H, cols);  // dW_hh[out, hid]
    gemm_.reserve(k, k, cols);  // dW_hh[out, out]
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    const Index n = ctx.batch, T = steps_, N = units_, H = hidden(), k = outputs_;
    if (n > max_batch_) reserve(n);  // a caller that skipped reserve: correct, but allocates
    batch_ = n;
    MatrixMap Z(z_.data(), N, T * n), A(a_.data(), N, T * n);
    ConstRowMatrixMap Wih(params_, N, inputs_), Whh(params_ + N * inputs_, N, N);
    Z.setZero();
    if (biased_ > 0) Z.topRows(biased_).colwise() = bias();
    gemm_.add_product(Z, gemm_operand(Wih), gemm_operand(in));
    Index longest = 0;
    for (Index b = 0; b < n; ++b) longest = std::max(longest, ctx.length(b, T));
    for (Index t = 0; t < T; ++t) {
      if (t >= longest) {  // every example has ended
        A.middleCols(t * n, (T - t) * n).setZero();
        break;
      }
      auto Zt = Z.middleCols(t * n, n);
      auto At = A.middleCols(t * n, n);
      if (!layered()) {
        if (t > 0) gemm_.add_product(Zt, gemm_operand(Whh), gemm_operand(A.middleCols((t - 1) * n, n)));
        activate(t, n, 0, N, ctx);
        continue;
      }
      // Hidden units first, from the previous step; then the output units see
      // the hidden units' new activations and the outputs' previous ones.
      if (t > 0)
        gemm_.add_product(Zt.topRows(H), gemm_operand(Whh.topRows(H)), gemm_operand(A.middleCols((t - 1) * n, n)));
      activate(t, n, 0, H, ctx);
      gemm_.add_product(Zt.bottomRows(k), gemm_operand(Whh.block(H, 0, k, H)), gemm_operand(At.topRows(H)));
      if (t > 0)
        gemm_.add_product(Zt.bottomRows(k), gemm_operand(Whh.block(H, H, k, k)),
                          gemm_operand(A.middleCols((t - 1) * n, n).bottomRows(k)));
      activate(t, n, H, k, ctx);
    }
    if (all_) {
      out = A.bottomRows(k);
    } else {
      for (Index b = 0; b < n; ++b) out.col(b) = A.col((ctx.length(b, T) - 1) * n + b).tail(k);
    }
  }

  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext& ctx) override {
    const Index n = batch_, T = steps_, N = units_, H = hidden(), k = outputs_;
    MatrixMap dZ(dz_.data(), N, T * n);
    // What the later steps send back to a_t (W_hh^T dZ_{t+1} over the
    // connections that read a_t at step t+1), then the total dA_t.
    MatrixMap R(da_.data(), N, n);
    ConstMatrixMap A(a_.data(), N, T * n);
    ConstRowMatrixMap Wih(params_, N, inputs_), Whh(params_ + N * inputs_, N, N);
    LagProbe* probe = ctx.lag_probe;
    if (probe) probe->reported = true;
    R.setZero();
    auto skipped = [&](Index t, Index b) {
      const Index length = ctx.length(b, T);
      return t >= length || (K_ > 0 && t < length - K_);
    };
    auto add_output_gradient = [&](Index t, Index b) {
      const Index c = t * n + b, length = ctx.length(b, T);
      if (all_)
        R.col(b).tail(k) += grad_out.col(c);
      else if (t == length - 1)
        R.col(b).tail(k) += grad_out.col(b);
    };
    for (Index t = T - 1; t >= 0; --t) {
      auto dZt = dZ.middleCols(t * n, n);
      if (!layered()) {
        for (Index b = 0; b < n; ++b) {
          const Index c = t * n + b;
          if (skipped(t, b)) {
            dZ.col(c).setZero();
            continue;
          }
          add_output_gradient(t, b);
          derivative(hidden_act_, A.col(c).head(H), R.col(b).head(H), dZ.col(c).head(H));
          derivative(out_act_, A.col(c).tail(k), R.col(b).tail(k), dZ.col(c).tail(k));
          if (probe)
            probe->hidden[static_cast<std::size_t>(ctx.length(b, T) - 1 - t)] += double(R.col(b).squaredNorm());
        }
        if (t > 0) {
          R.setZero();
          gemm_.add_product(R, gemm_operand(Whh).t(), gemm_operand(dZt));
        }
        continue;
      }
      // Layered: the output units first (nothing at step t reads them), then
      // the hidden units, which the output units read at the same step.
      for (Index b = 0; b < n; ++b) {
        const Index c = t * n + b;
        if (skipped(t, b)) {
          dZ.col(c).setZero();
          continue;
        }
        add_output_gradient(t, b);
        derivative(out_act_, A.col(c).tail(k), R.col(b).tail(k), dZ.col(c).tail(k));
      }
      gemm_.add_product(R.topRows(H), gemm_operand(Whh.block(H, 0, k, H)).t(), gemm_operand(dZt.bottomRows(k)));
      for (Index b = 0; b < n; ++b) {
        const Index c = t * n + b;
        if (skipped(t, b)) continue;
        derivative(hidden_act_, A.col(c).head(H), R.col(b).head(H), dZ.col(c).head(H));
        if (probe) probe->hidden[static_cast<std::size_t>(ctx.length(b, T) - 1 - t)] += double(R.col(b).squaredNorm());
      }
      if (t > 0) {
        R.setZero();
        gemm_.add_product(R, gemm_operand(Whh.topRows(H)).t(), gemm_operand(dZt.topRows(H)));
        gemm_.add_product(R.bottomRows(k), gemm_operand(Whh.block(H, H, k, k)).t(), gemm_operand(dZt.bottomRows(k)));
      }
    }
    RowMatrixMap gWih(grads_, N, inputs_), gWhh(grads_ + N * inputs_, N, N);
    gemm_.add_product(gWih, gemm_operand(dZ), gemm_operand(in).t());
    const Index prev = (T - 1) * n;  // columns of steps 1.. and of steps ..T-2
    if (!layered()) {
      gemm_.add_product(gWhh, gemm_operand(dZ.rightCols(prev)), gemm_operand(A.leftCols(prev)).t());
    } else {
      gemm_.add_product(gWhh.topRows(H), gemm_operand(dZ.rightCols(prev).topRows(H)),
                        gemm_operand(A.leftCols(prev)).t());
      gemm_.add_product(gWhh.block(H, 0, k, H), gemm_operand(dZ.bottomRows(k)), gemm_operand(A.topRows(H)).t());
      gemm_.add_product(gWhh.block(H, H, k, k), gemm_operand(dZ.rightCols(prev).bottomRows(k)),
                        gemm_operand(A.leftCols(prev).bottomRows(k)).t());
    }
    if (biased_ > 0) {
      bias_sum_ = dZ.rowwise().sum();
      VectorMap(grads_ + N * inputs_ + N * N, biased_) += bias_sum_.head(biased_);
    }
    if (grad_in) {
      grad_in->setZero();
      gemm_.add_product(*grad_in, gemm_operand(Wih).t(), gemm_operand(dZ));
    }
  }

 private:
  Index hidden() const { return units_ - outputs_; }
  // Layered update (the default): needs both kinds of units to differ from synchronous.
  bool layered() const { return layered_ && hidden() > 0; }
  // Activations of units [from, from + count) at step t: f of Z, or 0 at a padded step.
  void activate(Index t, Index n, Index from, Index count, const ForwardContext& ctx) {
    const Act f = from < hidden() ? hidden_act_ : out_act_;
    for (Index b = 0; b < n; ++b) {
      const Index c = t * n + b;
      auto a = a_.col(c).segment(from, count);
      if (t >= ctx.length(b, steps_)) {
        a.setZero();
      } else if (!layered() && from == 0) {  // synchronous: both kinds of units at once
        apply(hidden_act_, z_.col(c).head(hidden()), a_.col(c).head(hidden()));
        apply(out_act_, z_.col(c).tail(outputs_), a_.col(c).tail(outputs_));
      } else {
        apply(f, z_.col(c).segment(from, count), a);
      }
    }
  }
  VectorMap bias() const { return VectorMap(params_ + units_ * inputs_ + units_ * units_, biased_); }

  template <class Z, class A>
  static void apply(Act f, const Z& z, A&& a) {
    if (f == Act::tanh)
      a = z.array().tanh().matrix();
    else
      a = z.array().logistic().matrix();
  }
  template <class A, class D, class G>
  static void derivative(Act f, const A& a, const D& da, G&& dz) {
    if (f == Act::tanh)
      dz = (da.array() * (Scalar(1) - a.array().square())).matrix();
    else
      dz = (da.array() * a.array() * (Scalar(1) - a.array())).matrix();
  }

  Index units_ = 0, outputs_ = 0, biased_ = 0;
  bool all_ = false, layered_ = true;
  Index K_ = 0;
  Act hidden_act_ = Act::tanh, out_act_ = Act::tanh;
  Index inputs_ = 0, steps_ = 0;
  Index max_batch_ = 0, batch_ = 0;
  Scalar* params_ = nullptr;
  Scalar* grads_ = nullptr;
  std::shared_ptr<const Initializer> recurrent_init_;
  Matrix z_, dz_, a_, da_;
  Vector bias_sum_;
  GemmWorkspace gemm_;
};

void register_fully_recurrent(Registrar& r) {
  Schema schema = recurrent::option_schema();
  schema[0].doc = "number of non-input units: the hidden units and the output units (the last `outputs`)";
  schema.insert(schema.begin() + 1,
                {ParamSpec::integer("outputs", 1)
                     .at_least(1)
                     .at_most(1 << 20)
                     .describe("how many of the units are output units (the last ones); their activations are the "
                               "layer's output"),
                 ParamSpec::choice("activation", "tanh", {"tanh", "sigmoid"})
                     .describe("f of the hidden units in a_t = f(W_ih x_t + W_hh a_{t-1} + b)"),
                 ParamSpec::choice("output_activation", "same", {"same", "tanh", "sigmoid"})
                     .describe("f of the output units (same: `activation`)"),
                 ParamSpec::choice("update", "layered", {"layered", "synchronous"})
                     .describe("layered: at each step the hidden units update first and the output units see their "
                               "new activations (Bengio et al. 1994's nets); synchronous: every unit sees only the "
                               "previous step's activations"),
                 ParamSpec::choice("bias", "all", {"all", "hidden", "none"})
                     .describe("which units have a bias weight (Schmidhuber et al. 2001's A1: hidden; A2: all)")});
  ComponentInfo info;
  info.name = "fully_recurrent";
  info.description =
      "fully recurrent net: every unit sees the input and all units' previous activations, the last `outputs` "
      "units are the output; BPTT (Hochreiter & Schmidhuber 1996; Schmidhuber, Hochreiter & Bengio 2001, A1)";
  info.schema = std::move(schema);
  info.initializer_keys = {"recurrent_init"};
  r.add_layer(std::move(info),
              [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<FullyRecurrent>(p); });
}

}  // namespace

GRADLAB_PLUGIN("fully_recurrent", "1.0.0",
               "fully recurrent net of the weight-guessing experiments (Hochreiter & Schmidhuber 1996)",
               register_fully_recurrent)
