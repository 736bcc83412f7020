// What recurrent layers share (the bundled `rnn` and `lstm`, and any new cell a
// plugin author writes, a GRU say): the tensors (PyTorch's
// nn.RNN / nn.LSTM names and shapes), initialization gate block by gate block,
// the scratch sized in reserve(), and the time loop of backpropagation through
// time (Werbos 1990) with padding, truncation and the lag probe. A cell (Elman,
// LSTM) supplies only its elementwise step math.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
//
// Shapes: G gate blocks of `units` rows each. weight_ih_l0 [G*units, in],
// weight_hh_l0 [G*units, units], bias_ih_l0 and bias_hh_l0 [G*units], in that
// order in the parameter block.
//
// Forward: Z = W_ih X + b_ih + b_hh for all steps in one product, then per step
// Z_t += W_hh h_{t-1} (one product for all gates) and the cell's elementwise
// math, one pass over the step's columns. h_{-1} = 0 (and c_{-1} = 0). At a
// padded step (t >= length_b) h and c are set to 0: the output there is 0 and
// the example's state is never read again.
//
// Backward: dh_t = (gradient of the output at t) + W_hh^T dZ_{t+1}, the total
// gradient at h_t; the cell turns it into dZ_t (and carries dc). dZ is 0 at
// padded steps and at steps outside the truncation window, so after the loop
// one product each gives dW_ih = dZ X^T, dW_hh = dZ_{1..} H_{..-1}^T and
// grad_in = W_ih^T dZ over all steps.
//
// Truncated BPTT (`tbptt: K`, K > 0; Williams & Peng 1990): gradients flow only
// through the last K valid steps of each sequence, the steps t >= length_b - K.
// Earlier steps get dZ = 0: their input gradient is exactly zero and they add
// nothing to any parameter gradient (h_{t-1} of the first step of the window
// still enters dW_hh, as the constant it is). K = 0 is full BPTT.
//
// Lag probe (LagProbe in layer.hpp): at lag k = length_b - 1 - t the layer adds
// |dh_t|^2 of example b (and |dc_t|^2, the total cell gradient, for a cell with
// a state). With truncation only the lags k < K get anything: the gradient the
// backward propagates to earlier steps is zero.
#pragma once

#include <algorithm>
#include <gradlab/gemm.hpp>
#include <gradlab/sdk.hpp>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace gradlab::recurrent {

// The options every recurrent layer has.
struct Options {
  Index units = 0;
  bool sequence_all = false;  // sequence: all (else last)
  Index tbptt = 0;            // 0 = full BPTT
};

inline Options read_options(const Params& p) {
  Options o;
  o.units = p.integer("units");
  o.sequence_all = p.string("sequence") == "all";
  o.tbptt = p.integer("tbptt");
  return o;
}

// The schema entries of Options.
inline std::vector<ParamSpec> option_schema() {
  return {
      ParamSpec::integer("units").at_least(1).at_most(1 << 20).describe("number of hidden units"),
      ParamSpec::choice("sequence", "last", {"last", "all"})
          .describe("last: output h at each example's last valid step (one step per example); all: h at every "
                    "step, 0 at padded steps"),
      ParamSpec::integer("tbptt", 0)
          .at_least(0)
          .describe(
              "truncated BPTT: gradients flow through the last K valid steps of each sequence only (0 = full BPTT)")};
}

class RecurrentLayer : public Layer {
 public:
  RecurrentLayer(const Options& o, Index gates) : units_(o.units), gates_(gates), all_(o.sequence_all), K_(o.tbptt) {}

