// The recurrent layers (rnn, lstm) on what the conformance suite does not see:
// padded sequences (ForwardContext::lengths), truncated BPTT against an
// independent reference, and the error-flow-by-lag probe (LagProbe).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "conformance/layer_harness.hpp"
#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

bool have(const char* layer) { return bundled_registry().find(ComponentKind::layer, layer) != nullptr; }
#define REQUIRE_LAYERS() \
  if (!have("rnn") || !have("lstm")) GTEST_SKIP() << "rnn/lstm not built"

Index offset_of(const Layer& layer, const std::string& name) {
  for (const auto& t : layer.tensors())
    if (t.name == name) return t.offset;
  throw std::runtime_error("no tensor " + name);
}

// Steps [0, length) of example b of a time-major batch of n examples.
Matrix example_steps(const Matrix& x, Index n, Index b, Index length, Index rows_steps) {
  Matrix out = Matrix::Zero(x.rows(), rows_steps);
  for (Index t = 0; t < length; ++t) out.col(t) = x.col(t * n + b);
  return out;
}

// ---- padding ----

struct PaddingCase {
  std::string yaml;  // the layer, with `sequence: SEQ`
  bool all;
  bool truncated = false;  // tbptt shorter than the longest sequence: not the gradient of the loss
};

std::vector<PaddingCase> padding_cases() {
  std::vector<PaddingCase> out;
  for (bool all : {false, true}) {
    const std::string seq = all ? "all" : "last";
    out.push_back({"{type: rnn, units: 3, sequence: " + seq + "}", all});
    out.push_back({"{type: rnn, units: 3, activation: sigmoid, tbptt: 2, sequence: " + seq + "}", all, true});
    out.push_back({"{type: rnn, units: 3, activation: sigmoid, tbptt: 5, sequence: " + seq + "}", all});
    out.push_back({"{type: lstm, units: 3, sequence: " + seq + "}", all});
    out.push_back({"{type: lstm, units: 2, forget_gate: false, squash: lstm1997, sequence: " + seq + "}", all});
    out.push_back({"{type: lstm, units: 3, tbptt: 3, sequence: " + seq + "}", all, true});
  }
  return out;
}

// The same layer as `yaml` but outputting every step (same tensors).
std::string as_all(const std::string& yaml) {
  std::string s = yaml;
  const auto at = s.find("sequence: last");
  if (at != std::string::npos) s.replace(at, std::string("sequence: last").size(), "sequence: all");
  return s;
}

constexpr Index kIn = 2, kSteps = 5;
const std::vector<std::int32_t> kLengths{5, 3, 1, 4};

// (a) A padded batch gives, per example, what the example alone (truncated to
// its length) gives: outputs, input gradients and, summed, parameter
// gradients. The reference is an instance configured for exactly `length`
// steps (two for a one-step example, whose second step gets no output
// gradient), without any lengths.
TEST(RecurrentPadding, BatchEqualsEachExampleAloneTruncatedToItsLength) {
  REQUIRE_LAYERS();
  for (const auto& pc : padding_cases()) {
    SCOPED_TRACE(pc.yaml);
    const Index n = Index(kLengths.size());
    LayerRig rig(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, n, 3);
    rig.lengths = kLengths;
    Rng rng(17);
    for (Index k = 0; k < rig.params.size(); ++k)
      rig.params[k] += Scalar(std::uniform_real_distribution<double>(-0.3, 0.3)(rng));
    const Matrix x = random_matrix(kIn, kSteps * n, rng, -1.5, 1.5);
    const Matrix r = random_matrix(rig.out.features, rig.out.steps * n, rng);
    rig.grads.setZero();
    const Matrix y = rig.forward(x, Mode::train);
    const Matrix gin = rig.backward(x, y, r, Mode::train);
    Vector summed = Vector::Zero(rig.params.size());
    for (Index b = 0; b < n; ++b) {
      SCOPED_TRACE("example " + std::to_string(b));
      const Index length = kLengths[std::size_t(b)], steps = std::max<Index>(length, 2);
      LayerRig one(build_layer(bundled_registry(), as_all(pc.yaml)), {kIn, steps}, 1, 3);
      one.params = rig.params;
      one.grads.setZero();
      const Matrix xb = example_steps(x, n, b, length, steps);
      const Matrix yb = one.forward(xb, Mode::train);
      Matrix rb = Matrix::Zero(rig.out.features, steps);
      if (pc.all)
        for (Index t = 0; t < length; ++t) rb.col(t) = r.col(t * n + b);
      else
        rb.col(length - 1) = r.col(b);
      const Matrix gb = one.backward(xb, yb, rb, Mode::train);
      summed += one.grads;
      if (pc.all) {
        for (Index t = 0; t < kSteps; ++t) {
          if (t < length)
            EXPECT_TRUE(y.col(t * n + b).isApprox(yb.col(t), 1e-5f)) << "step " << t;
          else
            EXPECT_TRUE(y.col(t * n + b).isZero(0)) << "padded step " << t << " output " << y.col(t * n + b);
        }
      } else {
        EXPECT_TRUE(y.col(b).isApprox(yb.col(length - 1), 1e-5f)) << y.col(b) << " vs " << yb.col(length - 1);
      }
      for (Index t = 0; t < kSteps; ++t) {
        if (t < length)
          EXPECT_LE((gin.col(t * n + b) - gb.col(t)).norm(), 1e-5 * std::max<double>(1.0, gb.col(t).norm()))
              << "grad_in at step " << t;
        else
          EXPECT_TRUE(gin.col(t * n + b).isZero(0)) << "grad_in at padded step " << t;
      }
    }
    EXPECT_LE((rig.grads - summed).norm(), 1e-5 * std::max<double>(1.0, summed.norm()))
        << "batch:\n"
        << rig.grads.transpose() << "\nsum of examples:\n"
        << summed.transpose();
    EXPECT_GT(summed.norm(), 0.0);
  }
}

