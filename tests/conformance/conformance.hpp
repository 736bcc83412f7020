// The conformance checks of gradlab's layer, initializer and optimizer suites,
// as functions any GoogleTest program can call: gradlab's own suites
// (tests/conformance/*_conformance_test.cpp) run them on every bundled
// component, and gradlab_conformance (conformance_main.cpp, built by
// gradlab_add_plugin(... CONFORMANCE)) runs them on the components of one
// plugin library. Installed as <gradlab/testing/conformance.hpp>.
//
// Each check reports through EXPECT/ASSERT, so it must run inside a test. The
// components are built from bundled_registry() (layer_harness.hpp), which the
// test program defines.
#pragma once

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include "layer_harness.hpp"

namespace gradlab::test {

// ---- layers ----

struct LayerExample {
  std::string label;        // test name suffix
  std::string layer;        // the registered layer name it exercises
  std::string yaml;         // the layer's spec node
  Shape input;              // per-example input shape
  Shape output;             // expected output shape ({0, 0}: whatever configure() returns)
  bool avoid_kink = false;  // keep inputs away from 0 (rectifiers are not differentiable there)
};

inline void PrintTo(const LayerExample& e, std::ostream* os) { *os << e.label << " " << e.yaml; }

constexpr Index kConformanceBatch = 5;
constexpr std::uint64_t kConformanceSeed = 42;

inline Index tensor_size(const TensorInfo& t) {
  Index n = 1;
  for (auto d : t.shape) n *= d;
  return n;
}

// Names unique, each tensor inside [0, count), no two overlapping, all covered.
inline void expect_tiling(const std::vector<TensorInfo>& tensors, Index count, const std::string& what) {
  std::set<std::string> names;
  std::vector<int> cover(static_cast<std::size_t>(count), 0);
  Index total = 0;
  for (const auto& t : tensors) {
    EXPECT_TRUE(names.insert(t.name).second) << what << " tensor name '" << t.name << "' appears twice";
    EXPECT_FALSE(t.name.empty()) << what << " tensor without a name";
    const Index n = tensor_size(t);
    total += n;
    ASSERT_GE(t.offset, 0) << t.name;
    ASSERT_LE(t.offset + n, count) << what << " tensor '" << t.name << "' runs past the block";
    for (Index k = t.offset; k < t.offset + n; ++k) cover[static_cast<std::size_t>(k)]++;
  }
  EXPECT_EQ(total, count) << what << " count differs from the sum of its tensors' sizes";
  for (Index k = 0; k < count; ++k) EXPECT_EQ(cover[static_cast<std::size_t>(k)], 1) << what << " scalar " << k;
}

inline bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(Scalar) * std::size_t(a.size())) == 0);
}
inline bool same_bits(const Vector& a, const Vector& b) {
  return a.size() == b.size() &&
         (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(Scalar) * std::size_t(a.size())) == 0);
}

// One example's rig, inputs and output weights, shared by the layer checks.
struct LayerCheck {
  const LayerExample& ex;

  LayerRig rig(std::uint64_t seed = kConformanceSeed) const {
    return LayerRig(build_layer(bundled_registry(), ex.yaml), ex.input, kConformanceBatch, seed);
  }
  Matrix input(Rng& rng) const {
    Matrix x = random_matrix(ex.input.features, ex.input.steps * kConformanceBatch, rng, -1.5, 1.5);
    if (ex.avoid_kink) push_away_from_zero(x, Scalar(0.1));
    return x;
  }
  Matrix output_weights(const LayerRig& r, Rng& rng) const {
    return random_matrix(r.out.features, r.out.steps * kConformanceBatch, rng);
  }
  // Moves parameters off their initial values (batch-norm gamma 1, beta 0,
  // alpha = scale) so that the check sees generic values, and moves the
  // running statistics with a few training batches.
  void perturb(LayerRig& r, Rng& rng) const {
    for (Index k = 0; k < r.params.size(); ++k)
      r.params[k] += static_cast<Scalar>(std::uniform_real_distribution<double>(-0.3, 0.3)(rng));
    for (int i = 0; i < 3; ++i) {
      Matrix x = input(rng);
      x = (x.array() * Scalar(1.5) + Scalar(0.4)).matrix();
      r.forward(x, Mode::train, true);
    }
  }
};

