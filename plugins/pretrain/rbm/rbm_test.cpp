// The rbm pretraining plugin: the RBM's math against exact enumeration on a
// tiny machine, CD training raising the exact log-likelihood, and the greedy
// stack through the host (summary series, weights in the dense layers, bad
// input as one line and exit code 2).
#include "rbm.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <vector>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

// Every binary vector of length n, one per column: [n, 2^n].
Matrix all_states(Index n) {
  Matrix s(n, Index(1) << n);
  for (Index c = 0; c < s.cols(); ++c)
    for (Index i = 0; i < n; ++i) s(i, c) = Scalar((c >> i) & 1);
  return s;
}

double energy(const rbm::Rbm& m, const Eigen::VectorXd& v, const Eigen::VectorXd& h) {
  return -m.visible_bias().cast<double>().dot(v) - m.hidden_bias().cast<double>().dot(h) -
         v.dot(m.weights().cast<double>() * h);
}

// log sum exp over a vector of exponents.
double log_sum_exp(const std::vector<double>& x) {
  const double top = *std::max_element(x.begin(), x.end());
  double s = 0;
  for (double e : x) s += std::exp(e - top);
  return top + std::log(s);
}

// Mean exact log-likelihood of the columns of `data`, by enumerating every
// visible and hidden state (the free energy is not used here).
double exact_log_likelihood(const rbm::Rbm& m, const Matrix& data) {
  const Matrix vs = all_states(m.visible()), hs = all_states(m.hidden());
  auto log_unnormalized = [&](const Eigen::VectorXd& v) {
    std::vector<double> e;
    for (Index j = 0; j < hs.cols(); ++j) e.push_back(-energy(m, v, hs.col(j).cast<double>()));
    return log_sum_exp(e);
  };
  std::vector<double> all;
  for (Index c = 0; c < vs.cols(); ++c) all.push_back(log_unnormalized(vs.col(c).cast<double>()));
  const double log_z = log_sum_exp(all);
  double ll = 0;
  for (Index c = 0; c < data.cols(); ++c) ll += log_unnormalized(data.col(c).cast<double>()) - log_z;
  return ll / double(data.cols());
}

// Four 6-pixel patterns, four copies each: the best any model can do is log(1/4).
Matrix patterns() {
  const int rows[4][6] = {{1, 1, 1, 0, 0, 0}, {0, 0, 0, 1, 1, 1}, {1, 1, 0, 0, 1, 1}, {1, 0, 1, 0, 1, 0}};
  Matrix d(6, 16);
  for (Index c = 0; c < 16; ++c)
    for (Index i = 0; i < 6; ++i) d(i, c) = Scalar(rows[c % 4][i]);
  return d;
}

rbm::Rbm random_machine(Index visible, Index hidden, std::uint64_t seed) {
  rbm::Rbm m(visible, hidden);
  Rng rng(seed);
  m.initialize(Scalar(0.8), rng);
  std::normal_distribution<Scalar> normal(0, 1);
  for (Index i = 0; i < visible; ++i) m.visible_bias()[i] = normal(rng);
  for (Index j = 0; j < hidden; ++j) m.hidden_bias()[j] = normal(rng);
  return m;
}

// Trains on the patterns in batches of 4 for `epochs` epochs.
void train(rbm::Rbm& m, const Matrix& data, int epochs, const rbm::Step& step, Rng& rng) {
  m.reserve(4);
  for (int e = 0; e < epochs; ++e)
    for (Index first = 0; first < data.cols(); first += 4)
      m.update(ConstMatrixMap(data.data() + first * data.rows(), data.rows(), 4), step, rng);
}

}  // namespace