// (b) Values at padded steps change nothing: outputs, parameter gradients,
// the input gradient at valid steps (and the zero there), the lag probe.
TEST(RecurrentPadding, PaddedInputValuesChangeNothing) {
  REQUIRE_LAYERS();
  for (const auto& pc : padding_cases()) {
    SCOPED_TRACE(pc.yaml);
    const Index n = Index(kLengths.size());
    LayerRig rig(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, n, 5);
    rig.lengths = kLengths;
    Rng rng(23);
    const Matrix x = random_matrix(kIn, kSteps * n, rng, -1.5, 1.5);
    Matrix x2 = x;
    for (Index c = 0; c < x2.cols(); ++c)
      if (c / n >= kLengths[std::size_t(c % n)]) x2.col(c).setConstant(Scalar(1e3) * Scalar(c % 3 ? 1 : -1));
    ASSERT_NE(x, x2);
    const Matrix r = random_matrix(rig.out.features, rig.out.steps * n, rng);
    auto run = [&](const Matrix& input, Matrix& y, Matrix& gin, Vector& grads, LagProbe& probe) {
      rig.grads.setZero();
      probe.hidden.assign(kSteps, 0.0);
      probe.cell.assign(kSteps, 0.0);
      y = rig.forward(input, Mode::train);
      gin = rig.backward(input, y, r, Mode::train, true, &probe);
      grads = rig.grads;
    };
    Matrix y1, y2, g1, g2;
    Vector p1, p2;
    LagProbe l1, l2;
    run(x, y1, g1, p1, l1);
    run(x2, y2, g2, p2, l2);
    EXPECT_EQ(y1, y2);
    EXPECT_EQ(p1, p2);
    EXPECT_EQ(g1, g2);
    EXPECT_EQ(l1.hidden, l2.hidden);
    EXPECT_EQ(l1.cell, l2.cell);
    for (Index c = 0; c < g1.cols(); ++c)
      if (c / n >= kLengths[std::size_t(c % n)]) EXPECT_TRUE(g1.col(c).isZero(0)) << "column " << c;
  }
}

// (c) The finite-difference check of every tensor, with lengths set. A
// truncated BPTT is not the loss's gradient: its cases are checked against the
// truncated references below instead (and here on the inputs of the window).
TEST(RecurrentPadding, GradientsMatchFiniteDifferencesWithLengths) {
  REQUIRE_LAYERS();
  for (const auto& pc : padding_cases()) {
    if (pc.truncated) continue;
    SCOPED_TRACE(pc.yaml);
    const Index n = Index(kLengths.size());
    LayerRig rig(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, n, 9);
    rig.lengths = kLengths;
    Rng rng(31);
    for (Index k = 0; k < rig.params.size(); ++k)
      rig.params[k] += Scalar(std::uniform_real_distribution<double>(-0.3, 0.3)(rng));
    const Matrix x = random_matrix(kIn, kSteps * n, rng, -1.5, 1.5);
    const Matrix r = random_matrix(rig.out.features, rig.out.steps * n, rng);
    const auto check = check_gradients(rig, x, r, Mode::train);
    EXPECT_TRUE(check.ok()) << check.report();
  }
}

// ---- an independent Elman reference in double ----