  Shape configure(Shape input) override {
    if (input.steps <= 1)
      throw std::invalid_argument("a recurrent layer needs sequence data (steps > 1) and got one step per example");
    inputs_ = input.features;
    steps_ = input.steps;
    return {units_, all_ ? steps_ : 1};
  }
  Index param_count() const override { return rows() * inputs_ + rows() * units_ + 2 * rows(); }
  std::vector<TensorInfo> tensors() const override {
    const Index r = rows();
    return {{"weight_ih_l0", {r, inputs_}, 0},
            {"weight_hh_l0", {r, units_}, r * inputs_},
            {"bias_ih_l0", {r}, r * inputs_ + r * units_},
            {"bias_hh_l0", {r}, r * inputs_ + r * units_ + r}};
  }
  void bind(VectorMap params, VectorMap grads, VectorMap) override {
    params_ = params.data();
    grads_ = grads.data();
  }
  void set_initializer(const std::string& key, std::shared_ptr<const Initializer> init) override {
    if (key != "recurrent_init") return Layer::set_initializer(key, std::move(init));  // refuses
    recurrent_init_ = std::move(init);
  }
  // Input weights from `init`, recurrent weights from recurrent_init (or
  // `init`), each gate's block on its own ([units, in] and [units, units]),
  // so an orthogonal initializer makes every recurrent gate block orthogonal.
  // Biases 0, then the cell's own gate biases (initial_biases).
  void initialize(const Initializer& init, Rng& rng, const InitSite& site) override {
    for (Index g = 0; g < gates_; ++g)
      init.fill(RowMatrixMap(params_ + g * units_ * inputs_, units_, inputs_), rng, site);
    const Initializer& rec = recurrent_init_ ? *recurrent_init_ : init;
    for (Index g = 0; g < gates_; ++g)
      rec.fill(RowMatrixMap(params_ + rows() * inputs_ + g * units_ * units_, units_, units_), rng, site);
    bias_ih().setZero();
    bias_hh().setZero();
    initial_biases(bias_ih());
  }
  void reserve(Index max_batch) override {
    if (max_batch <= max_batch_) return;
    max_batch_ = max_batch;
    const Index r = rows(), n = max_batch, cols = steps_ * n;
    z_.resize(r, cols);
    dz_.resize(r, cols);
    h_.resize(units_, cols);
    dh_.resize(units_, n);
    bias_sum_.resize(r);
    bias_total_.resize(r);
    reserve_cell(max_batch);
    gemm_.reserve(r, cols, inputs_);  // Z = W_ih X
    gemm_.reserve(r, n, units_);      // Z_t += W_hh h_{t-1}
    gemm_.reserve(units_, n, r);      // dh_{t-1} = W_hh^T dZ_t
    gemm_.reserve(r, inputs_, cols);  // dW_ih += dZ X^T
    gemm_.reserve(r, units_, cols);   // dW_hh += dZ_{1..} H_{..-1}^T
    gemm_.reserve(inputs_, cols, r);  // grad_in = W_ih^T dZ
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    const Index n = ctx.batch, T = steps_, r = rows();
    if (n > max_batch_) reserve(n);  // a caller that skipped reserve: correct, but allocates
    batch_ = n;
    MatrixMap Z(z_.data(), r, T * n), H(h_.data(), units_, T * n);
    ConstRowMatrixMap Wih(params_, r, inputs_), Whh(params_ + r * inputs_, r, units_);
    bias_total_ = bias_ih() + bias_hh();  // into a sized vector: a sum expression would be evaluated into a temporary
    Z.colwise() = bias_total_;
    gemm_.add_product(Z, gemm_operand(Wih), gemm_operand(in));
    Index longest = 0;
    for (Index b = 0; b < n; ++b) longest = std::max(longest, ctx.length(b, T));
    for (Index t = 0; t < T; ++t) {
      if (t >= longest) {  // every example has ended
        H.middleCols(t * n, (T - t) * n).setZero();
        clear_cell_steps(t, n);
        break;
      }
      if (t > 0) {
        MatrixMap Zt(z_.data() + t * n * r, r, n);
        gemm_.add_product(Zt, gemm_operand(Whh), gemm_operand(H.middleCols((t - 1) * n, n)));
      }
      for (Index b = 0; b < n; ++b) {
        const Index c = t * n + b;
        if (t < ctx.length(b, T))
          cell_forward(c, t > 0 ? c - n : -1);
        else
          clear_cell_column(c);
      }
    }
    if (all_) {
      out = H;
    } else {
      for (Index b = 0; b < n; ++b) out.col(b) = H.col((ctx.length(b, T) - 1) * n + b);
    }
  }

  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext& ctx) override {
    const Index n = batch_, T = steps_, r = rows();
    MatrixMap dZ(dz_.data(), r, T * n);
    MatrixMap R(dh_.data(), units_, n);  // W_hh^T dZ_{t+1}, then the total dh_t
    ConstRowMatrixMap Wih(params_, r, inputs_), Whh(params_ + r * inputs_, r, units_);
    LagProbe* probe = ctx.lag_probe;
    if (probe) {
      probe->reported = true;
      probe->has_cell = probe->has_cell || has_cell();
    }
    R.setZero();
    reset_carry(n);
    for (Index t = T - 1; t >= 0; --t) {
      for (Index b = 0; b < n; ++b) {
        const Index c = t * n + b, length = ctx.length(b, T);
        if (t >= length || (K_ > 0 && t < length - K_)) {
          dZ.col(c).setZero();
          clear_carry(b);
          continue;
        }
        auto dh = R.col(b);
        if (all_)
          dh += grad_out.col(c);
        else if (t == length - 1)
          dh += grad_out.col(b);
        const double cell_norm2 = cell_backward(c, t > 0 ? c - n : -1, b, dh.data());
        if (probe) {
          const auto lag = static_cast<std::size_t>(length - 1 - t);
          probe->hidden[lag] += double(dh.squaredNorm());
          if (has_cell()) probe->cell[lag] += cell_norm2;
        }
      }
      if (t > 0) {
        R.setZero();
        gemm_.add_product(R, gemm_operand(Whh).t(), gemm_operand(dZ.middleCols(t * n, n)));
      }
    }
    RowMatrixMap gWih(grads_, r, inputs_), gWhh(grads_ + r * inputs_, r, units_);
    gemm_.add_product(gWih, gemm_operand(dZ), gemm_operand(in).t());
    ConstMatrixMap H(h_.data(), units_, T * n);
    gemm_.add_product(gWhh, gemm_operand(dZ.rightCols((T - 1) * n)), gemm_operand(H.leftCols((T - 1) * n)).t());
    bias_sum_ = dZ.rowwise().sum();
    VectorMap(grads_ + r * inputs_ + r * units_, r) += bias_sum_;
    VectorMap(grads_ + r * inputs_ + r * units_ + r, r) += bias_sum_;
    if (grad_in) {
      grad_in->setZero();
      gemm_.add_product(*grad_in, gemm_operand(Wih).t(), gemm_operand(dZ));
    }
  }

 protected:
  Index rows() const { return gates_ * units_; }
  VectorMap bias_ih() const { return VectorMap(params_ + rows() * inputs_ + rows() * units_, rows()); }
  VectorMap bias_hh() const { return VectorMap(params_ + rows() * inputs_ + rows() * units_ + rows(), rows()); }

  // The cell's part. Column c of the [*, steps * batch] scratch is step t of
  // example b; `prev` is the column of step t-1 of the same example, -1 at t = 0.
  //
  // Initial gate values in bias_ih (bias_hh stays 0).
  virtual void initial_biases(VectorMap bias) { (void)bias; }
  virtual void reserve_cell(Index max_batch) { (void)max_batch; }
  virtual bool has_cell() const { return false; }
  // z_ column c holds the pre-activations; the cell may overwrite them with
  // what its backward needs (the gate values) and writes h_ column c.
  virtual void cell_forward(Index c, Index prev) = 0;
  // A padded step: h (and the cell state) 0.
  virtual void clear_cell_column(Index c) { h_.col(c).setZero(); }
  // Every column from step t on is padding (h_ is already cleared).
  virtual void clear_cell_steps(Index t, Index n) {
    (void)t;
    (void)n;
  }
  // dh (units values) is the total gradient at h_t; writes dz_ column c,
  // updates the carried cell gradient of example b, returns |dc_t|^2 (0
  // without a cell state).
  virtual double cell_backward(Index c, Index prev, Index b, const Scalar* dh) = 0;
  virtual void reset_carry(Index n) { (void)n; }
  virtual void clear_carry(Index b) { (void)b; }

  Index units_, gates_;
  bool all_;
  Index K_;
  Index inputs_ = 0, steps_ = 0;
  Index max_batch_ = 0, batch_ = 0;
  Scalar* params_ = nullptr;
  Scalar* grads_ = nullptr;
  std::shared_ptr<const Initializer> recurrent_init_;
  Matrix z_, dz_, h_, dh_;
  Vector bias_sum_, bias_total_;
  GemmWorkspace gemm_;
};

}  // namespace gradlab::recurrent