// F(v) = -log sum_h exp(-E(v, h)) for every v of a 5x3 machine.
TEST(RbmMath, FreeEnergyMatchesEnumeration) {
  const auto m = random_machine(5, 3, 7);
  const Matrix vs = all_states(5), hs = all_states(3);
  for (Index c = 0; c < vs.cols(); ++c) {
    std::vector<double> e;
    for (Index j = 0; j < hs.cols(); ++j) e.push_back(-energy(m, vs.col(c).cast<double>(), hs.col(j).cast<double>()));
    EXPECT_NEAR(m.free_energy(vs.col(c)), -log_sum_exp(e), 1e-9) << c;
  }
}

// The positive statistics the update uses, v p(h|v)' and p(h|v), are minus
// the free energy's gradient in W and c (finite differences of F).
TEST(RbmMath, HiddenProbabilitiesAreTheFreeEnergyGradient) {
  auto m = random_machine(5, 3, 11);
  const Matrix vs = all_states(5);
  Matrix h(3, vs.cols());
  m.hidden_probabilities(vs, MatrixMap(h.data(), 3, vs.cols()));
  for (Index c : {Index(3), Index(22), Index(31)}) {
    const Vector v = vs.col(c);
    for (Index i = 0; i < 5; ++i)
      for (Index j = 0; j < 3; ++j) {
        const Scalar keep = m.weights()(i, j), d = Scalar(1e-2);
        m.weights()(i, j) = keep + d;
        const double up = m.free_energy(v);
        m.weights()(i, j) = keep - d;
        const double down = m.free_energy(v);
        m.weights()(i, j) = keep;
        EXPECT_NEAR(-(up - down) / (2 * d), v[i] * h(j, c), 2e-4) << i << "," << j;
      }
    for (Index j = 0; j < 3; ++j) {
      const Scalar keep = m.hidden_bias()[j], d = Scalar(1e-2);
      m.hidden_bias()[j] = keep + d;
      const double up = m.free_energy(v);
      m.hidden_bias()[j] = keep - d;
      const double down = m.free_energy(v);
      m.hidden_bias()[j] = keep;
      EXPECT_NEAR(-(up - down) / (2 * d), h(j, c), 2e-4) << j;
    }
  }
}

// CD-1 (and CD-3, and PCD-1) with rbm.m's update raise the exact mean
// log-likelihood of the patterns from about -6 log 2 = -4.16 to near the
// optimum log(1/4) = -1.39, for several seeds (CD: -1.5 to -1.8 after 400
// epochs; PCD with its 4 particles needs a smaller step: -1.7 to -2.1).
TEST(RbmTraining, ContrastiveDivergenceRaisesExactLogLikelihood) {
  const Matrix data = patterns();
  struct Variant {
    int k;
    bool persistent;
    Scalar learning_rate;
    int epochs;
  };
  for (Variant variant :
       {Variant{1, false, Scalar(0.1), 400}, Variant{3, false, Scalar(0.1), 400}, Variant{1, true, Scalar(0.01), 1500}})
    for (std::uint64_t seed : {1u, 2u, 3u}) {
      rbm::Rbm m(6, 4);
      Rng rng(seed);
      m.initialize(Scalar(0.1), rng);
      m.set_persistent(variant.persistent);
      const double before = exact_log_likelihood(m, data);
      EXPECT_NEAR(before, -6 * std::log(2.0), 0.3);
      const rbm::Step step{variant.learning_rate, Scalar(0.5), Scalar(0.0002), variant.k};
      train(m, data, variant.epochs, step, rng);
      const double after = exact_log_likelihood(m, data);
      EXPECT_GT(after, before + 1.5) << "k " << variant.k << " persistent " << variant.persistent << " seed " << seed;
      EXPECT_LE(after, std::log(0.25) + 1e-9);  // no model beats the data's own distribution
    }
}