// (a) configure() gives the expected shape; parameter and buffer tensors have
// unique names and tile their blocks.
inline void check_layer_shapes_and_tensors(const LayerExample& ex) {
  auto built = build_layer(bundled_registry(), ex.yaml);
  const Shape out = built.layer->configure(ex.input);
  if (ex.output.features > 0) {
    EXPECT_EQ(out.features, ex.output.features);
    EXPECT_EQ(out.steps, ex.output.steps);
  }
  EXPECT_GT(out.features, 0);
  EXPECT_GT(out.steps, 0);
  expect_tiling(built.layer->tensors(), built.layer->param_count(), "parameter");
  expect_tiling(built.layer->buffer_tensors(), built.layer->buffer_count(), "buffer");
  // Parameter and buffer names together must be unique: they share one state_dict.
  std::set<std::string> all;
  for (const auto& t : built.layer->tensors()) all.insert(t.name);
  for (const auto& t : built.layer->buffer_tensors())
    EXPECT_TRUE(all.insert(t.name).second) << "buffer '" << t.name << "' has a parameter's name";
}

// (b) input and parameter gradients against central finite differences, in
// train and eval mode.
inline void check_layer_gradients(const LayerExample& ex) {
  const LayerCheck c{ex};
  Rng rng(7);
  LayerRig r = c.rig();
  c.perturb(r, rng);
  for (Mode mode : {Mode::train, Mode::eval}) {
    SCOPED_TRACE(mode == Mode::train ? "train mode" : "eval mode");
    const Matrix x = c.input(rng);
    const Matrix w = c.output_weights(r, rng);
    const Vector buffers_before = r.buffers;
    const auto check = check_gradients(r, x, w, mode);
    if (std::getenv("GRADLAB_SHOW_GRADCHECK")) std::cout << ex.label << ":\n" << check.report();
    EXPECT_TRUE(check.ok()) << ex.label << " gradient mismatch (tolerance " << check.tolerance << "):\n"
                            << check.report();
    EXPECT_TRUE(same_bits(r.buffers, buffers_before)) << "the gradient check changed buffers";
  }
}

// (c) two instances with the same seed give bit-identical parameters, buffers and outputs.
inline void check_layer_determinism(const LayerExample& ex) {
  const LayerCheck c{ex};
  LayerRig a = c.rig(kConformanceSeed), b = c.rig(kConformanceSeed);
  EXPECT_TRUE(same_bits(a.params, b.params));
  EXPECT_TRUE(same_bits(a.buffers, b.buffers));
  Rng rng(3);
  const Matrix x = c.input(rng);
  EXPECT_TRUE(same_bits(a.forward(x, Mode::train, true), b.forward(x, Mode::train, true)));
  EXPECT_TRUE(same_bits(a.buffers, b.buffers));
  const Matrix ya = a.forward(x, Mode::eval), yb = b.forward(x, Mode::eval);
  EXPECT_TRUE(same_bits(ya, yb));
  EXPECT_TRUE(ya.allFinite());
}

// (d) backward accumulates parameter gradients, overwrites the input gradient,
// uses the latest forward only, and gives the same parameter gradients when
// grad_in is null (first layer).
inline void check_layer_backward_accumulates(const LayerExample& ex) {
  const LayerCheck c{ex};
  Rng rng(11);
  LayerRig a = c.rig(), b = c.rig();
  const Matrix x1 = c.input(rng), x2 = c.input(rng);
  const Matrix w = c.output_weights(a, rng);
  for (Mode mode : {Mode::train, Mode::eval}) {
    SCOPED_TRACE(mode == Mode::train ? "train mode" : "eval mode");
    // a: forward on another batch first, then forward/backward on x2.
    a.grads.setZero();
    a.forward(x1, mode);
    const Matrix ya = a.forward(x2, mode);
    const Matrix gin1 = a.backward(x2, ya, w, mode);
    const Vector g1 = a.grads;
    EXPECT_TRUE(gin1.allFinite()) << "backward left input-gradient entries unwritten";
    // b: a fresh instance, only x2. Same numbers: nothing stale was read.
    b.grads.setZero();
    const Matrix yb = b.forward(x2, mode);
    const Matrix ginb = b.backward(x2, yb, w, mode);
    EXPECT_TRUE(same_bits(ya, yb));
    EXPECT_TRUE(same_bits(gin1, ginb));
    EXPECT_TRUE(same_bits(a.grads, b.grads));
    // A second backward adds the same gradient again; grad_in is overwritten.
    const Matrix gin2 = a.backward(x2, ya, w, mode);
    EXPECT_TRUE(same_bits(gin1, gin2)) << "the input gradient must be written, not accumulated";
    const double scale = g1.size() ? std::max<double>(1e-6, g1.cwiseAbs().maxCoeff()) : 1.0;
    for (Index k = 0; k < g1.size(); ++k)
      ASSERT_NEAR(a.grads[k], 2 * g1[k], 1e-5 * scale) << "parameter gradient " << k << " not accumulated";
    // Without an input gradient (first layer of a network) the parameter gradients are the same.
    LayerRig r = c.rig();
    r.grads.setZero();
    const Matrix yc = r.forward(x2, mode);
    r.backward(x2, yc, w, mode, false);
    EXPECT_TRUE(same_bits(r.grads, b.grads)) << "parameter gradients differ when grad_in is null";
    if (g1.size() > 0) {
      EXPECT_GT(g1.cwiseAbs().maxCoeff(), 0) << "a parameterised layer produced an all-zero gradient";
    }
  }
}

