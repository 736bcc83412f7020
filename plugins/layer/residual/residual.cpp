// residual: a block y = x + alpha * f(x), where f is the chain of the block's
// child layers (He, Zhang, Ren & Sun 2016). The identity path carries the
// gradient past f unchanged, which is what lets very deep stacks train.
//
// Spec: {type: residual, layers: [...], scale: 1.0, learn_scale: false}.
//  - `scale` is alpha. With learn_scale: true alpha is a learned scalar that
//    starts at `scale`: tensor "alpha", shape [] (a 0-d tensor, as
//    nn.Parameter(torch.tensor(scale)) stores it).
//  - The children's tensors and buffers are exposed as "{j}.{name}" (j = child
//    index), so a PyTorch module subclassing nn.Sequential with the same
//    children (and an `alpha` parameter when learned) has the same state_dict
//    names. In the block's parameter block "alpha" comes first (torch lists a
//    module's own parameters before its children's), then child 0, child 1, ...
//  - The chain must end with the shape it started with (checked in configure).
//  - saturation() is 0: the block is not an activation, and the host probes
//    only the flattened top-level layers, so its children are not probed
//    separately (their gradient still counts in the block's grad_norm).
#include <gradlab/sdk.hpp>
#include <memory>
#include <stdexcept>
#include <string>

namespace {

using namespace gradlab;

std::string shape_text(Shape s) {
  return std::to_string(s.features) + " features x " + std::to_string(s.steps) + " steps";
}

class Residual final : public Layer {
 public:
  Residual(const Params& p, std::vector<ChildLayer> children)
      : children_(std::move(children)),
        scale_(static_cast<Scalar>(p.real("scale"))),
        learn_scale_(p.boolean("learn_scale")) {
    if (children_.empty()) throw std::invalid_argument("residual needs at least one layer in 'layers'");
    for (const auto& c : children_)
      if (!c.layer) throw std::invalid_argument("residual was given a null child layer");
  }

  Shape configure(Shape input) override {
    std::vector<Layer*> layers;
    for (const auto& c : children_) layers.push_back(c.layer.get());
    branch_ = LayerChain(std::move(layers));
    Shape out;
    try {
      out = branch_.configure(input);
    } catch (const std::exception& e) {
      throw std::invalid_argument(std::string("residual ") + e.what());
    }
    param_offsets_.clear();
    buffer_offsets_.clear();
    Index params = learn_scale_ ? 1 : 0, buffers = 0;
    for (const auto& c : children_) {
      param_offsets_.push_back(params);
      params += c.layer->param_count();
      buffer_offsets_.push_back(buffers);
      buffers += c.layer->buffer_count();
    }
    if (!(out == input))
      throw std::invalid_argument("the residual branch maps " + shape_text(input) + " to " + shape_text(out) +
                                  "; x + f(x) needs f to keep the shape");
    param_count_ = params;
    buffer_count_ = buffers;
    return input;
  }
  Index param_count() const override { return param_count_; }
  Index buffer_count() const override { return buffer_count_; }
  std::vector<TensorInfo> tensors() const override {
    std::vector<TensorInfo> out;
    if (learn_scale_) out.push_back({"alpha", {}, 0});
    for (std::size_t j = 0; j < children_.size(); ++j)
      for (auto t : children_[j].layer->tensors())
        out.push_back({std::to_string(j) + "." + t.name, t.shape, param_offsets_[j] + t.offset});
    return out;
  }
  std::vector<TensorInfo> buffer_tensors() const override {
    std::vector<TensorInfo> out;
    for (std::size_t j = 0; j < children_.size(); ++j)
      for (auto t : children_[j].layer->buffer_tensors())
        out.push_back({std::to_string(j) + "." + t.name, t.shape, buffer_offsets_[j] + t.offset});
    return out;
  }
  void bind(VectorMap params, VectorMap grads, VectorMap buffers) override {
    params_ = params.data();
    grads_ = grads.data();
    for (std::size_t j = 0; j < children_.size(); ++j) {
      auto& child = *children_[j].layer;
      const Index np = child.param_count(), nb = child.buffer_count();
      child.bind(VectorMap(params.data() + param_offsets_[j], np), VectorMap(grads.data() + param_offsets_[j], np),
                 VectorMap(buffers.data() + buffer_offsets_[j], nb));
    }
  }
  void initialize(const Initializer& init, Rng& rng, const InitSite& site) override {
    if (learn_scale_) params_[0] = scale_;
    // The branch's layers learn where they are: this block, and their rank
    // among the branch's layers with parameters (Fixup scales by both).
    InitSite child_site = site;
    child_site.branch_layers = 0;
    for (auto& c : children_) child_site.branch_layers += c.layer->param_count() > 0 ? 1 : 0;
    child_site.branch_layer = 0;
    for (auto& c : children_) {
      const bool weighted = c.layer->param_count() > 0;
      c.layer->initialize(c.init ? *c.init : init, rng, child_site);
      if (weighted) ++child_site.branch_layer;
    }
  }
  void reserve(Index max_batch) override {
    branch_.reserve(max_batch);
    if (learn_scale_ || scale_ != Scalar(1)) {
      const Shape s = branch_.output_shape();
      scaled_grad_.resize(s.features, s.steps * max_batch);
    }
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    if (ctx.batch > branch_.reserved_batch()) reserve(ctx.batch);  // no-op after the host's reserve()
    branch_.forward(in, ctx);
    out.noalias() = in + alpha() * branch_.output(ctx.batch);
  }

  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext& ctx) override {
    const Scalar a = alpha();
    if (learn_scale_) grads_[0] += (grad_out.array() * branch_.output(ctx.batch).array()).sum();
    // d(loss)/d(f(x)) = alpha * grad_out; for alpha == 1 pass grad_out itself.
    if (a == Scalar(1)) {
      branch_.backward(in, grad_out, grad_in, ctx);
    } else {
      MatrixMap scaled(scaled_grad_.data(), grad_out.rows(), grad_out.cols());
      scaled.noalias() = a * grad_out;
      branch_.backward(in, ConstMatrixMap(scaled.data(), scaled.rows(), scaled.cols()), grad_in, ctx);
    }
    // The first child wrote the branch's input gradient; the identity path adds grad_out.
    if (grad_in) *grad_in += grad_out;
  }

 private:
  Scalar alpha() const { return learn_scale_ ? params_[0] : scale_; }

  std::vector<ChildLayer> children_;
  Scalar scale_;
  bool learn_scale_;
  LayerChain branch_;  // the children, f
  std::vector<Index> param_offsets_, buffer_offsets_;
  Index param_count_ = 0, buffer_count_ = 0;
  Scalar* params_ = nullptr;
  Scalar* grads_ = nullptr;
  Matrix scaled_grad_;  // alpha * grad_out, when alpha is not 1
};

void register_residual(Registrar& r) {
  ComponentInfo info{
      "residual",
      "Residual block y = x + alpha * f(x) over its child layers (He, Zhang, Ren & Sun 2016)",
      {ParamSpec::real("scale", 1.0)
           .describe("alpha, the weight of the branch f(x) (its start value "
                     "when learned)"),
       ParamSpec::boolean("learn_scale", false).describe("learn alpha as a scalar parameter named 'alpha' (shape [])")},
      true};
  r.add_layer(std::move(info), [](const Params& p, std::vector<ChildLayer> children) {
    return std::make_unique<Residual>(p, std::move(children));
  });
}

}  // namespace

GRADLAB_PLUGIN("residual", "1.0.0", "Residual block", register_residual)
