// lstm: long short-term memory (Hochreiter & Schmidhuber 1997), trained by
// backpropagation through time (optionally truncated), no peepholes.
//
//   i = sigmoid(z_i)   input gate        (1997)
//   f = sigmoid(z_f)   forget gate       (Gers, Schmidhuber & Cummins 2000)
//   g = s(z_g)         cell input
//   o = sigmoid(z_o)   output gate       (1997)
//   c_t = f * c_{t-1} + i * g            (forget_gate: true, default)
//   c_t =     c_{t-1} + i * g            (forget_gate: false: the 1997 constant error carousel)
//   h_t = o * q(c_t)
// with z = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh, h_{-1} = c_{-1} = 0, and
// squash: tanh (default, as PyTorch): s = q = tanh; squash: lstm1997 (as the
// paper): s(z) = 4 sigmoid(z) - 2, q(c) = 2 sigmoid(c) - 1.
//
// Tensors as torch.nn.LSTM stores them: weight_ih_l0 [G*units, in],
// weight_hh_l0 [G*units, units], bias_ih_l0, bias_hh_l0 [G*units], gate blocks
// in the order i, f, g, o (G = 4), or i, g, o without the forget gate (G = 3).
// With forget_gate: true and squash: tanh, nn.LSTM's load_state_dict(strict=True)
// takes a gradlab weights file and computes the same function.
//
// Initial gate biases (in bias_ih; bias_hh starts at 0, and so does the cell
// input's bias): input_bias (default 0), forget_bias (default 1: a forget bias
// near 0, PyTorch's default, makes f ~ 1/2, which halves the cell every step at
// first; Gers et al. 2000 and Jozefowicz et al. 2015 start it positive),
// output_bias (default 0). Hochreiter & Schmidhuber's 1997 experiments started
// the input and output gate biases negative (e.g. -1, -2, ... per memory block)
// so that the cells stay closed at first. forget_bias is ignored without the
// forget gate.
//
// tbptt: K > 0: gradients flow only through the last K valid steps of each
// sequence, the steps t >= length_b - K; earlier steps get a zero input gradient
// and add nothing to the parameter gradients. The spec key `recurrent_init`
// initializes W_hh gate block by gate block (default: the layer's own init).
// See gradlab/recurrent.hpp (SDK) and docs/recurrent.md.
#include <gradlab/recurrent.hpp>

namespace {

using namespace gradlab;
using gradlab::recurrent::RecurrentLayer;
using Array = Eigen::Array<Scalar, Eigen::Dynamic, 1>;
using ArrayMap = Eigen::Map<Array>;
using ConstArrayMap = Eigen::Map<const Array>;

class Lstm final : public RecurrentLayer {
 public:
  explicit Lstm(const Params& p)
      : RecurrentLayer(recurrent::read_options(p), p.boolean("forget_gate") ? 4 : 3),
        forget_(p.boolean("forget_gate")),
        paper_squash_(p.string("squash") == "lstm1997"),
        input_bias_(p.real("input_bias")),
        forget_bias_(p.real("forget_bias")),
        output_bias_(p.real("output_bias")) {}

 protected:
  // Gate block offsets (in rows) inside a column of z_.
  Index gi() const { return 0; }
  Index gf() const { return units_; }  // forget gate only
  Index gg() const { return forget_ ? 2 * units_ : units_; }
  Index go() const { return forget_ ? 3 * units_ : 2 * units_; }

  void initial_biases(VectorMap bias) override {
    bias.segment(gi(), units_).setConstant(Scalar(input_bias_));
    if (forget_) bias.segment(gf(), units_).setConstant(Scalar(forget_bias_));
    bias.segment(go(), units_).setConstant(Scalar(output_bias_));
  }
  void reserve_cell(Index max_batch) override {
    c_.resize(units_, steps_ * max_batch);
    q_.resize(units_, steps_ * max_batch);
    carry_.resize(units_, max_batch);
  }
  bool has_cell() const override { return true; }