struct ElmanRef {
  Eigen::MatrixXd Wih, Whh;
  Eigen::VectorXd b;  // b_ih + b_hh
  // tanh Elman on one example's steps [0, length); returns h per step.
  std::vector<Eigen::VectorXd> forward(const Eigen::MatrixXd& x, Index length) const {
    std::vector<Eigen::VectorXd> h;
    Eigen::VectorXd prev = Eigen::VectorXd::Zero(Whh.rows());
    for (Index t = 0; t < length; ++t) {
      prev = (Wih * x.col(t) + Whh * prev + b).array().tanh().matrix();
      h.push_back(prev);
    }
    return h;
  }
  // Truncated BPTT (K = 0: full) of sum(out .* r) for sequence: last (r one
  // column) or all (r per step). Accumulates into the gradients, returns grad_in.
  Eigen::MatrixXd backward(const Eigen::MatrixXd& x, Index length, const Eigen::MatrixXd& r, bool all, Index K,
                           Eigen::MatrixXd& gWih, Eigen::MatrixXd& gWhh, Eigen::VectorXd& gb) const {
    const auto h = forward(x, length);
    Eigen::MatrixXd gin = Eigen::MatrixXd::Zero(x.rows(), x.cols());
    Eigen::VectorXd from_next = Eigen::VectorXd::Zero(Whh.rows());
    const Index first = K > 0 ? std::max<Index>(0, length - K) : 0;
    for (Index t = length - 1; t >= first; --t) {
      Eigen::VectorXd dh = from_next;
      if (all) dh += r.col(t);
      if (!all && t == length - 1) dh += r.col(0);
      const Eigen::VectorXd dz = dh.array() * (1.0 - h[std::size_t(t)].array().square());
      gWih += dz * x.col(t).transpose();
      if (t > 0) gWhh += dz * h[std::size_t(t - 1)].transpose();
      gb += dz;
      gin.col(t) = Wih.transpose() * dz;
      from_next = Whh.transpose() * dz;
    }
    return gin;
  }
};

ElmanRef elman_ref(const LayerRig& rig) {
  const Layer& l = *rig.layer;
  const Index H = rig.out.features, I = rig.in.features;
  ElmanRef ref;
  ref.Wih = ConstRowMatrixMap(rig.params.data() + offset_of(l, "weight_ih_l0"), H, I).cast<double>();
  ref.Whh = ConstRowMatrixMap(rig.params.data() + offset_of(l, "weight_hh_l0"), H, H).cast<double>();
  ref.b = (ConstVectorMap(rig.params.data() + offset_of(l, "bias_ih_l0"), H) +
           ConstVectorMap(rig.params.data() + offset_of(l, "bias_hh_l0"), H))
              .cast<double>();
  return ref;
}

// tbptt K = 2 on T = 6: the gradients are those of a BPTT that stops after the
// last two valid steps of each sequence; the input gradient is exactly zero
// before them and nonzero in them; the probe reports lags 0 and 1 only.
TEST(RecurrentTbptt, MatchesTruncatedReferenceAndCutsTheInputGradient) {
  REQUIRE_LAYERS();
  const Index T = 6, I = 3, H = 4, K = 2;
  const std::vector<std::int32_t> lengths{6, 4, 6};
  const Index n = Index(lengths.size());
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "sequence: all" : "sequence: last");
    LayerRig rig(build_layer(bundled_registry(),
                             std::string("{type: rnn, units: 4, tbptt: 2, sequence: ") + (all ? "all" : "last") + "}"),
                 {I, T}, n, 2);
    rig.lengths = lengths;
    Rng rng(5);
    for (Index k = 0; k < rig.params.size(); ++k)
      rig.params[k] += Scalar(std::uniform_real_distribution<double>(-0.2, 0.2)(rng));
    const Matrix x = random_matrix(I, T * n, rng, -1, 1);
    const Matrix r = random_matrix(H, rig.out.steps * n, rng);
    rig.grads.setZero();
    LagProbe probe;
    probe.hidden.assign(T, 0.0);
    probe.cell.assign(T, 0.0);
    const Matrix y = rig.forward(x, Mode::train);
    const Matrix gin = rig.backward(x, y, r, Mode::train, true, &probe);

    const ElmanRef ref = elman_ref(rig);
    Eigen::MatrixXd gWih = Eigen::MatrixXd::Zero(H, I), gWhh = Eigen::MatrixXd::Zero(H, H);
    Eigen::VectorXd gb = Eigen::VectorXd::Zero(H);
    Eigen::MatrixXd full_gWih = gWih, full_gWhh = gWhh;
    Eigen::VectorXd full_gb = gb;
    for (Index b = 0; b < n; ++b) {
      const Index L = lengths[std::size_t(b)];
      const Eigen::MatrixXd xb = example_steps(x, n, b, L, T).cast<double>();
      Eigen::MatrixXd rb(H, all ? T : 1);
      for (Index t = 0; t < rb.cols(); ++t) rb.col(t) = r.col(all ? t * n + b : b).cast<double>();
      const Eigen::MatrixXd gref = ref.backward(xb, L, rb, all, K, gWih, gWhh, gb);
      ref.backward(xb, L, rb, all, 0, full_gWih, full_gWhh, full_gb);
      for (Index t = 0; t < T; ++t) {
        const Eigen::VectorXd got = gin.col(t * n + b).cast<double>();
        if (t < L - K || t >= L) {
          EXPECT_TRUE(got.isZero(0)) << "example " << b << " step " << t << " (outside the window): " << got;
        } else {
          EXPECT_GT(got.norm(), 1e-6) << "example " << b << " step " << t << " (inside the window)";
          EXPECT_LE((got - gref.col(t)).norm(), 1e-5) << "example " << b << " step " << t;
        }
      }
    }
    const Layer& l = *rig.layer;
    auto grad = [&](const std::string& name, Index rows, Index cols) {
      return ConstRowMatrixMap(rig.grads.data() + offset_of(l, name), rows, cols).cast<double>().eval();
    };
    EXPECT_LE((grad("weight_ih_l0", H, I) - gWih).norm(), 1e-5);
    EXPECT_LE((grad("weight_hh_l0", H, H) - gWhh).norm(), 1e-5);
    EXPECT_LE((grad("bias_ih_l0", H, 1) - gb).norm(), 1e-5);
    EXPECT_LE((grad("bias_hh_l0", H, 1) - gb).norm(), 1e-5);
    // The truncation matters here: the full-BPTT gradient is different.
    EXPECT_GT((full_gWhh - gWhh).norm(), 1e-3);
    // The probe sees the truncation.
    for (Index k = 0; k < T; ++k) {
      if (k < K)
        EXPECT_GT(probe.hidden[std::size_t(k)], 0.0) << "lag " << k;
      else
        EXPECT_EQ(probe.hidden[std::size_t(k)], 0.0) << "lag " << k;
    }
    EXPECT_TRUE(probe.reported);
    EXPECT_FALSE(probe.has_cell);
  }
}