// (e) a forward with update_statistics = false changes no buffer, in either mode.
inline void check_layer_forward_without_update(const LayerExample& ex) {
  const LayerCheck c{ex};
  Rng rng(5);
  LayerRig r = c.rig();
  c.perturb(r, rng);
  const Vector before = r.buffers;
  const Matrix x = c.input(rng);
  r.forward(x, Mode::train, false);
  EXPECT_TRUE(same_bits(r.buffers, before)) << "train-mode forward with update_statistics=false changed buffers";
  r.forward(x, Mode::eval, false);
  r.forward(x, Mode::eval, true);  // eval never updates statistics
  EXPECT_TRUE(same_bits(r.buffers, before)) << "eval-mode forward changed buffers";
}

// (f) saturation() is a fraction.
inline void check_layer_saturation(const LayerExample& ex) {
  const LayerCheck c{ex};
  Rng rng(9);
  LayerRig r = c.rig();
  const Matrix x = c.input(rng);
  const Matrix y = r.forward(x, Mode::train);
  const double s =
      r.layer->saturation(ConstMatrixMap(x.data(), x.rows(), x.cols()), ConstMatrixMap(y.data(), y.rows(), y.cols()),
                          LayerRig::context(Mode::train, false, r.batch_of(x)));
  EXPECT_GE(s, 0.0);
  EXPECT_LE(s, 1.0);
}

// ---- initializers ----

// Parameters of a component from a YAML map, validated against its schema.
inline Params conformance_params(ComponentKind kind, const std::string& name, const std::string& yaml) {
  const auto& entry = bundled_registry().get(kind, name, "test");
  return validate_params(std::string(to_string(kind)) + " '" + name + "'", entry.info.schema, YAML::Load(yaml), {},
                         [](const YAML::Node&) { return std::string("<test>"); });
}

inline std::shared_ptr<Initializer> make_conformance_initializer(const std::string& name, const std::string& yaml) {
  return bundled_registry().make_initializer(name, conformance_params(ComponentKind::initializer, name, yaml));
}

inline RowMatrix filled(const Initializer& init, Index rows, Index cols, std::uint64_t seed,
                        const InitSite& site = {}) {
  RowMatrix w = RowMatrix::Constant(rows, cols, std::numeric_limits<Scalar>::quiet_NaN());
  Rng rng(seed);
  init.fill(RowMatrixMap(w.data(), rows, cols), rng, site);
  return w;
}

// Same seed, same weights; another seed, other weights; a second object with
// the same parameters agrees (no hidden state). `site`: where the matrix sits
// (a depth-aware initializer's InitSite).
inline void check_initializer_determinism(const std::string& name, const std::string& params,
                                          const InitSite& site = {}) {
  auto init = make_conformance_initializer(name, params);
  for (auto [rows, cols] : {std::pair<Index, Index>{20, 13}, {13, 20}, {1, 7}}) {
    const auto a = filled(*init, rows, cols, 42, site), b = filled(*init, rows, cols, 42, site);
    const auto d = filled(*init, rows, cols, 43, site);
    EXPECT_TRUE(a == b) << name << " " << params << ": same seed gave different weights";
    EXPECT_FALSE(a == d) << name << " " << params << ": seeds 42 and 43 gave the same weights";
    EXPECT_TRUE(filled(*make_conformance_initializer(name, params), rows, cols, 42, site) == a) << name;
  }
}

