// A Bernoulli-Bernoulli restricted Boltzmann machine trained by contrastive
// divergence (Hinton 2002), CD-k or persistent CD (Tieleman 2008), with the
// update of Hinton & Salakhutdinov's rbm.m (Science 2006): momentum, weight
// cost on the weights only, one learning rate for weights and biases.
//
// Energy E(v, h) = -b'v - c'h - v'Wh with v in {0,1}^V, h in {0,1}^H.
// W is stored column-major [visible, hidden]: the same memory as the dense
// layer's row-major [hidden, visible] weight, so a trained W copies into a
// dense layer unchanged and the hidden probabilities are that dense layer
// followed by a sigmoid.
//
// Everything works on whole batches, columns = examples: [visible, batch]
// and [hidden, batch]. After reserve(max_batch), update() allocates nothing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gradlab/gemm.hpp>
#include <gradlab/types.hpp>
#include <random>
#include <stdexcept>

namespace gradlab::rbm {

// Hyperparameters of one update.
struct Step {
  Scalar learning_rate = Scalar(0.1);
  Scalar momentum = Scalar(0.5);
  Scalar weight_cost = Scalar(0.0002);
  int k = 1;  // Gibbs steps of the negative phase
};

// out[i] = 1 with probability p[i], else 0. One 64-bit draw gives two
// 24-bit uniforms u in [0, 1); the unit is on when p > u.
inline void sample_bernoulli(const Scalar* p, Scalar* out, Index n, Rng& rng) {
  constexpr Scalar scale = Scalar(1.0 / 16777216.0);
  Index i = 0;
  for (; i + 1 < n; i += 2) {
    const std::uint64_t bits = rng();
    const Scalar u0 = Scalar(bits >> 40) * scale;
    const Scalar u1 = Scalar((bits >> 8) & 0xFFFFFFu) * scale;
    out[i] = p[i] > u0 ? Scalar(1) : Scalar(0);
    out[i + 1] = p[i + 1] > u1 ? Scalar(1) : Scalar(0);
  }
  if (i < n) out[i] = p[i] > Scalar(rng() >> 40) * scale ? Scalar(1) : Scalar(0);
}

class Rbm {
 public:
  Rbm(Index visible, Index hidden) : visible_(visible), hidden_(hidden) {
    if (visible < 1 || hidden < 1) throw std::invalid_argument("an RBM needs at least one visible and one hidden unit");
    w_.setZero(visible, hidden);
    w_inc_.setZero(visible, hidden);
    b_.setZero(visible);
    c_.setZero(hidden);
    b_inc_.setZero(visible);
    c_inc_.setZero(hidden);
  }

  Index visible() const { return visible_; }
  Index hidden() const { return hidden_; }
  // [visible, hidden] column-major (= the dense layer's [hidden, visible] row-major).
  Matrix& weights() { return w_; }
  const Matrix& weights() const { return w_; }
  Vector& visible_bias() { return b_; }
  const Vector& visible_bias() const { return b_; }
  Vector& hidden_bias() { return c_; }
  const Vector& hidden_bias() const { return c_; }

  // W ~ std * N(0, 1), biases 0, increments 0, no persistent chain.
  void initialize(Scalar std, Rng& rng) {
    std::normal_distribution<Scalar> normal(Scalar(0), Scalar(1));
    for (Index i = 0; i < w_.size(); ++i) w_.data()[i] = std * normal(rng);
    b_.setZero();
    c_.setZero();
    reset_momentum();
    chain_started_ = false;
  }
  void reset_momentum() {
    w_inc_.setZero();
    b_inc_.setZero();
    c_inc_.setZero();
  }
  // Persistent CD keeps `max_batch` fantasy particles (binary visible states)
  // between updates instead of starting each negative phase at the data.
  void set_persistent(bool persistent) {
    persistent_ = persistent;
    chain_started_ = false;
  }
  bool persistent() const { return persistent_; }

  // Sizes every buffer for batches of up to max_batch examples.
  void reserve(Index max_batch) {
    if (max_batch <= max_batch_) return;
    max_batch_ = max_batch;
    stacked_v_.resize(visible_, 2 * max_batch);
    stacked_h_.resize(hidden_, 2 * max_batch);
    h_sample_.resize(hidden_, max_batch);
    recon_.resize(visible_, max_batch);
    chain_v_.resize(visible_, max_batch);
    chain_started_ = false;
    gemm_.reserve(hidden_, max_batch, visible_);      // h = W'v
    gemm_.reserve(visible_, max_batch, hidden_);      // v = W h
    gemm_.reserve(visible_, hidden_, 2 * max_batch);  // dW += V H'
  }

  // h = sigmoid(W'v + c): v [visible, n], h [hidden, n].
  template <typename In, typename Out>
  void hidden_probabilities(const In& v, Out&& h) {
    h.colwise() = c_;
    gemm_.add_product(h, gemm_operand(w_).t(), gemm_operand(v));
    h.array() = h.array().logistic();
  }
  // v = sigmoid(W h + b): h [hidden, n], v [visible, n].
  template <typename In, typename Out>
  void visible_probabilities(const In& h, Out&& v) {
    v.colwise() = b_;
    gemm_.add_product(v, gemm_operand(w_), gemm_operand(h));
    v.array() = v.array().logistic();
  }

