// Test-only plugin: an identity layer that throws from its forward at a
// chosen call (counted per instance), a std::runtime_error or an int. A run
// must end as `failed` with the exception's text, not let it escape.
#include <gradlab/sdk.hpp>
#include <memory>
#include <stdexcept>

namespace {

using namespace gradlab;

class ThrowingLayer final : public ElementwiseLayer {
 public:
  ThrowingLayer(std::int64_t throw_at_call, bool standard) : throw_at_call_(throw_at_call), standard_(standard) {}

  void forward(ConstMatrixMap in, MatrixMap out, const ForwardContext&) override {
    if (++calls_ == throw_at_call_) {
      if (standard_) throw std::runtime_error("boom from throwing_layer");
      throw 42;  // not a std::exception
    }
    out = in;
  }
  void backward(ConstMatrixMap, ConstMatrixMap, ConstMatrixMap grad_out, MatrixMap* grad_in,
                const ForwardContext&) override {
    if (grad_in) *grad_in = grad_out;
  }

 private:
  std::int64_t throw_at_call_;
  bool standard_;
  std::int64_t calls_ = 0;
};

void register_throwing_layer(Registrar& r) {
  r.add_layer(
      {"throwing_layer",
       "identity layer that throws from forward call number throw_at_call (test only)",
       {ParamSpec::integer("throw_at_call", 1).at_least(1).describe("the forward call that throws (1 = first)"),
        ParamSpec::choice("kind", "std", {"std", "non_std"}).describe("std: a std::runtime_error; non_std: an int")}},
      [](const Params& p, std::vector<ChildLayer>) {
        return std::make_unique<ThrowingLayer>(p.integer("throw_at_call"), p.string("kind") == "std");
      });
}

}  // namespace

GRADLAB_PLUGIN("throwing_layer", "1.0.0", "Test-only identity layer that throws", register_throwing_layer)