// Every entry of any shape written with a finite value; an empty matrix is no error.
inline void check_initializer_writes_every_entry(const std::string& name, const std::string& params,
                                                 const InitSite& site = {}) {
  auto init = make_conformance_initializer(name, params);
  for (auto [rows, cols] : {std::pair<Index, Index>{1, 1}, {7, 3}, {3, 7}, {5, 5}, {1, 9}, {9, 1}}) {
    const auto w = filled(*init, rows, cols, 7, site);
    EXPECT_TRUE(w.allFinite()) << name << " left a NaN in a " << rows << "x" << cols << " matrix";
  }
  RowMatrix empty(0, 5);
  Rng rng(1);
  EXPECT_NO_THROW(init->fill(RowMatrixMap(empty.data(), 0, 5), rng, InitSite{})) << name;
}

// ---- optimizers ----

// The quadratic f(x) = 0.5 * sum_i a_i x_i^2 the optimizer checks use.
inline const std::vector<double>& quadratic_a() {
  static const std::vector<double> a = {1.0, 4.0, 0.5, 2.0};
  return a;
}
inline const std::vector<double>& quadratic_x0() {
  static const std::vector<double> x0 = {1.0, -0.5, 2.0, -1.5};
  return x0;
}
inline double quadratic_loss(const std::vector<double>& x) {
  double f = 0;
  for (std::size_t i = 0; i < x.size(); ++i) f += 0.5 * quadratic_a()[i] * x[i] * x[i];
  return f;
}

// Takes `steps` steps from quadratic_x0() (after reset); returns x after each step.
inline std::vector<std::vector<double>> run_quadratic(Optimizer& opt, int steps) {
  const auto& a = quadratic_a();
  const auto& x0 = quadratic_x0();
  const Index n = Index(x0.size());
  Vector x(n), g(n);
  for (Index i = 0; i < n; ++i) x[i] = Scalar(x0[i]);
  opt.reset(n);
  std::vector<std::vector<double>> out;
  for (int t = 1; t <= steps; ++t) {
    std::vector<double> xd(x.data(), x.data() + n);
    for (Index i = 0; i < n; ++i) g[i] = Scalar(a[std::size_t(i)]) * x[i];
    StepInfo info;
    info.iteration = t;
    info.loss = quadratic_loss(xd);
    opt.step(VectorMap(x.data(), n), ConstVectorMap(g.data(), n), info);
    out.emplace_back(x.data(), x.data() + n);
  }
  return out;
}

inline std::shared_ptr<Optimizer> make_conformance_optimizer(const std::string& name, const std::string& yaml) {
  return bundled_registry().make_optimizer(name, conformance_params(ComponentKind::optimizer, name, yaml));
}

// The state is fully re-zeroed by reset(): a step after reset equals the first
// step of a fresh optimizer.
inline void check_optimizer_reset_clears_state(const std::string& name, const std::string& params) {
  auto fresh = make_conformance_optimizer(name, params);
  const auto first = run_quadratic(*fresh, 1);
  auto used = make_conformance_optimizer(name, params);
  run_quadratic(*used, 4);
  const auto again = run_quadratic(*used, 1);  // run_quadratic calls reset()
  EXPECT_EQ(again[0], first[0]) << name << " " << params;
}

// On the convex quadratic every iterate stays finite, and 100 steps end well
// below the start. (A zero gradient may still move the weights: weight decay.)
inline void check_optimizer_descends(const std::string& name, const std::string& params) {
  auto opt = make_conformance_optimizer(name, params);
  const auto path = run_quadratic(*opt, 100);
  for (std::size_t t = 0; t < path.size(); ++t)
    for (double v : path[t]) ASSERT_TRUE(std::isfinite(v)) << name << " " << params << ": step " << t + 1;
  const double start = quadratic_loss(quadratic_x0()), end = quadratic_loss(path.back());
  EXPECT_LT(end, 0.95 * start) << name << " " << params << ": 100 steps on a convex quadratic took the loss from "
                               << start << " to " << end;
}

}  // namespace gradlab::test
