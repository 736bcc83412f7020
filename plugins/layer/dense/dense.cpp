// dense: fully connected layer y = W x + b (Rosenblatt 1958; Rumelhart, Hinton &
// Williams 1986 for its training by backpropagation). W is [units, in], row-major
// as in PyTorch's nn.Linear, so weights files load into torch unchanged.
#include <gradlab/gemm.hpp>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Dense final : public Layer {
 public:
  explicit Dense(const Params& p) : units_(p.integer("units")), use_bias_(p.boolean("bias")) {}

  Shape configure(Shape input) override {
    inputs_ = input.features;
    steps_ = input.steps;
    return {units_, input.steps};
  }
  Index param_count() const override { return units_ * inputs_ + (use_bias_ ? units_ : 0); }
  std::vector<TensorInfo> tensors() const override {
    std::vector<TensorInfo> t{{"weight", {units_, inputs_}, 0}};
    if (use_bias_) t.push_back({"bias", {units_}, units_ * inputs_});
    return t;
  }
  void bind(VectorMap params, VectorMap grads, VectorMap) override {
    weight_ = params.data();
    grad_ = grads.data();
  }
  void initialize(const Initializer& init, Rng& rng, const InitSite& site) override {
    init.fill(W(), rng, site);
    if (use_bias_) b().setZero();
  }
  // The three products' packing buffers, sized once here, so that forward and
  // backward allocate nothing whatever the CPU's cache sizes (gradlab/gemm.hpp).
  void reserve(Index max_batch) override {
    const Index columns = max_batch * steps_;  // a sequence batch has one column per example and step
    gemm_.reserve(units_, columns, inputs_);   // out = W in
    gemm_.reserve(units_, inputs_, columns);   // gW += g in^T
    gemm_.reserve(inputs_, columns, units_);   // grad_in = W^T g
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override {
    // The bias is the GEMM's starting value: one pass over `out` instead of a
    // zeroing pass and a bias pass.
    if (use_bias_)
      out.colwise() = b();
    else
      out.setZero();
    gemm_.add_product(out, gemm_operand(W()), gemm_operand(in));
  }
  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    RowMatrixMap gW(grad_, units_, inputs_);
    gemm_.add_product(gW, gemm_operand(grad_out), gemm_operand(in).t());
    if (use_bias_) VectorMap(grad_ + units_ * inputs_, units_) += grad_out.rowwise().sum();
    if (grad_in) {
      grad_in->setZero();
      gemm_.add_product(*grad_in, gemm_operand(W()).t(), gemm_operand(grad_out));
    }
  }

 private:
  RowMatrixMap W() const { return RowMatrixMap(weight_, units_, inputs_); }
  VectorMap b() const { return VectorMap(weight_ + units_ * inputs_, units_); }

  Index units_;
  bool use_bias_;
  Index inputs_ = 0;
  Index steps_ = 1;
  Scalar* weight_ = nullptr;
  Scalar* grad_ = nullptr;
  GemmWorkspace gemm_;
};

void register_dense(Registrar& r) {
  r.add_layer(
      {"dense",
       "Fully connected layer y = Wx + b, W [units, in] as torch.nn.Linear (Rumelhart, Hinton & Williams 1986)",
       {ParamSpec::integer("units").at_least(1).at_most(1 << 24).describe("number of output units (at most 2^24)"),
        ParamSpec::boolean("bias", true).describe("add a learned bias (starts at 0)")}},
      [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<Dense>(p); });
}

}  // namespace

GRADLAB_PLUGIN("dense", "1.0.0", "Fully connected layer", register_dense)