// Without truncation the layer is the Elman reference (outputs and gradients).
TEST(RecurrentTbptt, FullBpttMatchesTheReference) {
  REQUIRE_LAYERS();
  const Index T = 5, I = 2, H = 3, n = 2;
  LayerRig rig(build_layer(bundled_registry(), "{type: rnn, units: 3, sequence: all}"), {I, T}, n, 4);
  Rng rng(8);
  const Matrix x = random_matrix(I, T * n, rng);
  const Matrix r = random_matrix(H, T * n, rng);
  rig.grads.setZero();
  const Matrix y = rig.forward(x, Mode::train);
  const Matrix gin = rig.backward(x, y, r, Mode::train);
  const ElmanRef ref = elman_ref(rig);
  Eigen::MatrixXd gWih = Eigen::MatrixXd::Zero(H, I), gWhh = Eigen::MatrixXd::Zero(H, H);
  Eigen::VectorXd gb = Eigen::VectorXd::Zero(H);
  for (Index b = 0; b < n; ++b) {
    const Eigen::MatrixXd xb = example_steps(x, n, b, T, T).cast<double>();
    const auto h = ref.forward(xb, T);
    Eigen::MatrixXd rb(H, T);
    for (Index t = 0; t < T; ++t) {
      rb.col(t) = r.col(t * n + b).cast<double>();
      EXPECT_LE((y.col(t * n + b).cast<double>() - h[std::size_t(t)]).norm(), 1e-6);
    }
    const Eigen::MatrixXd gref = ref.backward(xb, T, rb, true, 0, gWih, gWhh, gb);
    for (Index t = 0; t < T; ++t) EXPECT_LE((gin.col(t * n + b).cast<double>() - gref.col(t)).norm(), 1e-5);
  }
  EXPECT_LE(
      (ConstRowMatrixMap(rig.grads.data() + offset_of(*rig.layer, "weight_hh_l0"), H, H).cast<double>() - gWhh).norm(),
      1e-5);
}

