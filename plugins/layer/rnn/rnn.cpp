// rnn: the simple recurrent network of Elman (1990, "Finding structure in
// time"), h_t = f(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), h_{-1} = 0, with
// f = tanh (default), sigmoid or relu; trained by backpropagation through time
// (Werbos 1990), optionally truncated. Tensors as torch.nn.RNN(in, units,
// nonlinearity=...) names and stores them (weight_ih_l0 [units, in],
// weight_hh_l0 [units, units], bias_ih_l0, bias_hh_l0), so its
// load_state_dict(strict=True) takes a gradlab weights file (tanh and relu;
// PyTorch has no sigmoid RNN).
//
// Options: units (required), activation, sequence (last | all), tbptt (K > 0:
// gradients flow only through the last K valid steps of each sequence, the
// steps t >= length_b - K; earlier steps get a zero input gradient and add
// nothing to the parameter gradients), and the spec key `recurrent_init` for
// W_hh (default: the layer's own init). See gradlab/recurrent.hpp (SDK) and docs/recurrent.md.
#include <gradlab/recurrent.hpp>

namespace {

using namespace gradlab;
using gradlab::recurrent::RecurrentLayer;

enum class Activation { tanh, sigmoid, relu };

class Elman final : public RecurrentLayer {
 public:
  explicit Elman(const Params& p) : RecurrentLayer(recurrent::read_options(p), 1) {
    const std::string& a = p.string("activation");
    act_ = a == "sigmoid" ? Activation::sigmoid : a == "relu" ? Activation::relu : Activation::tanh;
  }

 protected:
  void cell_forward(Index c, Index) override {
    auto z = z_.col(c).array();
    auto h = h_.col(c).array();
    switch (act_) {
      case Activation::tanh: h = z.tanh(); break;
      case Activation::sigmoid: h = z.logistic(); break;
      case Activation::relu: h = z.max(Scalar(0)); break;
    }
  }
  double cell_backward(Index c, Index, Index, const Scalar* dh_data) override {
    Eigen::Map<const Eigen::Array<Scalar, Eigen::Dynamic, 1>> dh(dh_data, units_);
    auto h = h_.col(c).array();
    auto dz = dz_.col(c).array();
    switch (act_) {
      case Activation::tanh: dz = dh * (Scalar(1) - h.square()); break;
      case Activation::sigmoid: dz = dh * h * (Scalar(1) - h); break;
      case Activation::relu: dz = (h > Scalar(0)).select(dh, Scalar(0)); break;
    }
    return 0.0;
  }

 private:
  Activation act_;
};

void register_rnn(Registrar& r) {
  Schema schema = recurrent::option_schema();
  schema.insert(schema.begin() + 1, ParamSpec::choice("activation", "tanh", {"tanh", "sigmoid", "relu"})
                                        .describe("f in h_t = f(W_ih x_t + W_hh h_{t-1} + b)"));
  ComponentInfo info;
  info.name = "rnn";
  info.description = "Elman recurrent layer h_t = f(W_ih x_t + W_hh h_{t-1} + b), BPTT, as torch.nn.RNN (Elman 1990)";
  info.schema = std::move(schema);
  info.initializer_keys = {"recurrent_init"};
  r.add_layer(std::move(info), [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<Elman>(p); });
}

}  // namespace

GRADLAB_PLUGIN("rnn", "1.0.0", "Elman recurrent layer (Elman 1990)", register_rnn)
