// The autoencoder pretraining strategy: one level's reconstruction and
// gradients (tied and untied, cross-entropy and squared error) against direct
// computation and finite differences; whole runs through the host (the error
// falls, plain and denoising; the hidden layers change, the output layer does
// not, and fine-tuning follows); bad input through the CLI.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "autoencoder_level.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

double sigmoid(double a) { return 1.0 / (1.0 + std::exp(-a)); }

struct LevelCase {
  const char* activation;
  bool tied;
  autoencoder::Reconstruction loss;
};

// inputs 5, units 3, a batch of 4, parameters and inputs drawn at random.
struct LevelRig {
  static constexpr Index inputs = 5, units = 3, batch = 4;
  RegistryComponents components{test::bundled_registry()};
  std::shared_ptr<Layer> activation;
  std::unique_ptr<autoencoder::Level> level;
  Matrix x;

  explicit LevelRig(const LevelCase& c, std::uint64_t seed = 7) {
    activation = components.make_layer(c.activation, Params());
    activation->configure({units, 1});
    autoencoder::LevelOptions options;
    options.batch = batch;
    options.tied = c.tied;
    options.loss = c.loss;
    level = std::make_unique<autoencoder::Level>(components, *activation, inputs, units, true, options);
    Rng rng(seed);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    Vector encoder(inputs * units + units);
    for (Index k = 0; k < encoder.size(); ++k) encoder[k] = Scalar(u(rng));
    level->start(ConstVectorMap(encoder.data(), encoder.size()));
    // A decoder that is not the encoder's transpose, and a non-zero bias c.
    VectorMap p = level->parameters();
    for (Index k = level->encoder_count(); k < p.size(); ++k) p[k] = Scalar(u(rng));
    x.resize(inputs, batch);
    for (Index k = 0; k < x.size(); ++k) x.data()[k] = Scalar(0.5 + 0.45 * u(rng));  // in (0, 1)
  }
  ConstMatrixMap in() const { return ConstMatrixMap(x.data(), inputs, batch); }
  double loss() { return level->loss_and_gradient(in(), in()); }
};

}  // namespace

// Tied: the reconstruction is sigmoid(W^T f(W x + b) + c), computed here from
// the level's parameters without the level's layers; the loss is its
// cross-entropy; and the gradient with respect to W is the sum of its two
// uses: the gradient of an untied level whose decoder is a copy of W^T, its
// encoder part plus its decoder part transposed.
TEST(AutoencoderLevel, TiedDecoderIsTheTransposeAndItsGradientSumsBothUses) {
  using R = autoencoder::Reconstruction;
  LevelRig tied({"sigmoid", true, R::cross_entropy});
  const Index I = LevelRig::inputs, U = LevelRig::units, B = LevelRig::batch;
  VectorMap p = tied.level->parameters();
  ASSERT_EQ(p.size(), U * I + U + I);  // W, b, c: no decoder matrix of its own
  const Eigen::MatrixXd W = RowMatrixMap(p.data(), U, I).cast<double>();
  const Eigen::VectorXd b = p.segment(U * I, U).cast<double>(), c = p.tail(I).cast<double>();
  const Eigen::MatrixXd x = tied.x.cast<double>();
  Eigen::MatrixXd h = (W * x).colwise() + b;
  h = h.unaryExpr([](double v) { return sigmoid(v); });
  Eigen::MatrixXd a = (W.transpose() * h).colwise() + c;
  const Eigen::MatrixXd z = a.unaryExpr([](double v) { return sigmoid(v); });
  Matrix out(I, B);
  tied.level->reconstruct(tied.in(), MatrixMap(out.data(), I, B));
  EXPECT_LT((out.cast<double>() - z).cwiseAbs().maxCoeff(), 1e-5);
  double expected = 0.0;
  for (Index k = 0; k < x.size(); ++k)
    expected -= x.data()[k] * std::log(z.data()[k]) + (1 - x.data()[k]) * std::log(1 - z.data()[k]);
  EXPECT_NEAR(tied.loss(), expected / double(B), 1e-4);

  // The same network untied: decoder weight W^T, the same c.
  LevelRig untied({"sigmoid", false, R::cross_entropy});
  VectorMap q = untied.level->parameters();
  untied.x = tied.x;
  q.head(U * I + U) = p.head(U * I + U);
  RowMatrixMap(q.data() + U * I + U, I, U) = RowMatrixMap(p.data(), U, I).transpose();
  q.tail(I) = p.tail(I);
  EXPECT_NEAR(untied.loss(), tied.loss(), 1e-5);
  VectorMap gt = tied.level->gradients(), gu = untied.level->gradients();
  const Eigen::MatrixXd both = RowMatrixMap(gu.data(), U, I).cast<double>() +
                               RowMatrixMap(gu.data() + U * I + U, I, U).transpose().cast<double>();
  const Eigen::MatrixXd tied_w = RowMatrixMap(gt.data(), U, I).cast<double>();
  EXPECT_GT(both.norm(), 1e-3);
  EXPECT_LT((tied_w - both).norm(), 1e-5 * both.norm() + 1e-6);
  // The encoder use alone is not the tied gradient.
  EXPECT_GT((tied_w - RowMatrixMap(gu.data(), U, I).cast<double>()).norm(), 1e-2 * both.norm());
  // Biases: b from the encoder, c from the decoder.
  EXPECT_LT((gt.segment(U * I, U) - gu.segment(U * I, U)).norm(), 1e-6);
  EXPECT_LT((gt.tail(I) - gu.tail(I)).norm(), 1e-6);
}

