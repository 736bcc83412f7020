// Test harness for layers: build one from a YAML node the way a run spec does,
// give it its own flat parameter/gradient/buffer vectors, and check its
// gradients against central finite differences.
//
// The finite-difference check works in float (the plugins' Scalar): each
// entry is moved by +-h, the loss L = sum(out .* R) for a fixed random R is
// summed in double, and the slope uses the step actually taken in float
// ((x+h) - (x-h) after rounding). Per tensor it compares the numerical and the
// analytic gradient by the relative L2 error ||num - ana|| / max(||num||, ||ana||)
// and by the worst single entry relative to the tensor's largest entry. With
// h = 1e-2 both stay below ~1e-4 for the bundled layers, while a gradient
// wrong by 1% or more exceeds the tolerance (2e-3 by default on the L2 error):
// the wrong_gradient_tanh test plugin proves it can fail.
#pragma once

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gradlab/core/registry.hpp"
#include "gradlab/core/spec.hpp"
// In gradlab's own test binary the helpers of tests/test_support.hpp come along
// (its tests rely on them); installed, for an out-of-tree plugin's conformance
// test, there is no such file.
#if __has_include("test_support.hpp")
#include "test_support.hpp"
#endif

namespace gradlab::test {

// The registry the harness builds initializers (and, by default, layers) from:
// the bundled plugins in gradlab's tests; in gradlab_conformance also the
// plugin under test. Defined by the test program.
const Registry& bundled_registry();

// Parameters of `node` validated against the component's schema, as the spec
// parser does (keys in `reserved` belong to the host).
inline Params params_from_node(const Registry::Entry& entry, const YAML::Node& node,
                               const std::set<std::string>& reserved) {
  const YAML::Node map = node.IsMap() ? node : YAML::Node(YAML::NodeType::Map);
  return validate_params(entry.info.name, entry.info.schema, map, reserved,
                         [](const YAML::Node& n) { return "line " + std::to_string(n.Mark().line + 1); });
}

inline std::shared_ptr<Initializer> make_initializer_from_node(const Registry& inits, const YAML::Node& node) {
  const std::string name = node.IsScalar() ? node.as<std::string>() : node["name"].as<std::string>();
  const auto& entry = inits.get(ComponentKind::initializer, name, "test");
  return inits.make_initializer(name, params_from_node(entry, node, {"name"}));
}

// A layer spec node `{type: X, init: ..., layers: [...], ...params}` -> a layer
// (children built recursively) and its own initializer, if it names one.
inline ChildLayer build_layer(const Registry& layers, const Registry& inits, const YAML::Node& node) {
  const std::string type = node.IsScalar() ? node.as<std::string>() : node["type"].as<std::string>();
  const auto& entry = layers.get(ComponentKind::layer, type, "test");
  std::set<std::string> reserved{"type", "init"};
  for (const auto& key : entry.info.initializer_keys) reserved.insert(key);
  std::vector<ChildLayer> children;
  if (entry.info.accepts_children) {
    reserved.insert("layers");
    for (const auto& child : node["layers"]) children.push_back(build_layer(layers, inits, child));
  }
  ChildLayer out;
  out.layer = layers.make_layer(type, params_from_node(entry, node, reserved), std::move(children));
  if (node.IsMap() && node["init"]) out.init = make_initializer_from_node(inits, node["init"]);
  // Initializers for parts of the weights (an RNN's recurrent_init), handed over
  // before initialize() as the host does.
  for (const auto& key : entry.info.initializer_keys)
    if (node.IsMap() && node[key]) out.layer->set_initializer(key, make_initializer_from_node(inits, node[key]));
  return out;
}

inline ChildLayer build_layer(const Registry& layers, const std::string& yaml) {
  return build_layer(layers, bundled_registry(), YAML::Load(yaml));
}

inline std::shared_ptr<Initializer> default_initializer() {
  return make_initializer_from_node(bundled_registry(), YAML::Load("{name: lecun_normal}"));
}

// A configured, bound and initialized layer over its own flat vectors.
struct LayerRig {
  std::shared_ptr<Layer> layer;
  Shape in, out;
  Index max_batch = 0;
  Vector params, grads, buffers;
  // Each example's valid steps for sequence input (ForwardContext::lengths),
  // or empty: every step valid. Its size must be the batch of each call.
  std::vector<std::int32_t> lengths;