// An LSTM (forget gate, tanh; gates i, f, g, o) in double, with truncation.
struct LstmRef {
  Eigen::MatrixXd Wih, Whh;
  Eigen::VectorXd b;
  Index H = 0;
  static Eigen::ArrayXd sig(const Eigen::ArrayXd& z) { return 1.0 / (1.0 + (-z).exp()); }
  Eigen::MatrixXd backward(const Eigen::MatrixXd& x, Index length, const Eigen::MatrixXd& r, bool all, Index K,
                           Eigen::MatrixXd& gWih, Eigen::MatrixXd& gWhh, Eigen::VectorXd& gb,
                           std::vector<Eigen::VectorXd>* outputs = nullptr) const {
    std::vector<Eigen::ArrayXd> I, F, G, O, C, Hs;
    Eigen::VectorXd h = Eigen::VectorXd::Zero(H);
    Eigen::ArrayXd c = Eigen::ArrayXd::Zero(H);
    for (Index t = 0; t < length; ++t) {
      const Eigen::ArrayXd z = (Wih * x.col(t) + Whh * h + b).array();
      I.push_back(sig(z.segment(0, H)));
      F.push_back(sig(z.segment(H, H)));
      G.push_back(z.segment(2 * H, H).tanh());
      O.push_back(sig(z.segment(3 * H, H)));
      c = F.back() * c + I.back() * G.back();
      C.push_back(c);
      h = (O.back() * c.tanh()).matrix();
      Hs.push_back(h.array());
      if (outputs) outputs->push_back(h);
    }
    Eigen::MatrixXd gin = Eigen::MatrixXd::Zero(x.rows(), x.cols());
    Eigen::VectorXd dh_next = Eigen::VectorXd::Zero(H);
    Eigen::ArrayXd dc_next = Eigen::ArrayXd::Zero(H);
    const Index first = K > 0 ? std::max<Index>(0, length - K) : 0;
    for (Index t = length - 1; t >= first; --t) {
      const std::size_t u = std::size_t(t);
      Eigen::ArrayXd dh = dh_next.array();
      if (all) dh += r.col(t).array();
      if (!all && t == length - 1) dh += r.col(0).array();
      const Eigen::ArrayXd tc = C[u].tanh();
      const Eigen::ArrayXd dc = dc_next + dh * O[u] * (1 - tc.square());
      const Eigen::ArrayXd c_prev = t > 0 ? C[u - 1] : Eigen::ArrayXd::Zero(H);
      Eigen::VectorXd dz(4 * H);
      dz.segment(0, H) = (dc * G[u] * I[u] * (1 - I[u])).matrix();
      dz.segment(H, H) = (dc * c_prev * F[u] * (1 - F[u])).matrix();
      dz.segment(2 * H, H) = (dc * I[u] * (1 - G[u].square())).matrix();
      dz.segment(3 * H, H) = (dh * tc * O[u] * (1 - O[u])).matrix();
      gWih += dz * x.col(t).transpose();
      if (t > 0) gWhh += dz * Hs[u - 1].matrix().transpose();
      gb += dz;
      gin.col(t) = Wih.transpose() * dz;
      dh_next = Whh.transpose() * dz;
      dc_next = dc * F[u];
    }
    return gin;
  }
};

// The same for the LSTM: tbptt K = 2 on T = 6 against the double reference;
// the input gradient is 0 before the window; the truncation changes dW_hh.
TEST(RecurrentTbptt, LstmMatchesTruncatedReference) {
  REQUIRE_LAYERS();
  const Index T = 6, I = 3, H = 3, K = 2;
  const std::vector<std::int32_t> lengths{6, 4, 6};
  const Index n = Index(lengths.size());
  for (bool all : {false, true}) {
    SCOPED_TRACE(all ? "sequence: all" : "sequence: last");
    LayerRig rig(build_layer(bundled_registry(),
                             std::string("{type: lstm, units: 3, tbptt: 2, sequence: ") + (all ? "all" : "last") + "}"),
                 {I, T}, n, 2);
    rig.lengths = lengths;
    Rng rng(15);
    for (Index k = 0; k < rig.params.size(); ++k)
      rig.params[k] += Scalar(std::uniform_real_distribution<double>(-0.3, 0.3)(rng));
    const Matrix x = random_matrix(I, T * n, rng, -1, 1);
    const Matrix r = random_matrix(H, rig.out.steps * n, rng);
    rig.grads.setZero();
    const Matrix y = rig.forward(x, Mode::train);
    const Matrix gin = rig.backward(x, y, r, Mode::train);
    const Layer& l = *rig.layer;
    LstmRef ref;
    ref.H = H;
    ref.Wih = ConstRowMatrixMap(rig.params.data() + offset_of(l, "weight_ih_l0"), 4 * H, I).cast<double>();
    ref.Whh = ConstRowMatrixMap(rig.params.data() + offset_of(l, "weight_hh_l0"), 4 * H, H).cast<double>();
    ref.b = (ConstVectorMap(rig.params.data() + offset_of(l, "bias_ih_l0"), 4 * H) +
             ConstVectorMap(rig.params.data() + offset_of(l, "bias_hh_l0"), 4 * H))
                .cast<double>();
    Eigen::MatrixXd gWih = Eigen::MatrixXd::Zero(4 * H, I), gWhh = Eigen::MatrixXd::Zero(4 * H, H);
    Eigen::VectorXd gb = Eigen::VectorXd::Zero(4 * H);
    Eigen::MatrixXd full_gWih = gWih, full_gWhh = gWhh;
    Eigen::VectorXd full_gb = gb;
    for (Index b = 0; b < n; ++b) {
      const Index L = lengths[std::size_t(b)];
      const Eigen::MatrixXd xb = example_steps(x, n, b, L, T).cast<double>();
      Eigen::MatrixXd rb(H, all ? T : 1);
      for (Index t = 0; t < rb.cols(); ++t) rb.col(t) = r.col(all ? t * n + b : b).cast<double>();
      std::vector<Eigen::VectorXd> h;
      const Eigen::MatrixXd gref = ref.backward(xb, L, rb, all, K, gWih, gWhh, gb, &h);
      ref.backward(xb, L, rb, all, 0, full_gWih, full_gWhh, full_gb);
      const Eigen::VectorXd last = y.col(all ? (L - 1) * n + b : b).cast<double>();
      EXPECT_LE((last - h.back()).norm(), 1e-5) << "output of example " << b;
      for (Index t = 0; t < T; ++t) {
        const Eigen::VectorXd got = gin.col(t * n + b).cast<double>();
        if (t < L - K || t >= L)
          EXPECT_TRUE(got.isZero(0)) << "example " << b << " step " << t << " (outside the window): " << got;
        else
          EXPECT_LE((got - gref.col(t)).norm(), 1e-5) << "example " << b << " step " << t;
      }
    }
    auto grad = [&](const std::string& name, Index rows, Index cols) {
      return ConstRowMatrixMap(rig.grads.data() + offset_of(l, name), rows, cols).cast<double>().eval();
    };
    EXPECT_LE((grad("weight_ih_l0", 4 * H, I) - gWih).norm(), 1e-5);
    EXPECT_LE((grad("weight_hh_l0", 4 * H, H) - gWhh).norm(), 1e-5);
    EXPECT_LE((grad("bias_ih_l0", 4 * H, 1) - gb).norm(), 1e-5);
    EXPECT_LE((grad("bias_hh_l0", 4 * H, 1) - gb).norm(), 1e-5);
    EXPECT_GT((full_gWhh - gWhh).norm(), 1e-3) << "the truncation should change the gradient here";
  }
}