// Central finite differences of the reconstruction error (in float, h = 1e-2,
// the step actually taken) against the analytic gradient, for every parameter
// of tied and untied levels with either reconstruction.
TEST(AutoencoderLevel, GradientMatchesFiniteDifferences) {
  using R = autoencoder::Reconstruction;
  for (const LevelCase c : {LevelCase{"sigmoid", true, R::cross_entropy}, LevelCase{"sigmoid", false, R::cross_entropy},
                            LevelCase{"tanh", true, R::mse}, LevelCase{"tanh", false, R::mse}}) {
    SCOPED_TRACE(std::string(c.activation) + (c.tied ? " tied" : " untied") +
                 (c.loss == R::mse ? " mse" : " cross_entropy"));
    LevelRig rig(c);
    rig.loss();
    const Vector analytic = rig.level->gradients();
    VectorMap p = rig.level->parameters();
    Vector numeric(p.size());
    for (Index k = 0; k < p.size(); ++k) {
      const Scalar keep = p[k];
      p[k] = keep + Scalar(1e-2);
      const Scalar up = p[k];
      const double l_up = rig.loss();
      p[k] = keep - Scalar(1e-2);
      const Scalar down = p[k];
      const double l_down = rig.loss();
      p[k] = keep;
      numeric[k] = Scalar((l_up - l_down) / double(up - down));
    }
    const double scale = std::max(numeric.norm(), analytic.norm());
    ASSERT_GT(scale, 1e-3);
    EXPECT_LT((numeric - analytic).norm() / scale, 2e-3)
        << "numeric " << numeric.transpose() << "\nanalytic " << analytic.transpose();
  }
}

namespace {

const char* digits_spec = R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 32}
    - {type: sigmoid}
    - {type: dense, units: 16}
    - {type: sigmoid}
    - {type: dense, units: 10}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.1}
pretrain: {name: autoencoder, epochs: 6, batch_size: 20, lr: 0.1}
training: {epochs: 0, batch_size: 32, seed: 3}
probes: {every: 1, batch: 64}
)";

RunResult run(const std::vector<std::string>& sets) {
  RunResult r = train_run(test::spec_from_yaml(digits_spec, sets), test::bundled_registry());
  EXPECT_EQ(r.summary.status, RunStatus::ok) << r.summary.message;
  return r;
}

std::vector<double> series(const RunResult& r, const std::string& metric) {
  const auto j = to_json(r.summary);
  if (!j.contains("pretraining") || !j["pretraining"].contains(metric)) return {};
  return j["pretraining"][metric].get<std::vector<double>>();
}

}  // namespace

// Through the host: one reconstruction error per epoch for each hidden level
// (layers 0 and 2, not the output layer 4), falling over the epochs, for plain
// and denoising autoencoders; the denoising one reconstructs clean inputs from
// masked ones, so its error stays above the plain one's.
TEST(AutoencoderPretrain, ReconstructionErrorFallsOnDigits) {
  std::vector<double> plain_last;
  for (const std::string noise : {"0", "0.3"}) {
    SCOPED_TRACE("noise " + noise);
    const auto r = run({"pretrain.noise=" + noise});
    EXPECT_TRUE(series(r, "layer_4_reconstruction_error").empty());
    for (const std::string layer : {"0", "2"}) {
      SCOPED_TRACE("layer " + layer);
      const auto e = series(r, "layer_" + layer + "_reconstruction_error");
      ASSERT_EQ(e.size(), 6u);
      for (std::size_t k = 1; k < e.size(); ++k) EXPECT_LT(e[k], e[k - 1]) << "epoch " << k + 1;
      EXPECT_LT(e.back(), 0.9 * e.front());
      if (noise == "0")
        plain_last.push_back(e.back());
      else
        EXPECT_GT(e.back(), plain_last[layer == "0" ? 0 : 1]);
    }
  }
}

