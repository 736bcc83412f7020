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
    shapes_.assign(1, input);
    param_offsets_.clear();
    buffer_offsets_.clear();
    Index params = learn_scale_ ? 1 : 0, buffers = 0;
    for (std::size_t j = 0; j < children_.size(); ++j) {
      Shape out;
      try {
        out = children_[j].layer->configure(shapes_.back());
      } catch (const std::exception& e) {
        throw std::invalid_argument("residual layer " + std::to_string(j) + ": " + e.what());
      }
      if (out.features <= 0 || out.steps <= 0)
        throw std::invalid_argument("residual layer " + std::to_string(j) + " produced an empty output shape");
      shapes_.push_back(out);
      param_offsets_.push_back(params);
      params += children_[j].layer->param_count();
      buffer_offsets_.push_back(buffers);
      buffers += children_[j].layer->buffer_count();
    }
    if (!(shapes_.back() == input))
      throw std::invalid_argument("the residual branch maps " + shape_text(input) + " to " +
                                  shape_text(shapes_.back()) + "; x + f(x) needs f to keep the shape");
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
  void initialize(const Initializer& init, Rng& rng) override {
    if (learn_scale_) params_[0] = scale_;
    for (auto& c : children_) c.layer->initialize(c.init ? *c.init : init, rng);
  }
  void reserve(Index max_batch) override {
    if (max_batch > max_batch_) {
      max_batch_ = max_batch;
      Index widest = 0;
      acts_.resize(children_.size());
      for (std::size_t j = 0; j < children_.size(); ++j) {
        const Shape s = shapes_[j + 1];
        acts_[j].resize(s.features, s.steps * max_batch);
        widest = std::max(widest, s.features * s.steps);
      }
      for (const Shape& s : shapes_) widest = std::max(widest, s.features * s.steps);
      grad_a_.resize(widest, max_batch);
      grad_b_.resize(widest, max_batch);
    }
    for (auto& c : children_) c.layer->reserve(max_batch);
  }

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext& ctx) override {
    const Index batch = in.cols() / shapes_[0].steps;
    if (batch > max_batch_) reserve(batch);  // no-op after the host's reserve()
    for (std::size_t j = 0; j < children_.size(); ++j)
      children_[j].layer->forward(j == 0 ? in : act(j - 1, batch), act_mut(j, batch), ctx);
    out.noalias() = in + alpha() * act(children_.size() - 1, batch);
  }

  void backward(ConstMatrixMap in, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext& ctx) override {
    const Index batch = in.cols() / shapes_[0].steps;
    const std::size_t last = children_.size() - 1;
    const Scalar a = alpha();
    if (learn_scale_) grads_[0] += (grad_out.array() * act(last, batch).array()).sum();
    // d(loss)/d(f(x)) = alpha * grad_out; for alpha == 1 pass grad_out itself.
    Matrix* g_out = &grad_a_;
    Matrix* g_in = &grad_b_;
    const Scalar* branch_grad = grad_out.data();
    if (a != Scalar(1)) {
      MatrixMap scaled(g_out->data(), grad_out.rows(), grad_out.cols());
      scaled.noalias() = a * grad_out;
      branch_grad = g_out->data();
    }
    for (std::size_t j = last + 1; j-- > 0;) {
      const Shape si = shapes_[j], so = shapes_[j + 1];
      ConstMatrixMap child_in = j == 0 ? in : act(j - 1, batch);
      ConstMatrixMap child_out = act(j, batch);
      ConstMatrixMap child_grad_out(j == last ? branch_grad : g_out->data(), so.features, so.steps * batch);
      if (j == 0) {
        // The first child writes the input gradient of the branch straight
        // into grad_in; then the identity path adds grad_out.
        children_[0].layer->backward(child_in, child_out, child_grad_out, grad_in, ctx);
        if (grad_in) *grad_in += grad_out;
      } else {
        MatrixMap child_grad_in(g_in->data(), si.features, si.steps * batch);
        children_[j].layer->backward(child_in, child_out, child_grad_out, &child_grad_in, ctx);
        std::swap(g_out, g_in);
      }
    }
  }

 private:
  Scalar alpha() const { return learn_scale_ ? params_[0] : scale_; }
  ConstMatrixMap act(std::size_t j, Index batch) const {
    const Shape s = shapes_[j + 1];
    return ConstMatrixMap(acts_[j].data(), s.features, s.steps * batch);
  }
  MatrixMap act_mut(std::size_t j, Index batch) {
    const Shape s = shapes_[j + 1];
    return MatrixMap(acts_[j].data(), s.features, s.steps * batch);
  }

  std::vector<ChildLayer> children_;
  Scalar scale_;
  bool learn_scale_;
  std::vector<Shape> shapes_;  // shapes_[j] = input of child j; shapes_.back() = branch output
  std::vector<Index> param_offsets_, buffer_offsets_;
  Index param_count_ = 0, buffer_count_ = 0;
  Scalar* params_ = nullptr;
  Scalar* grads_ = nullptr;
  Index max_batch_ = 0;
  std::vector<Matrix> acts_;  // acts_[j] = output of child j
  Matrix grad_a_, grad_b_;    // ping-pong gradients between children
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