// With truncation the input gradient inside the window is still the exact
// gradient of the loss (an input there only reaches steps of the window):
// finite differences agree there, with lengths set.
TEST(RecurrentTbptt, InputGradientInsideTheWindowIsExact) {
  REQUIRE_LAYERS();
  for (const auto& pc : padding_cases()) {
    if (!pc.truncated) continue;
    SCOPED_TRACE(pc.yaml);
    const Index n = Index(kLengths.size());
    const Index K = pc.yaml.find("tbptt: 2") != std::string::npos ? 2 : 3;
    LayerRig rig(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, n, 9);
    rig.lengths = kLengths;
    Rng rng(31);
    Matrix x = random_matrix(kIn, kSteps * n, rng, -1.5, 1.5);
    const Matrix r = random_matrix(rig.out.features, rig.out.steps * n, rng);
    auto loss = [&] {
      const Matrix y = rig.forward(x, Mode::train);
      double sum = 0;
      for (Index i = 0; i < y.size(); ++i) sum += double(y.data()[i]) * double(r.data()[i]);
      return sum;
    };
    const Matrix y = rig.forward(x, Mode::train);
    const Matrix gin = rig.backward(x, y, r, Mode::train);
    const Scalar h = Scalar(1e-2);
    double worst = 0, largest = 0;
    int window_entries = 0;
    for (Index c = 0; c < x.cols(); ++c) {
      const Index t = c / n, L = kLengths[std::size_t(c % n)];
      if (t >= L || t < L - K) continue;
      for (Index f = 0; f < kIn; ++f) {
        const Scalar saved = x(f, c);
        x(f, c) = saved + h;
        const double up = loss();
        const Scalar hi = x(f, c);
        x(f, c) = saved - h;
        const double down = loss();
        const Scalar lo = x(f, c);
        x(f, c) = saved;
        const double numeric = (up - down) / (double(hi) - double(lo));
        worst = std::max(worst, std::abs(numeric - double(gin(f, c))));
        largest = std::max(largest, std::abs(numeric));
        ++window_entries;
      }
    }
    EXPECT_GT(window_entries, 0);
    EXPECT_GT(largest, 1e-3);
    EXPECT_LE(worst, 1e-2 * largest) << "worst |numeric - analytic| " << worst << ", largest " << largest;
  }
}

// ---- the lag probe ----

struct Fit {
  double slope = 0, r2 = 0;
};
// Least squares of log(values[k]) on k over k in [from, values.size()).
Fit fit_log(const std::vector<double>& values, std::size_t from) {
  double sx = 0, sy = 0, sxx = 0, sxy = 0, syy = 0, m = 0;
  for (std::size_t k = from; k < values.size(); ++k) {
    const double x = double(k), y = std::log(values[k]);
    sx += x, sy += y, sxx += x * x, sxy += x * y, syy += y * y, m += 1;
  }
  Fit f;
  const double vx = sxx - sx * sx / m, vy = syy - sy * sy / m, cxy = sxy - sx * sy / m;
  f.slope = cxy / vx;
  f.r2 = vy > 0 ? cxy * cxy / (vx * vy) : 1.0;
  return f;
}