  // One CD-k (or PCD-k) update on the batch v0 [visible, n], n <= max_batch.
  // Returns the summed squared reconstruction error sum ||v0 - v1||^2 over the
  // batch, v1 = p(v | h0) the visible probabilities given the hidden states
  // sampled from the data (as rbm.m's `err`).
  //
  // Positive phase: h0 = p(h | v0), statistics with the probabilities h0.
  // Negative phase (CD): h ~ h0 sampled; k times: v = p(v | h), then for all
  // but the last step v and h = p(h | v) are sampled and the chain goes on;
  // at the last step the statistics use the visible probabilities v_k and the
  // hidden probabilities p(h | v_k). For k = 1 this is exactly rbm.m. PCD
  // starts the chain at the particles instead (h sampled from p(h | particle))
  // and moves each particle to a sample of its v_k: a proper Gibbs chain
  // across updates; the first n particles serve a batch of n.
  // The update, with g = (v0 h0' - v_k h_k') / n:
  //   W_inc = momentum W_inc + lr (g - weight_cost W),   W += W_inc
  //   b_inc = momentum b_inc + lr (sum v0 - sum v_k) / n, b += b_inc
  //   c_inc = momentum c_inc + lr (sum h0 - sum h_k) / n, c += c_inc
  double update(ConstMatrixMap v0, const Step& step, Rng& rng) {
    const Index n = v0.cols();
    if (v0.rows() != visible_) throw std::invalid_argument("RBM batch has the wrong number of visible units");
    if (n < 1) return 0.0;
    if (step.k < 1) throw std::invalid_argument("CD-k needs k >= 1");
    reserve(n);
    // Stacked [v0 | v_k] and [h0 | -h_k]: the weight statistics are then one
    // product V H' of depth 2n instead of two.
    MatrixMap pos_v(stacked_v_.data(), visible_, n), neg_v(stacked_v_.data() + visible_ * n, visible_, n);
    MatrixMap pos_h(stacked_h_.data(), hidden_, n), neg_h(stacked_h_.data() + hidden_ * n, hidden_, n);
    MatrixMap hs(h_sample_.data(), hidden_, n);
    pos_v = v0;
    hidden_probabilities(pos_v, pos_h);
    sample_bernoulli(pos_h.data(), hs.data(), hs.size(), rng);

    double error = 0.0;
    if (persistent_) {
      MatrixMap recon(recon_.data(), visible_, n);
      visible_probabilities(hs, recon);
      error = double((recon - pos_v).squaredNorm());
      if (!chain_started_) {
        // The particles start at the first batch's data (all of them, so that
        // a later, larger batch finds started particles too).
        for (Index j = 0; j < max_batch_; ++j) chain_v_.col(j) = pos_v.col(j % n);
        chain_started_ = true;
      }
      MatrixMap chain(chain_v_.data(), visible_, n);
      hidden_probabilities(chain, neg_h);
      sample_bernoulli(neg_h.data(), hs.data(), hs.size(), rng);
    }
    for (int s = 1; s <= step.k; ++s) {
      visible_probabilities(hs, neg_v);
      if (s == 1 && !persistent_) error = double((neg_v - pos_v).squaredNorm());
      if (s < step.k) {
        sample_bernoulli(neg_v.data(), neg_v.data(), neg_v.size(), rng);
        hidden_probabilities(neg_v, neg_h);
        sample_bernoulli(neg_h.data(), hs.data(), hs.size(), rng);
      }
    }
    hidden_probabilities(neg_v, neg_h);
    // The particles move on to a sample of the last visible probabilities.
    if (persistent_) sample_bernoulli(neg_v.data(), chain_v_.data(), visible_ * n, rng);

    const Scalar lr = step.learning_rate, m = step.momentum, rate = lr / Scalar(n);
    b_inc_ = m * b_inc_ + rate * (pos_v.rowwise().sum() - neg_v.rowwise().sum());
    neg_h = -neg_h;
    c_inc_ = m * c_inc_ + rate * MatrixMap(stacked_h_.data(), hidden_, 2 * n).rowwise().sum();
    w_inc_.array() = m * w_inc_.array() - (lr * step.weight_cost) * w_.array();
    gemm_.add_product(w_inc_, gemm_operand(MatrixMap(stacked_v_.data(), visible_, 2 * n)),
                      gemm_operand(MatrixMap(stacked_h_.data(), hidden_, 2 * n)).t(), rate);
    w_ += w_inc_;
    b_ += b_inc_;
    c_ += c_inc_;
    return error;
  }

  // Free energy F(v) = -b'v - sum_j log(1 + exp(c_j + (W'v)_j)), in double:
  // p(v) = exp(-F(v)) / Z.
  double free_energy(const Eigen::Ref<const Vector>& v) const {
    const Eigen::VectorXd vd = v.cast<double>();
    const Eigen::VectorXd x = w_.cast<double>().transpose() * vd + c_.cast<double>();
    double f = -b_.cast<double>().dot(vd);
    for (Index j = 0; j < x.size(); ++j)
      f -= x[j] > 0 ? x[j] + std::log1p(std::exp(-x[j])) : std::log1p(std::exp(x[j]));
    return f;
  }

 private:
  Index visible_, hidden_;
  Matrix w_, w_inc_;
  Vector b_, c_, b_inc_, c_inc_;
  bool persistent_ = false;
  bool chain_started_ = false;
  Index max_batch_ = 0;
  Matrix stacked_v_, stacked_h_, h_sample_, recon_, chain_v_;  // chain_v_: the PCD particles
  GemmWorkspace gemm_;
};

}  // namespace gradlab::rbm
