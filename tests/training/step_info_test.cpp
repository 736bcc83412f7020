// What the run loop tells its components (plugin API 5): the StepInfo every
// optimizer sees (iteration, epoch, progress, the schedule's lr_scale), the
// parameter groups reset() gets, and the InitSite each weight matrix is
// filled with. Recording components are added to a registry of the test's
// own, so each test sees exactly the calls of its run.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "gradlab/core/spec.hpp"
#include "test_support.hpp"

using namespace gradlab;

namespace {

struct Calls {
  std::vector<StepInfo> steps;
  std::vector<ParamGroup> groups;
  Index reset_count = -1;
  std::vector<InitSite> sites;
  std::vector<std::pair<Index, Index>> fans;  // (fan_in, fan_out) of each filled matrix
};

// Plain SGD that writes down what it is told.
class RecordingSgd final : public Optimizer {
 public:
  explicit RecordingSgd(std::shared_ptr<Calls> calls) : calls_(std::move(calls)) {}
  void reset(Index n, std::span<const ParamGroup> groups) override {
    calls_->reset_count = n;
    calls_->groups.assign(groups.begin(), groups.end());
  }
  void step(VectorMap params, ConstVectorMap grads, const StepInfo& info) override {
    calls_->steps.push_back(info);
    params -= Scalar(0.01 * info.lr_scale) * grads;
  }

 private:
  std::shared_ptr<Calls> calls_;
};

class RecordingInit final : public Initializer {
 public:
  explicit RecordingInit(std::shared_ptr<Calls> calls) : calls_(std::move(calls)) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite& site) const override {
    calls_->sites.push_back(site);
    calls_->fans.emplace_back(w.cols(), w.rows());
    fill_iid(w, rng, std::normal_distribution<double>(0.0, 0.1));
  }

 private:
  std::shared_ptr<Calls> calls_;
};

// factor = 0.5^(epoch - 1): a schedule whose value the test knows.
class Halving final : public Schedule {
 public:
  explicit Halving(double base) : base_(base) {}
  double factor(const StepInfo& at) const override { return base_ * std::pow(0.5, double(at.epoch - 1)); }

 private:
  double base_;
};

// A broken schedule: NaN from epoch 2 on.
class NanInEpoch2 final : public Schedule {
 public:
  double factor(const StepInfo& at) const override { return at.epoch >= 2 ? std::nan("") : 1.0; }
};

struct Fixture {
  std::shared_ptr<Calls> calls = std::make_shared<Calls>();
  Registry registry;

  Fixture() {
    EXPECT_TRUE(registry.load_standard().empty());
    auto add = [&](ComponentKind kind, const std::string& name, Schema schema = {}) {
      Registry::Entry e{kind, ComponentInfo{name, "test double", std::move(schema)}};
      return e;
    };
    auto opt = add(ComponentKind::optimizer, "recording_sgd");
    opt.optimizer = [c = calls](const Params&) { return std::make_unique<RecordingSgd>(c); };
    registry.add_builtin(std::move(opt));
    auto init = add(ComponentKind::initializer, "recording_init");
    init.initializer = [c = calls](const Params&) { return std::make_unique<RecordingInit>(c); };
    registry.add_builtin(std::move(init));
    auto halving =
        add(ComponentKind::schedule, "halving", {ParamSpec::real("base", 1.0).describe("factor at epoch 1")});
    halving.schedule = [](const Params& p, std::shared_ptr<const Schedule>) {
      return std::make_unique<Halving>(p.real("base"));
    };
    registry.add_builtin(std::move(halving));
    auto broken = add(ComponentKind::schedule, "nan_in_epoch_2");
    broken.schedule = [](const Params&, std::shared_ptr<const Schedule>) { return std::make_unique<NanInEpoch2>(); };
    registry.add_builtin(std::move(broken));
  }

  RunSummary run(const std::string& yaml) {
    const auto spec = parse_run_spec(yaml, "test.yaml", {}, registry);
    return train_run(spec, registry).summary;
  }
};

const char* const small_run = R"(
data: {name: digits}
model: {layers: [{type: dense, units: 8}, {type: tanh}, {type: dense, units: 10}]}
init: recording_init
optimizer: recording_sgd
training: {epochs: 3, batch_size: 500}
)";

}  // namespace

TEST(StepInfo, CountsStepsEpochsAndProgress) {
  Fixture f;
  const auto summary = f.run(small_run);
  ASSERT_EQ(summary.status, RunStatus::ok) << summary.message;
  const auto data = load_dataset(parse_run_spec(small_run, "t", {}, f.registry), f.registry);
  const std::int64_t per_epoch = (data->train.examples + 499) / 500;
  ASSERT_EQ(f.calls->steps.size(), std::size_t(3 * per_epoch));
  for (std::size_t i = 0; i < f.calls->steps.size(); ++i) {
    const auto& s = f.calls->steps[i];
    EXPECT_EQ(s.iteration, std::int64_t(i) + 1);
    EXPECT_EQ(s.epoch, std::int64_t(i) / per_epoch + 1);
    EXPECT_EQ(s.steps_per_epoch, per_epoch);
    EXPECT_EQ(s.total_steps, 3 * per_epoch);
    EXPECT_DOUBLE_EQ(s.progress, double(i) / double(3 * per_epoch));
    EXPECT_EQ(s.lr_scale, 1.0);  // no schedule
    EXPECT_TRUE(std::isfinite(s.loss) && s.loss > 0);
  }
}