std::vector<double> probe_norms(const std::string& yaml, const Matrix& x, const Matrix& r, Index I, Index T, Index n,
                                std::vector<double>* cell = nullptr) {
  LayerRig rig(build_layer(bundled_registry(), yaml), {I, T}, n, 11);
  LagProbe probe;
  probe.hidden.assign(std::size_t(T), 0.0);
  probe.cell.assign(std::size_t(T), 0.0);
  const Matrix y = rig.forward(x, Mode::train);
  rig.backward(x, y, r.topRows(rig.out.features), Mode::train, false, &probe);
  EXPECT_TRUE(probe.reported);
  EXPECT_EQ(probe.hidden.size(), std::size_t(T)) << "the probe's vectors must not be resized";
  std::vector<double> norms;
  for (double v : probe.hidden) norms.push_back(std::sqrt(v));
  if (cell) {
    EXPECT_TRUE(probe.has_cell);
    cell->clear();
    for (double v : probe.cell) cell->push_back(std::sqrt(v));
  }
  return norms;
}

// A tanh RNN with small recurrent weights: the error at lag k shrinks
// geometrically (Hochreiter 1991; Bengio, Simard & Frasconi 1994): log-norm is
// linear in k with a clearly negative slope. An LSTM (forget bias 1) on the
// same input keeps it much longer: its slope is at least 3x smaller in magnitude.
TEST(RecurrentLagProbe, RnnDecaysExponentiallyAndLstmMuchSlower) {
  REQUIRE_LAYERS();
  const Index I = 4, T = 12, n = 16, H = 8;
  Rng rng(3);
  const Matrix x = random_matrix(I, T * n, rng);
  const Matrix r = random_matrix(H, n, rng);
  const auto rnn = probe_norms("{type: rnn, units: 8, recurrent_init: {name: normal, std: 0.05}}", x, r, I, T, n);
  std::vector<double> cell;
  const auto lstm = probe_norms("{type: lstm, units: 8, forget_bias: 1}", x, r, I, T, n, &cell);
  for (std::size_t k = 0; k < std::size_t(T); ++k) {
    ASSERT_GT(rnn[k], 0.0) << "lag " << k;
    ASSERT_GT(lstm[k], 0.0) << "lag " << k;
  }
  const Fit fr = fit_log(rnn, 0), fl = fit_log(lstm, 1), fc = fit_log(cell, 0);
  std::ostringstream report;
  report << "rnn slope " << fr.slope << " r2 " << fr.r2 << "; lstm hidden slope " << fl.slope << " r2 " << fl.r2
         << "; lstm cell slope " << fc.slope;
  SCOPED_TRACE(report.str());
  RecordProperty("fits", report.str());
  EXPECT_LT(fr.slope, -1.0);
  EXPECT_GT(fr.r2, 0.98);
  EXPECT_LT(3 * std::abs(fl.slope), std::abs(fr.slope));
  EXPECT_LT(3 * std::abs(fc.slope), std::abs(fr.slope));
  // Without a forget gate the carousel does not decay the cell error at all.
  std::vector<double> cell1997;
  probe_norms("{type: lstm, units: 8, forget_gate: false}", x, r, I, T, n, &cell1997);
  const Fit f97 = fit_log(cell1997, 0);
  EXPECT_GT(f97.slope, -0.1) << "forget_gate: false cell slope " << f97.slope;
}

// The probe against quantities computed independently, on a tiny case:
// sequence: last, T = 3, lengths {3, 2}. Lag 0 is the output gradient itself;
// lag 1 is W_hh^T (g .* (1 - h^2)) at the last valid step.
TEST(RecurrentLagProbe, TinyCaseEqualsIndependentValues) {
  REQUIRE_LAYERS();
  const Index I = 2, T = 3, H = 3, n = 2;
  LayerRig rig(build_layer(bundled_registry(), "{type: rnn, units: 3}"), {I, T}, n, 6);
  rig.lengths = {3, 2};
  Rng rng(12);
  const Matrix x = random_matrix(I, T * n, rng);
  const Matrix g = random_matrix(H, n, rng);
  LagProbe probe;
  probe.hidden.assign(T, 0.0);
  probe.cell.assign(T, 0.0);
  const Matrix y = rig.forward(x, Mode::train);
  rig.backward(x, y, g, Mode::train, true, &probe);
  EXPECT_NEAR(probe.hidden[0], g.squaredNorm(), 1e-6 * g.squaredNorm());
  const ConstRowMatrixMap Whh(rig.params.data() + offset_of(*rig.layer, "weight_hh_l0"), H, H);
  double lag1 = 0;
  for (Index b = 0; b < n; ++b) {
    const Vector dz = (g.col(b).array() * (Scalar(1) - y.col(b).array().square())).matrix();
    lag1 += double((Whh.transpose() * dz).squaredNorm());
  }
  EXPECT_NEAR(probe.hidden[1], lag1, 1e-5 * lag1);
  // Lag 2 exists for the first example only, and is positive.
  EXPECT_GT(probe.hidden[2], 0.0);
  EXPECT_TRUE(probe.reported);
}