// The reconstruction error the update returns is sum ||v0 - p(v | h0)||^2:
// with weights so large that h0 is certain, it equals the deterministic value.
TEST(RbmTraining, ReconstructionErrorIsSummedSquaredError) {
  rbm::Rbm m(3, 2);
  // Rows: visible units; columns: hidden units. With c = (-5, -5), v = (1, 0, 1)
  // turns h = (1, 0) on with certainty (pre-activations 35, -45) and
  // v = (0, 1, 0) h = (0, 1) (-25, 15).
  m.weights() << 20, -20, -20, 20, 20, -20;
  m.hidden_bias() << -5, -5;
  Matrix v(3, 2);
  v << 1, 0, 0, 1, 1, 0;
  // Expected: p(v | h0) with h0 = (1, 0) for column 0 and (0, 1) for column 1.
  Matrix expected(3, 2);
  for (Index c = 0; c < 2; ++c) {
    const Eigen::Matrix<Scalar, 2, 1> h(c == 0 ? 1 : 0, c == 0 ? 0 : 1);
    expected.col(c) = (m.weights() * h).array().logistic().matrix();
  }
  const double want = (expected - v).squaredNorm();
  Rng rng(1);
  m.reserve(2);
  const double got = m.update(ConstMatrixMap(v.data(), 3, 2), rbm::Step{Scalar(0.1), 0, 0, 1}, rng);
  EXPECT_NEAR(got, want, 1e-6);
  EXPECT_GT(want, 0.0);
}

// The same seed gives the same machine; another seed another.
TEST(RbmTraining, SameStreamSameWeights) {
  const Matrix data = patterns();
  auto run = [&](std::uint64_t seed) {
    rbm::Rbm m(6, 4);
    Rng rng(seed);
    m.initialize(Scalar(0.1), rng);
    train(m, data, 5, rbm::Step{}, rng);
    return Matrix(m.weights());
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

namespace {

const char* digits_net = R"(
data: {name: digits}
model:
  layers:
    - repeat: 2
      layers: [{type: dense, units: 32}, {type: sigmoid}]
    - {type: dense, units: 10}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.1}
training: {epochs: 0, batch_size: 50, seed: 3}
)";

}  // namespace

// Through the host: each RBM's reconstruction error falls over its epochs and
// lands in the summary; the first dense layer holds the RBM's weights (not
// the initialization), the output layer keeps its initialization.
TEST(RbmPretrain, StackThroughTheHostLowersReconstructionErrorAndSetsWeights) {
  const auto& registry = test::bundled_registry();
  const auto plain = test::spec_from_yaml(digits_net);
  const auto pretrained = test::spec_from_yaml(std::string(digits_net) + "pretrain: {name: rbm, epochs: 6}\n");
  const auto a = train_run(plain, registry);
  const auto b = train_run(pretrained, registry);
  ASSERT_EQ(a.summary.status, RunStatus::ok) << a.summary.message;
  ASSERT_EQ(b.summary.status, RunStatus::ok) << b.summary.message;

  const auto json = to_json(b.summary);
  ASSERT_TRUE(json.contains("pretraining")) << json.dump();
  for (const char* metric : {"layer_0_reconstruction_error", "layer_2_reconstruction_error"}) {
    ASSERT_TRUE(json["pretraining"].contains(metric)) << json["pretraining"].dump();
    const auto& series = json["pretraining"][metric];
    ASSERT_EQ(series.size(), 6u) << metric;
    const double first = series.front().get<double>(), last = series.back().get<double>();
    EXPECT_LT(last, 0.8 * first) << metric << ": " << series.dump();
    EXPECT_GT(last, 0.0) << metric;
  }
  const auto plain_json = to_json(a.summary);
  if (plain_json.contains("pretraining")) EXPECT_TRUE(plain_json["pretraining"].empty()) << plain_json["pretraining"];

  // Layers: 0 dense 64->32, 1 sigmoid, 2 dense 32->32, 3 sigmoid, 4 dense 32->10.
  const Vector init0 = a.network->layer_parameters(0), rbm0 = b.network->layer_parameters(0);
  ASSERT_EQ(init0.size(), 32 * 64 + 32);
  EXPECT_GT((rbm0 - init0).cwiseAbs().maxCoeff(), 0.05);
  EXPECT_GT(rbm0.tail(32).cwiseAbs().maxCoeff(), 0.0);  // hidden biases were trained
  EXPECT_GT((Vector(b.network->layer_parameters(2)) - Vector(a.network->layer_parameters(2))).cwiseAbs().maxCoeff(),
            0.05);
  EXPECT_EQ(Vector(b.network->layer_parameters(4)), Vector(a.network->layer_parameters(4)));
}