// Pretraining rewrites the hidden dense layers and leaves the output layer as
// initialized; the same seed gives the same weights; fine-tuning then trains
// the pretrained net further (weights move, the training loss falls).
TEST(AutoencoderPretrain, ChangesHiddenLayersThenFineTunes) {
  auto plain = train_run(test::spec_from_yaml(digits_spec, {"pretrain=null"}), test::bundled_registry());
  ASSERT_EQ(plain.summary.status, RunStatus::ok);
  auto pre = run({});
  auto again = run({});
  for (Index i : {0, 2}) {
    EXPECT_GT((pre.network->layer_parameters(i) - plain.network->layer_parameters(i)).norm(),
              0.1 * plain.network->layer_parameters(i).norm())
        << "layer " << i;
    EXPECT_EQ(pre.network->layer_parameters(i), again.network->layer_parameters(i)) << "layer " << i;
  }
  EXPECT_EQ(pre.network->layer_parameters(4), plain.network->layer_parameters(4));

  auto tuned = run({"training.epochs=3"});
  ASSERT_EQ(tuned.summary.epochs.size(), 4u);
  EXPECT_GT((tuned.network->layer_parameters(0) - pre.network->layer_parameters(0)).norm(), 0.0);
  EXPECT_EQ(tuned.summary.epochs.front().train_loss, pre.summary.epochs.front().train_loss);  // epoch 0: pretrained
  EXPECT_LT(tuned.summary.epochs.back().train_loss, 0.8 * tuned.summary.epochs.front().train_loss);
}

// Bad input: one line naming `pretrain` and the reason, exit code 2.
TEST(AutoencoderCli, BadInputOneLineExitTwo) {
  test::TempDir dir;
  struct Case {
    std::string spec, expect;
  };
  const std::string digits = "data: {name: digits}\n";
  const std::vector<Case> cases{
      {digits + "model: {layers: [{type: dense, units: 10}]}\npretrain: {name: autoencoder}\n", "none"},
      {digits + "model: {layers: [{type: dense, units: 16}, {type: dense, units: 10}, {type: sigmoid}]}\n"
                "pretrain: {name: autoencoder}\n",
       "none"},
      {digits + "model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}\n"
                "pretrain: {name: autoencoder, noise: 1.0}\n",
       "noise"},
      {"data: {name: adding, length: 20, train: 10, test: 10}\n"
       "model: {layers: [{type: dense, units: 4}, {type: tanh}, {type: rnn, units: 4}, {type: dense, units: 1}]}\n"
       "pretrain: {name: autoencoder}\n",
       "feed-forward"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.spec);
    test::write_text(dir / "spec.yaml", c.spec + "training: {epochs: 1}\n");
    const auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.json").string(), "-q"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("pretrain"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir / "out.json"));
  }
}

// ctx.stop() is polled between epochs: a cancel raised during the first
// epoch's progress line ends pretraining after that epoch, with layer 0's
// partly trained weights written back and layer 2 untouched.
TEST(AutoencoderPretrain, StopsBetweenEpochsAndKeepsWhatItTrained) {
  auto plain = train_run(test::spec_from_yaml(digits_spec, {"pretrain=null"}), test::bundled_registry());
  std::atomic<bool> cancel{false};
  std::vector<std::string> lines;
  RunOptions options;
  options.cancel = &cancel;
  options.log = [&](const std::string& line) {
    lines.push_back(line);
    cancel = true;
  };
  auto r = train_run(test::spec_from_yaml(digits_spec), test::bundled_registry(), options);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("layer 0"), std::string::npos) << lines[0];
  EXPECT_EQ(series(r, "layer_0_reconstruction_error").size(), 1u);
  EXPECT_TRUE(series(r, "layer_2_reconstruction_error").empty());
  EXPECT_GT((r.network->layer_parameters(0) - plain.network->layer_parameters(0)).norm(), 0.0);
  EXPECT_EQ(r.network->layer_parameters(2), plain.network->layer_parameters(2));
}

// `reconstruction: auto` picks cross-entropy for a level whose inputs lie in
// [0, 1] (the digits) and squared error with a linear decoder for one fed by
// tanh (in [-1, 1]); untied levels with adam train both down.
TEST(AutoencoderPretrain, AutoPicksTheReconstructionPerLevel) {
  const std::string spec = R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 32}
    - {type: tanh}
    - {type: dense, units: 16}
    - {type: relu}
    - {type: dense, units: 10}
init: {name: lecun_normal}
optimizer: {name: sgd, lr: 0.1}
pretrain: {name: autoencoder, epochs: 4, tied: false, optimizer: adam, lr: 0.005}
training: {epochs: 0, seed: 4}
)";
  std::vector<std::string> lines;
  RunOptions options;
  options.log = [&](const std::string& line) { lines.push_back(line); };
  const auto r = train_run(test::spec_from_yaml(spec), test::bundled_registry(), options);
  ASSERT_EQ(r.summary.status, RunStatus::ok) << r.summary.message;
  ASSERT_EQ(lines.size(), 8u);
  EXPECT_NE(lines.front().find("layer 0 (dense 64->32, tanh, cross-entropy)"), std::string::npos) << lines.front();
  EXPECT_NE(lines.back().find("layer 2 (dense 32->16, relu, squared error)"), std::string::npos) << lines.back();
  for (const std::string layer : {"0", "2"}) {
    const auto e = series(r, "layer_" + layer + "_reconstruction_error");
    ASSERT_EQ(e.size(), 4u) << layer;
    EXPECT_LT(e.back(), 0.9 * e.front()) << layer;
  }
}