TEST(StepInfo, GroupsAreTheLayersWithParameters) {
  Fixture f;
  ASSERT_EQ(f.run(small_run).status, RunStatus::ok);
  // dense 64->8 (8*64 + 8), tanh (none), dense 8->10 (10*8 + 10).
  ASSERT_EQ(f.calls->groups.size(), 2u);
  EXPECT_EQ(f.calls->groups[0].name, "0.dense");
  EXPECT_EQ(f.calls->groups[0].offset, 0);
  EXPECT_EQ(f.calls->groups[0].size, 8 * 64 + 8);
  EXPECT_EQ(f.calls->groups[1].name, "2.dense");
  EXPECT_EQ(f.calls->groups[1].offset, 8 * 64 + 8);
  EXPECT_EQ(f.calls->groups[1].size, 10 * 8 + 10);
  EXPECT_EQ(f.calls->reset_count, 8 * 64 + 8 + 10 * 8 + 10);
}

TEST(StepInfo, ScheduleFactorBecomesLrScaleAndProvenance) {
  Fixture f;
  const auto summary = f.run(std::string(small_run) + "schedule: {name: halving, base: 0.8}\n");
  ASSERT_EQ(summary.status, RunStatus::ok) << summary.message;
  ASSERT_FALSE(f.calls->steps.empty());
  for (const auto& s : f.calls->steps) EXPECT_DOUBLE_EQ(s.lr_scale, 0.8 * std::pow(0.5, double(s.epoch - 1)));
  const auto json = to_json(summary);
  bool listed = false;
  for (const auto& p : json["plugins"])
    if (p["kind"] == "schedule" && p["name"] == "halving" && p["params"]["base"] == 0.8) listed = true;
  EXPECT_TRUE(listed) << json["plugins"].dump();
}

TEST(StepInfo, ANonFiniteScheduleFactorFailsTheRunNamingTheSchedule) {
  Fixture f;
  const auto summary = f.run(std::string(small_run) + "schedule: nan_in_epoch_2\n");
  EXPECT_EQ(summary.status, RunStatus::failed);
  EXPECT_NE(summary.message.find("schedule 'nan_in_epoch_2'"), std::string::npos) << summary.message;
  ASSERT_EQ(summary.epochs.size(), 2u);  // epochs 0 and 1 are kept
  EXPECT_EQ(summary.epochs.back().epoch, 1);
}

TEST(StepInfo, ScheduleSpecIsValidated) {
  Fixture f;
  auto refuse = [&](const std::string& tail, const std::string& part) {
    try {
      parse_run_spec(std::string(small_run) + tail, "test.yaml", {}, f.registry);
      ADD_FAILURE() << "accepted: " << tail;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  refuse("schedule: halvng\n", "halving");                       // unknown name, the nearest suggested
  refuse("schedule: {name: halving, then: halving}\n", "then");  // takes no then:
  refuse("schedule: {name: halving, bse: 1}\n", "bse");
}

TEST(InitSite, NetworkAndBranchPositions) {
  Fixture f;
  const auto summary = f.run(R"(
data: {name: digits}
model:
  layers:
    - {type: dense, units: 16}
    - {type: relu}
    - {type: residual, layers: [{type: dense, units: 16}, {type: relu}, {type: dense, units: 16}]}
    - {type: residual, layers: [{type: dense, units: 16}, {type: relu}, {type: dense, units: 16}]}
    - {type: dense, units: 10}
init: recording_init
optimizer: recording_sgd
training: {epochs: 0}
)");
  ASSERT_EQ(summary.status, RunStatus::ok) << summary.message;
  const auto& s = f.calls->sites;
  ASSERT_EQ(s.size(), 6u);  // dense, 2 + 2 branch denses, output dense
  for (const auto& site : s) {
    EXPECT_EQ(site.layers, 5);
    EXPECT_EQ(site.weight_layers, 4);  // dense, residual, residual, dense
    EXPECT_EQ(site.blocks, 2);
  }
  // The first dense: layer 0, outside any block.
  EXPECT_EQ(s[0].layer, 0);
  EXPECT_EQ(s[0].weight_layer, 0);
  EXPECT_FALSE(s[0].in_branch());
  EXPECT_FALSE(s[0].output());
  EXPECT_EQ(f.calls->fans[0], std::make_pair(Index(64), Index(16)));
  // The branches: block 0 then block 1, their denses at branch ranks 0 and 1 of 2.
  for (int k = 0; k < 4; ++k) {
    const auto& b = s[std::size_t(1 + k)];
    EXPECT_EQ(b.layer, 2 + k / 2);
    EXPECT_EQ(b.block, k / 2);
    EXPECT_EQ(b.branch_layer, k % 2);
    EXPECT_EQ(b.branch_layers, 2);
    EXPECT_TRUE(b.in_branch());
    EXPECT_FALSE(b.output());
  }
  // The classifier: the last layer with parameters, outside any block.
  EXPECT_EQ(s[5].layer, 4);
  EXPECT_EQ(s[5].weight_layer, 3);
  EXPECT_TRUE(s[5].output());
  EXPECT_EQ(f.calls->fans[5], std::make_pair(Index(16), Index(10)));
}