  LayerRig(ChildLayer built, Shape input, Index batch, std::uint64_t seed)
      : layer(std::move(built.layer)), in(input), max_batch(batch) {
    out = layer->configure(input);
    params = Vector::Zero(layer->param_count());
    grads = Vector::Zero(layer->param_count());
    buffers = Vector::Zero(layer->buffer_count());
    layer->bind(VectorMap(params.data(), params.size()), VectorMap(grads.data(), grads.size()),
                VectorMap(buffers.data(), buffers.size()));
    Rng rng(seed);
    auto fallback = default_initializer();
    layer->initialize(built.init ? *built.init : *fallback, rng, InitSite{});
    layer->reserve(batch);
  }

  static ForwardContext context(Mode mode, bool update, Index batch) {
    ForwardContext ctx;
    ctx.mode = mode;
    ctx.update_statistics = update;
    ctx.batch = batch;
    return ctx;
  }
  // The context of a call on `batch` examples, with `lengths` when set.
  ForwardContext context_for(Mode mode, bool update, Index batch) const {
    ForwardContext ctx = context(mode, update, batch);
    if (!lengths.empty()) {
      EXPECT_EQ(Index(lengths.size()), batch) << "LayerRig::lengths does not match the batch";
      ctx.lengths = lengths.data();
    }
    return ctx;
  }
  Index batch_of(const Matrix& x) const { return x.cols() / in.steps; }

