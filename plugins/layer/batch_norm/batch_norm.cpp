// batch_norm: batch normalization (Ioffe & Szegedy 2015) with PyTorch's
// BatchNorm1d semantics, so a weights file loads into torch unchanged.
//
// Each feature (row) is normalised over every column of the batch (all
// examples and, for sequences, all time steps, as BatchNorm1d does over N and
// L): y = (x - mean) / sqrt(var + eps) * weight + bias.
//  - train mode: mean and the BIASED variance of the batch normalise it; when
//    ctx.update_statistics is set, the running statistics move towards the
//    batch's mean and UNBIASED variance by `momentum`
//    (r <- (1 - momentum) r + momentum s) and num_batches_tracked counts up.
//    backward differentiates through the batch statistics.
//  - eval mode: the running statistics normalise; backward is the plain
//    per-feature affine map.
// Tensors: "weight" (gamma, starts at 1) and "bias" (beta, starts at 0), shape
// [features], absent when affine is false. Buffers: "running_mean" (starts 0),
// "running_var" (starts 1), each [features], and "num_batches_tracked", shape []
// (a count stored as float; torch's load_state_dict casts it to int64).
// A training batch of one column has no unbiased variance (torch refuses it);
// here it normalises to 0 and updates only the running mean and the count.
#include <cmath>
#include <gradlab/sdk.hpp>
#include <stdexcept>

namespace {

using namespace gradlab;

class BatchNorm final : public Layer {
 public:
  explicit BatchNorm(const Params& p)
      : eps_(p.real("eps")), momentum_(p.real("momentum")), affine_(p.boolean("affine")) {}

  Shape configure(Shape input) override {
    if (input.features < 1) throw std::invalid_argument("batch_norm needs at least one input feature");
    features_ = input.features;
    steps_ = input.steps;
    mean_.resize(features_);
    inv_std_.resize(features_);
    scale_.resize(features_);
    sum_g_.resize(features_);
    sum_gx_.resize(features_);
    return input;
  }
  Index param_count() const override { return affine_ ? 2 * features_ : 0; }
  Index buffer_count() const override { return 2 * features_ + 1; }
  std::vector<TensorInfo> tensors() const override {
    if (!affine_) return {};
    return {{"weight", {features_}, 0}, {"bias", {features_}, features_}};
  }
  std::vector<TensorInfo> buffer_tensors() const override {
    return {{"running_mean", {features_}, 0},
            {"running_var", {features_}, features_},
            {"num_batches_tracked", {}, 2 * features_}};
  }
  void bind(VectorMap params, VectorMap grads, VectorMap buffers) override {
    params_ = params.data();
    grads_ = grads.data();
    buffers_ = buffers.data();
  }
  void initialize(const Initializer&, Rng&, const InitSite&) override {
    if (affine_) {
      gamma().setOnes();
      beta().setZero();
    }
    running_mean().setZero();
    running_var().setOnes();
    buffers_[2 * features_] = Scalar(0);
  }
  void reserve(Index max_batch) override {
    const Index cols = max_batch * steps_;
    if (xhat_.cols() < cols) xhat_.resize(features_, cols);
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    const Index n = in.cols();
    reserve((n + steps_ - 1) / steps_);  // no-op after the host's reserve()
    auto xhat = xhat_.leftCols(n);
    used_batch_ = ctx.mode == Mode::train;
    if (used_batch_) {
      mean_.noalias() = in.rowwise().sum() / Scalar(n);
      xhat.noalias() = in.colwise() - mean_;
      // Biased variance normalises, as in the paper and in torch.
      sum_gx_.noalias() = xhat.array().square().matrix().rowwise().sum();  // sum of squared deviations
      inv_std_.array() = (sum_gx_.array() / Scalar(n) + Scalar(eps_)).rsqrt();
      if (ctx.update_statistics) {
        const Scalar m = static_cast<Scalar>(momentum_);
        running_mean() = (Scalar(1) - m) * running_mean() + m * mean_;
        if (n > 1) running_var() = (Scalar(1) - m) * running_var() + (m / Scalar(n - 1)) * sum_gx_;
        buffers_[2 * features_] += Scalar(1);
      }
    } else {
      mean_ = running_mean();
      inv_std_.array() = (running_var().array() + Scalar(eps_)).rsqrt();
      xhat.noalias() = in.colwise() - mean_;
    }
    xhat.array().colwise() *= inv_std_.array();
    if (affine_) {
      out.array() = (xhat.array().colwise() * gamma().array()).colwise() + beta().array();
    } else {
      out = xhat;
    }
  }

  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    const Index n = in.cols();
    auto xhat = xhat_.leftCols(n);
    sum_g_.noalias() = grad_out.rowwise().sum();
    sum_gx_.noalias() = grad_out.cwiseProduct(xhat).rowwise().sum();
    if (affine_) {
      VectorMap(grads_, features_) += sum_gx_;
      VectorMap(grads_ + features_, features_) += sum_g_;
      scale_.array() = gamma().array() * inv_std_.array();
    } else {
      scale_ = inv_std_;
    }
    if (!grad_in) return;
    if (used_batch_) {
      // dL/dx = gamma / sigma * (g - mean(g) - xhat * mean(g * xhat)), per feature:
      // the mean and the variance of the batch depend on every x.
      sum_g_ /= Scalar(n);
      sum_gx_ /= Scalar(n);
      grad_in->array() =
          ((grad_out.array().colwise() - sum_g_.array()) - xhat.array().colwise() * sum_gx_.array()).colwise() *
          scale_.array();
    } else {
      grad_in->array() = grad_out.array().colwise() * scale_.array();
    }
  }

 private:
  VectorMap gamma() const { return VectorMap(params_, features_); }
  VectorMap beta() const { return VectorMap(params_ + features_, features_); }
  VectorMap running_mean() const { return VectorMap(buffers_, features_); }
  VectorMap running_var() const { return VectorMap(buffers_ + features_, features_); }

  double eps_;
  double momentum_;
  bool affine_;
  Index features_ = 0;
  Index steps_ = 1;
  Scalar* params_ = nullptr;
  Scalar* grads_ = nullptr;
  Scalar* buffers_ = nullptr;
  bool used_batch_ = true;  // what the last forward normalised with
  Matrix xhat_;             // normalised input of the last forward, [features, max_batch * steps]
  Vector mean_, inv_std_, scale_, sum_g_, sum_gx_;
};

void register_batch_norm(Registrar& r) {
  r.add_layer({"batch_norm",
               "Batch normalization per feature over the batch, as torch.nn.BatchNorm1d (Ioffe & Szegedy 2015)",
               {ParamSpec::real("eps", 1e-5).positive().describe("added to the variance before the square root"),
                ParamSpec::real("momentum", 0.1)
                    .at_least(0)
                    .at_most(1)
                    .describe("weight of the new batch in the running mean/variance update"),
                ParamSpec::boolean("affine", true).describe("learn a per-feature scale (weight) and shift (bias)")}},
              [](const Params& p, std::vector<ChildLayer>) { return std::make_unique<BatchNorm>(p); });
}

}  // namespace

GRADLAB_PLUGIN("batch_norm", "1.0.0", "Batch normalization", register_batch_norm)