// A model whose dense layers feed a relu is refused at check(), data outside
// [0, 1] too, with the reason.
TEST(RbmPretrain, CheckRefusesWithAReason) {
  const auto& registry = test::bundled_registry();
  struct Case {
    std::string model, expect;
  };
  const std::vector<Case> cases{
      {"[{type: dense, units: 8}, {type: relu}, {type: dense, units: 10}]",
       "rbm needs at least one dense layer followed by a sigmoid layer; this model has layers dense, relu, dense"},
      {"[{type: dense, units: 8}, {type: relu}, {type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]",
       "gets its input from a relu layer"},
      {"[{type: dense, units: 8, bias: false}, {type: sigmoid}, {type: dense, units: 10}]", "bias"},
  };
  for (const auto& c : cases) {
    const auto spec =
        test::spec_from_yaml("data: {name: digits}\nmodel: {layers: " + c.model + "}\npretrain: {name: rbm}\n");
    const auto data = load_dataset(spec, registry);
    const auto net = build_network(spec, registry, *data);
    const auto strategy = registry.make_pretrain("rbm", spec.pretrain->params);
    try {
      strategy->check(*net, *data);
      ADD_FAILURE() << c.model << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(c.expect), std::string::npos) << e.what();
    }
  }
  // Inputs beyond [0, 1].
  const auto spec = test::spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]}\n"
      "pretrain: {name: rbm}\n");
  auto data = std::make_shared<Dataset>(*load_dataset(spec, registry));
  const auto net = build_network(spec, registry, *data);
  const auto strategy = registry.make_pretrain("rbm", spec.pretrain->params);
  EXPECT_NO_THROW(strategy->check(*net, *data));
  data->train.inputs(5, 7) = Scalar(3);
  try {
    strategy->check(*net, *data);
    ADD_FAILURE() << "inputs up to 3 accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("[0, 1]"), std::string::npos) << e.what();
  }
}

// Bad input through the CLI: one line naming the problem and `pretrain`, exit 2, no file.
TEST(RbmCli, BadInputIsOneLineAndExitTwo) {
  test::TempDir dir;
  struct Case {
    std::string spec, expect;
  };
  const std::vector<Case> cases{
      {"data: {name: digits}\nmodel: {layers: [{type: dense, units: 8}, {type: relu}, {type: dense, units: 10}]}\n"
       "pretrain: {name: rbm}\n",
       "dense layer followed by a sigmoid"},
      {"data: {name: digits}\nmodel: {layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]}\n"
       "pretrain: {name: rbm, k: 0}\n",
       "'k'"},
      {"data: {name: adding, length: 20, train: 10, test: 10}\n"
       "model: {layers: [{type: dense, units: 4}, {type: sigmoid}, {type: rnn, units: 4, sequence: last}, "
       "{type: dense, units: 1}]}\n"
       "pretrain: {name: rbm}\n",
       "sequences"},
  };
  for (const auto& c : cases) {
    test::write_text(dir / "bad.yaml", c.spec);
    auto r = test::run_cli({"train", (dir / "bad.yaml").string(), "--json", (dir / "bad.json").string(), "-q"});
    EXPECT_EQ(r.exit_code, 2) << c.spec << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << c.spec << r.err;
    EXPECT_NE(r.err.find("pretrain"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bad.yaml:"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "bad.json"));
  }
}