  // Output of one forward; `out` starts as NaN so a layer that reads it shows.
  Matrix forward(const Matrix& x, Mode mode, bool update = false) {
    Matrix y = Matrix::Constant(out.features, out.steps * batch_of(x), std::numeric_limits<Scalar>::quiet_NaN());
    MatrixMap ym(y.data(), y.rows(), y.cols());
    layer->forward(ConstMatrixMap(x.data(), x.rows(), x.cols()), ym, context_for(mode, update, batch_of(x)));
    return y;
  }
  // backward after forward(x) gave y; returns the input gradient (NaN-filled
  // first, so an entry the layer forgets to write shows up).
  // With input_gradient = false it passes grad_in = null, as the host does for
  // the first layer, and returns an empty matrix.
  // With `probe`, the call is a probe's backward (ForwardContext::lag_probe).
  Matrix backward(const Matrix& x, const Matrix& y, const Matrix& grad_out, Mode mode, bool input_gradient = true,
                  LagProbe* probe = nullptr) {
    Matrix gin = Matrix::Constant(x.rows(), x.cols(), std::numeric_limits<Scalar>::quiet_NaN());
    MatrixMap gm(gin.data(), gin.rows(), gin.cols());
    ForwardContext ctx = context_for(mode, false, batch_of(x));
    ctx.lag_probe = probe;
    layer->backward(ConstMatrixMap(x.data(), x.rows(), x.cols()), ConstMatrixMap(y.data(), y.rows(), y.cols()),
                    ConstMatrixMap(grad_out.data(), grad_out.rows(), grad_out.cols()), input_gradient ? &gm : nullptr,
                    ctx);
    if (!input_gradient) gin.resize(0, 0);
    return gin;
  }
};

inline Matrix random_matrix(Index rows, Index cols, Rng& rng, double lo = -1.0, double hi = 1.0) {
  std::uniform_real_distribution<double> u(lo, hi);
  Matrix m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(u(rng));
  return m;
}

// Moves every entry at least `gap` away from 0 (for rectifiers' kink).
inline void push_away_from_zero(Matrix& m, Scalar gap) {
  for (Index i = 0; i < m.size(); ++i) {
    Scalar& v = m.data()[i];
    v = v >= 0 ? v + gap : v - gap;
  }
}

struct TensorCheck {
  std::string name;
  double l2_error = 0.0;     // ||num - ana|| / max(||num||, ||ana||)
  double worst_entry = 0.0;  // max |num - ana| / max(max|num|, max|ana|)
  Index worst_index = 0;
  double numeric = 0.0, analytic = 0.0;  // at worst_index
};

struct GradientCheck {
  std::vector<TensorCheck> tensors;
  double tolerance = 0.0;
  bool ok() const {
    for (const auto& t : tensors)
      if (!(t.l2_error <= tolerance) || !(t.worst_entry <= 5 * tolerance)) return false;
    return true;
  }
  std::string report() const {
    std::ostringstream s;
    for (const auto& t : tensors)
      s << "  " << t.name << ": l2 error " << t.l2_error << ", worst entry " << t.worst_entry << " at " << t.worst_index
        << " (numeric " << t.numeric << ", analytic " << t.analytic << ")\n";
    return s.str();
  }
};

struct GradientCheckOptions {
  Scalar step = Scalar(1e-2);
  double tolerance = 2e-3;
  // Errors are measured relative to at least floor_relative times the largest
  // gradient entry of the whole check (input and all parameters), and at least
  // floor_absolute: a tensor whose true gradient is 0 or tiny next to the
  // others (a bias before batch_norm) must not fail on float rounding noise.
  double floor_relative = 1e-2;
  double floor_absolute = 1e-5;
};

// Compares the layer's input gradient and every parameter tensor's gradient
// with central differences of L = sum(out .* R), in `mode` (statistics never
// updated, so the function being differentiated stays fixed).
inline GradientCheck check_gradients(LayerRig& rig, Matrix x, const Matrix& r, Mode mode,
                                     const GradientCheckOptions& opt = {}) {
  auto loss = [&](const Matrix& input) {
    const Matrix y = rig.forward(input, mode, false);
    double sum = 0.0;
    for (Index i = 0; i < y.size(); ++i) sum += double(y.data()[i]) * double(r.data()[i]);
    return sum;
  };
  // Analytic.
  rig.grads.setZero();
  const Matrix y = rig.forward(x, mode, false);
  const Matrix gin = rig.backward(x, y, r, mode);
  const Vector gparams = rig.grads;
  double scale = gin.size() ? double(gin.cwiseAbs().maxCoeff()) : 0.0;
  if (gparams.size()) scale = std::max(scale, double(gparams.cwiseAbs().maxCoeff()));
  const double floor = std::max(opt.floor_absolute, opt.floor_relative * scale);

  auto compare = [&](const std::string& name, const Scalar* analytic, Scalar* values, Index n,
                     const std::function<double()>& f) {
    std::vector<double> num(static_cast<std::size_t>(n));
    for (Index k = 0; k < n; ++k) {
      const Scalar saved = values[k];
      values[k] = saved + opt.step;
      const double up = f();
      const Scalar hi = values[k];
      values[k] = saved - opt.step;
      const double down = f();
      const Scalar lo = values[k];
      values[k] = saved;
      num[static_cast<std::size_t>(k)] = (up - down) / (double(hi) - double(lo));
    }
    TensorCheck t;
    t.name = name;
    double diff2 = 0, num2 = 0, ana2 = 0, num_max = 0, ana_max = 0, diff_max = -1;
    for (Index k = 0; k < n; ++k) {
      const double a = analytic[k], nu = num[static_cast<std::size_t>(k)];
      const double d = std::isfinite(a) ? std::abs(a - nu) : std::numeric_limits<double>::infinity();
      diff2 += d * d;
      num2 += nu * nu;
      ana2 += a * a;
      num_max = std::max(num_max, std::abs(nu));
      ana_max = std::max(ana_max, std::abs(a));
      if (d > diff_max || std::isnan(d)) {
        diff_max = d;
        t.worst_index = k;
        t.numeric = nu;
        t.analytic = a;
      }
    }
    t.l2_error = std::sqrt(diff2) / std::max({std::sqrt(num2), std::sqrt(ana2), floor});
    t.worst_entry = diff_max / std::max({num_max, ana_max, floor});
    return t;
  };

  GradientCheck result;
  result.tolerance = opt.tolerance;
  result.tensors.push_back(compare("input", gin.data(), x.data(), x.size(), [&] { return loss(x); }));
  for (const auto& info : rig.layer->tensors()) {
    Index size = 1;
    for (auto d : info.shape) size *= d;
    result.tensors.push_back(compare("param " + info.name, gparams.data() + info.offset,
                                     rig.params.data() + info.offset, size, [&] { return loss(x); }));
  }
  return result;
}

}  // namespace gradlab::test