  void cell_forward(Index c, Index prev) override {
    const Index H = units_;
    Scalar* z = z_.col(c).data();
    // The sigmoid gates (i, f or i, and o), then the cell input, in place.
    if (forget_) {
      ArrayMap(z, 2 * H) = ArrayMap(z, 2 * H).logistic();
    } else {
      ArrayMap(z, H) = ArrayMap(z, H).logistic();
    }
    ArrayMap o(z + go(), H);
    o = o.logistic();
    ArrayMap g(z + gg(), H);
    if (paper_squash_)
      g = Scalar(4) * g.logistic() - Scalar(2);
    else
      g = g.tanh();
    ConstArrayMap i(z + gi(), H);
    auto cell = c_.col(c).array();
    if (prev < 0)
      cell = i * g;
    else if (forget_)
      cell = ConstArrayMap(z + gf(), H) * c_.col(prev).array() + i * g;
    else
      cell = c_.col(prev).array() + i * g;
    auto q = q_.col(c).array();
    if (paper_squash_)
      q = (cell * Scalar(0.5)).tanh();  // 2 sigmoid(c) - 1 = tanh(c / 2)
    else
      q = cell.tanh();
    h_.col(c).array() = o * q;
  }
  void clear_cell_column(Index c) override {
    h_.col(c).setZero();
    c_.col(c).setZero();
  }
  void clear_cell_steps(Index t, Index n) override { c_.middleCols(t * n, (steps_ - t) * n).setZero(); }

  double cell_backward(Index c, Index prev, Index b, const Scalar* dh_data) override {
    const Index H = units_;
    ConstArrayMap dh(dh_data, H);
    const Scalar* a = z_.col(c).data();
    ConstArrayMap i(a + gi(), H), g(a + gg(), H), o(a + go(), H);
    auto q = q_.col(c).array();
    auto carry = carry_.col(b).array();
    Scalar* dz = dz_.col(c).data();
    // dc_t: through h_t and from c_{t+1}; the carry becomes dc_t * f_t.
    const Scalar half = paper_squash_ ? Scalar(0.5) : Scalar(1);
    carry = dh * o * (Scalar(1) - q.square()) * half + carry;
    const double cell_norm2 = double(carry.matrix().squaredNorm());
    ArrayMap(dz + go(), H) = dh * q * o * (Scalar(1) - o);
    ArrayMap(dz + gi(), H) = carry * g * i * (Scalar(1) - i);
    if (paper_squash_)
      ArrayMap(dz + gg(), H) = carry * i * (Scalar(4) - g.square()) * Scalar(0.25);
    else
      ArrayMap(dz + gg(), H) = carry * i * (Scalar(1) - g.square());
    if (forget_) {
      ConstArrayMap f(a + gf(), H);
      if (prev >= 0)
        ArrayMap(dz + gf(), H) = carry * c_.col(prev).array() * f * (Scalar(1) - f);
      else
        ArrayMap(dz + gf(), H).setZero();
      carry *= f;
    }
    return cell_norm2;
  }
  void reset_carry(Index n) override { carry_.leftCols(n).setZero(); }
  void clear_carry(Index b) override { carry_.col(b).setZero(); }

 private:
  bool forget_, paper_squash_;
  double input_bias_, forget_bias_, output_bias_;
  Matrix c_, q_, carry_;  // cell states, q(c), carried dc (per example)
};

void register_lstm(Registrar& r) {
  Schema schema = recurrent::option_schema();
  schema.push_back(ParamSpec::boolean("forget_gate", true)
                       .describe("add the forget gate of Gers, Schmidhuber & Cummins 2000 (false: the 1997 cell)"));
  schema.push_back(ParamSpec::choice("squash", "tanh", {"tanh", "lstm1997"})
                       .describe("tanh: g = tanh, h = o tanh(c) (PyTorch); lstm1997: g = 4 sigmoid - 2, "
                                 "h = o (2 sigmoid(c) - 1) (the paper)"));
  schema.push_back(ParamSpec::real("input_bias", 0.0).describe("initial input gate bias (1997: negative)"));
  schema.push_back(ParamSpec::real("forget_bias", 1.0)
                       .describe("initial forget gate bias (near 0, PyTorch's default, halves the cell every step)"));
  schema.push_back(ParamSpec::real("output_bias", 0.0).describe("initial output gate bias (1997: negative)"));
  ComponentInfo info;
  info.name = "lstm";
  info.description =
      "Long short-term memory, BPTT, gates i f g o as torch.nn.LSTM (Hochreiter & Schmidhuber 1997; "
      "forget gate: Gers, Schmidhuber & Cummins 2000)";
  info.schema = std::move(schema);
  info.initializer_keys = {"recurrent_init"};
  r.add_layer(std::move(info), [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<Lstm>(p); });
}

}  // namespace

GRADLAB_PLUGIN("lstm", "1.0.0", "Long short-term memory (Hochreiter & Schmidhuber 1997)", register_lstm)
