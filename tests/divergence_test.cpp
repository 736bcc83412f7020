// A NaN/Inf during training is a run result, not a crash: status "diverged",
// diverged_epoch = the epoch in which it happened, exit code 0, and a summary
// that is valid JSON (no NaN/Infinity literals).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "gradlab/core/run.hpp"
#include "test_support.hpp"

using namespace gradlab;
using nlohmann::json;
using test::TempDir;

namespace {

// A deep linear stack trained full-batch with a step far too large: the loss
// grows doubly exponentially and becomes non-finite after a few epochs (not in
// the first one), a deterministic mid-run blow-up.
const char* exploding_spec = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 64}, {type: dense, units: 64}, {type: dense, units: 64}, {type: dense, units: 10}]
optimizer: {name: sgd, lr: 2}
training: {epochs: 60, batch_size: 2000}
)";

// Every number in the document is finite (nlohmann would have refused NaN
// literals at parse time; this also catches numbers that overflowed to inf).
void expect_all_finite(const json& j, const std::string& where = "$") {
  if (j.is_number_float()) {
    EXPECT_TRUE(std::isfinite(j.get<double>())) << where;
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) expect_all_finite(it.value(), where + "." + it.key());
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) expect_all_finite(j[i], where + "[" + std::to_string(i) + "]");
  }
}

json parse_strict(const std::string& text) {
  for (const char* literal : {"NaN", "nan", "Infinity", "inf"}) {
    // A bare literal (outside strings such as the message) would be invalid JSON.
    EXPECT_EQ(text.find(std::string(": ") + literal), std::string::npos) << literal << " in:\n" << text;
    EXPECT_EQ(text.find(std::string(": -") + literal), std::string::npos) << literal << " in:\n" << text;
  }
  json j = json::parse(text);  // throws on invalid JSON
  expect_all_finite(j);
  return j;
}

test::CommandResult train_cli(const TempDir& dir, const std::string& spec, std::vector<std::string> extra) {
  test::write_text(dir / "spec.yaml", spec);
  std::vector<std::string> args{"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.json").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::run_cli(args);
}

}  // namespace