// ---- through the host ----

// A batch smaller than the one reserved (the last batch of an epoch, an
// evaluation chunk) gives what an instance reserved for exactly that batch gives.
TEST(RecurrentPadding, SmallerBatchThanReservedGivesTheSameResults) {
  REQUIRE_LAYERS();
  for (const auto& pc : padding_cases()) {
    SCOPED_TRACE(pc.yaml);
    LayerRig big(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, 7, 4);
    LayerRig exact(build_layer(bundled_registry(), pc.yaml), {kIn, kSteps}, 4, 4);
    Rng rng(2);
    const Matrix x7 = random_matrix(kIn, kSteps * 7, rng), x = random_matrix(kIn, kSteps * 4, rng);
    const Matrix r = random_matrix(big.out.features, big.out.steps * 4, rng);
    big.lengths = {5, 5, 2, 3, 4, 1, 5};
    big.forward(x7, Mode::train);  // a full batch first
    big.lengths = exact.lengths = kLengths;
    big.grads.setZero();
    exact.grads.setZero();
    const Matrix yb = big.forward(x, Mode::train), ye = exact.forward(x, Mode::train);
    EXPECT_EQ(yb, ye);
    EXPECT_EQ(big.backward(x, yb, r, Mode::train), exact.backward(x, ye, r, Mode::train));
    EXPECT_EQ(big.grads, exact.grads);
  }
}

// A spec's recurrent_init reaches the layer through the host, and a probe
// reports the error flow by lag for each recurrent layer (cell too for lstm).
TEST(RecurrentHost, RecurrentInitAndLagProbeThroughTheNetwork) {
  REQUIRE_LAYERS();
  const RunSpec spec = spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: [{type: lstm, units: 4, sequence: all, recurrent_init: {name: "
      "orthogonal}}, {type: rnn, units: 3}, {type: dense, units: 2}]}\n");
  Dataset data;
  data.name = "sequences";
  data.input = {3, 6};
  data.outputs = 2;
  data.train.examples = 8;
  Rng rng(4);
  data.train.inputs = random_matrix(3, 6 * 8, rng);
  data.train.lengths = {6, 2, 5, 6, 3, 4, 6, 1};
  data.train.labels = {0, 1, 1, 0, 1, 0, 0, 1};
  data.test = data.train;
  auto net = build_network(spec, bundled_registry(), data);
  auto init = bundled_registry().make_initializer(spec.init.name, spec.init.params);
  net->initialize(*init, rng);
  const auto tensors = net->named_tensors(false);
  const NamedTensor* whh = nullptr;
  for (const auto& t : tensors)
    if (t.name == "0.weight_hh_l0") whh = &t;
  ASSERT_NE(whh, nullptr);
  EXPECT_EQ(whh->shape, (std::vector<Index>{16, 4}));
  for (Index g = 0; g < 4; ++g) {
    const Matrix U = ConstRowMatrixMap(whh->data + g * 16, 4, 4);
    EXPECT_TRUE((U * U.transpose()).isApprox(Matrix::Identity(4, 4), 1e-5f)) << "gate block " << g;
  }
  const BatchView batch = net->gather_range(data.train, 0, 8);
  const auto rows = net->probe(batch);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].grad_by_lag.size(), 6u);
  EXPECT_EQ(rows[0].cell_grad_by_lag.size(), 6u);
  EXPECT_EQ(rows[1].grad_by_lag.size(), 6u);
  EXPECT_TRUE(rows[1].cell_grad_by_lag.empty());
  EXPECT_TRUE(rows[2].grad_by_lag.empty());
  for (std::size_t k = 0; k < 6; ++k) {
    EXPECT_GT(rows[0].grad_by_lag[k], 0.0) << k;
    EXPECT_GT(rows[1].grad_by_lag[k], 0.0) << k;
  }
  EXPECT_GT(rows[0].grad_norm, 0.0);
}

TEST(RecurrentHost, OneStepInputIsRefusedAtTheLayersPlace) {
  REQUIRE_LAYERS();
  const RunSpec spec =
      spec_from_yaml("data: {name: digits}\nmodel: {layers: [{type: rnn, units: 4}, {type: dense, units: 10}]}\n");
  Dataset data;
  data.name = "flat";
  data.input = {5, 1};
  data.outputs = 10;
  data.train.examples = 2;
  data.train.inputs = Matrix::Zero(5, 2);
  data.train.labels = {0, 1};
  try {
    build_network(spec, bundled_registry(), data);
    FAIL() << "an rnn took one step per example";
  } catch (const InputError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("needs sequence data (steps > 1) and got one step per example"), std::string::npos) << what;
    EXPECT_FALSE(e.where().empty()) << what;
  }
}

}  // namespace