TEST(Divergence, MidRunBlowUpReportsTheEpoch) {
  TempDir dir;
  auto r = train_cli(dir, exploding_spec, {"--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("status diverged"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("error"), std::string::npos) << r.err;
  auto summary = parse_strict(test::read_text(dir / "out.json"));
  ASSERT_EQ(summary["status"], "diverged") << summary.dump(2);
  ASSERT_TRUE(summary.contains("diverged_epoch"));
  const int d = summary["diverged_epoch"].get<int>();
  ASSERT_GE(d, 2) << "this spec is meant to blow up after the first epoch";
  ASSERT_LT(d, 60);
  EXPECT_FALSE(summary.value("message", std::string()).empty());
  // Nothing after the divergence was recorded as trained.
  EXPECT_LE(summary["final"]["epochs_run"].get<int>(), d);
  EXPECT_GE(summary["final"]["epochs_run"].get<int>(), d - 1);
  for (const auto& e : summary["epochs"]) EXPECT_LE(e["epoch"].get<int>(), d);
  // Diverged weights are not saved.
  EXPECT_FALSE(std::filesystem::exists(dir / "w.safetensors"));

  // The same run stopped one epoch earlier is fine (and identical so far);
  // stopped exactly at d it diverges in d: d is the epoch where it happened.
  TempDir before;
  auto ok = train_cli(before, exploding_spec, {"--set", "training.epochs=" + std::to_string(d - 1)});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  auto ok_summary = parse_strict(test::read_text(before / "out.json"));
  EXPECT_EQ(ok_summary["status"], "ok") << "diverged_epoch " << d << " is too late";
  ASSERT_EQ(ok_summary["epochs"].size(), static_cast<std::size_t>(d));
  for (int k = 0; k < d; ++k) {
    ASSERT_TRUE(ok_summary["epochs"][k]["train_loss"].is_number());
    EXPECT_EQ(ok_summary["epochs"][k]["train_loss"], summary["epochs"][k]["train_loss"]) << "epoch " << k;
  }
  TempDir at;
  auto same = train_cli(at, exploding_spec, {"--set", "training.epochs=" + std::to_string(d)});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  auto at_summary = parse_strict(test::read_text(at / "out.json"));
  EXPECT_EQ(at_summary["status"], "diverged");
  EXPECT_EQ(at_summary["diverged_epoch"], d);
}

TEST(Divergence, BlowUpInsideTheFirstEpoch) {
  // Mini-batches with a huge step: NaN a few steps into epoch 1.
  TempDir dir;
  auto r = train_cli(dir, exploding_spec, {"--set", "training.batch_size=32", "--set", "optimizer.lr=5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = parse_strict(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["diverged_epoch"], 1);
  EXPECT_EQ(summary["final"]["epochs_run"], 0);
  ASSERT_GE(summary["epochs"].size(), 1u);
  EXPECT_EQ(summary["epochs"][0]["epoch"], 0);
  EXPECT_TRUE(summary["epochs"][0]["train_loss"].is_number()) << "epoch 0 was measured before any update";
}

TEST(Divergence, SaturatingSigmoidNetWithAHugeStep) {
  TempDir dir;
  auto r = train_cli(dir, R"(data: {name: digits}
model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 1.0e+38}
training: {epochs: 3}
)",
                     {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = parse_strict(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["diverged_epoch"], 1);
}

TEST(Divergence, NonFiniteBeforeTrainingIsEpochZero) {
  // Inputs near the float limit overflow the first layer: the loss is NaN
  // before any update.
  TempDir dir;
  std::string rows;
  for (int i = 0; i < 20; ++i)
    rows +=
        std::to_string(1e38 * (1 + i % 3)) + "," + std::to_string(2e38 + 1e36 * i) + "," + std::to_string(i % 2) + "\n";
  test::write_text(dir / "huge.csv", rows);
  auto r = train_cli(dir,
                     "data: {name: csv, path: huge.csv}\nmodel: {layers: [{type: dense, units: 4}, "
                     "{type: dense, units: 2}]}\ntraining: {epochs: 3}\n",
                     {});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = parse_strict(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["diverged_epoch"], 0);
  EXPECT_EQ(summary["final"]["epochs_run"], 0);
  // The epoch-0 record is there, its non-finite numbers written as null.
  ASSERT_EQ(summary["epochs"].size(), 1u);
  EXPECT_TRUE(summary["epochs"][0]["train_loss"].is_null());
}

TEST(Divergence, InProcessRunReturnsAValueNotAnException) {
  auto spec = test::spec_from_yaml(exploding_spec, {"training.epochs=20"});
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec, test::bundled_registry()));
  const auto& s = result.summary;
  ASSERT_EQ(s.status, RunStatus::diverged);
  ASSERT_TRUE(s.diverged_epoch.has_value());
  EXPECT_GE(*s.diverged_epoch, 1);
  EXPECT_LE(*s.diverged_epoch, 20);
  EXPECT_FALSE(s.message.empty());
  // The records before the divergence are all finite.
  for (const auto& e : s.epochs)
    if (e.epoch < *s.diverged_epoch) EXPECT_TRUE(std::isfinite(e.train_loss)) << "epoch " << e.epoch;
  auto text = to_json(s).dump(2);
  parse_strict(text);
}

TEST(Divergence, NonFiniteStartingWeightsAreEpochZero) {
  // A weights file holding NaN (here the whole first layer's weight): whatever
  // the activations make of it (ReLU may mask a NaN), the run must not report
  // "ok" on non-finite weights.
  TempDir dir;
  const std::string spec =
      "data: {name: digits}\nmodel: {layers: [{type: dense, units: 4}, {type: relu}, {type: dense, units: 10}]}\n"
      "training: {epochs: 0}\n";
  auto r = train_cli(dir, spec, {"--save-weights", (dir / "w.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string bytes = test::read_text(dir / "w.safetensors");
  std::uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= std::uint64_t(std::uint8_t(bytes[i])) << (8 * i);
  auto offsets = json::parse(bytes.substr(8, header))["0.weight"]["data_offsets"];
  const float nan = std::nanf("");
  for (std::size_t at = 8 + header + offsets[0].get<std::size_t>(); at < 8 + header + offsets[1].get<std::size_t>();
       at += sizeof nan)
    std::memcpy(bytes.data() + at, &nan, sizeof nan);
  test::write_text(dir / "nan.safetensors", bytes);

  r = train_cli(dir, spec, {"--load-weights", (dir / "nan.safetensors").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto summary = parse_strict(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "diverged");
  EXPECT_EQ(summary["diverged_epoch"], 0);
}
