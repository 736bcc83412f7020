// A data set from a plugin is checked once, when it is made: shapes of inputs,
// labels and targets, labels within 0 .. classes-1, finite inputs. Each defect
// is bad input at the spec's data place (InputError, CLI exit 2), where before
// it was read or written out of bounds. Also: Network::forward_prefix refuses
// an output view of the wrong size, and a Network cannot be copied.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using test::TempDir;

static_assert(!std::is_copy_constructible_v<gradlab::Network>);
static_assert(!std::is_copy_assignable_v<gradlab::Network>);

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The bundled plugins and the bad_dataset test plugin.
const Registry& registry() {
  static const Registry* r = [] {
    auto* reg = new Registry();
    auto problems = reg->load_standard({test::test_plugin_dir("bad_dataset")});
    for (const auto& p : problems) ADD_FAILURE() << "plugin failed to load: " << p.path << ": " << p.message;
    return reg;
  }();
  return *r;
}

std::string spec_yaml(const std::string& defect) {
  return "data: {name: bad_dataset, defect: " + defect +
         "}\n"
         "model: {layers: [{type: dense, units: 8}, {type: relu}, {type: dense, units: 3}]}\n"
         "training: {epochs: 2, batch_size: 10}\n";
}

RunSpec spec_for(const std::string& defect) {
  return parse_run_spec(spec_yaml(defect), "t.yaml", {}, registry(), test::source_dir().string());
}

// The InputError that loading the data set throws ("" when none).
std::string load_error(const std::string& defect, std::string* where = nullptr) {
  const auto spec = spec_for(defect);
  try {
    load_dataset(spec, registry());
  } catch (const InputError& e) {
    if (where) *where = e.where();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an InputError: " << e.what();
    return std::string("wrong exception: ") + e.what();
  }
  return "";
}

}  // namespace

TEST(HardeningDataValidation, PluginIsThere) {
  ASSERT_NE(registry().find(ComponentKind::dataset, "bad_dataset"), nullptr);
  ASSERT_NE(registry().find(ComponentKind::layer, "dense"), nullptr);
}

TEST(HardeningDataValidation, SoundDataSetTrains) {
  EXPECT_EQ(load_error("none"), "");
  RunResult result;
  ASSERT_NO_THROW(result = train_run(spec_for("none"), registry()));
  EXPECT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  EXPECT_EQ(result.summary.epochs_run, 2);
}

struct DefectCase {
  std::string defect;
  std::vector<std::string> words;  // all in the message
};

// gtest shows the parameter in test listings: the defect's name is enough.
void PrintTo(const DefectCase& c, std::ostream* os) { *os << c.defect; }

class HardeningDataDefects : public ::testing::TestWithParam<DefectCase> {};

TEST_P(HardeningDataDefects, IsAnInputErrorNamingTheProblem) {
  const auto& c = GetParam();
  std::string where;
  const std::string message = load_error(c.defect, &where);
  ASSERT_FALSE(message.empty()) << c.defect << " was accepted";
  for (const auto& word : c.words) EXPECT_TRUE(contains(message, word)) << "'" << word << "' not in: " << message;
  // At the spec's data place, naming the data set.
  EXPECT_TRUE(contains(where, "t.yaml")) << where;
  EXPECT_TRUE(contains(message, "'bad_dataset'")) << message;

  // train_run refuses it the same way, before training anything.
  try {
    train_run(spec_for(c.defect), registry());
    ADD_FAILURE() << c.defect << ": train_run did not throw";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), message);
  }
}

INSTANTIATE_TEST_SUITE_P(Hardening, HardeningDataDefects,
                         ::testing::Values(DefectCase{"label_out_of_range", {"label 7", "outside 0..2", "train"}},
                                           DefectCase{"negative_label", {"label -1", "outside 0..2"}},
                                           DefectCase{"too_few_columns", {"inputs are", "4x29", "expected 4x30"}},
                                           DefectCase{"label_count", {"29 labels for 30 examples"}},
                                           DefectCase{"nan_input", {"NaN", "example 3"}},
                                           DefectCase{"zero_features", {"0 features", "empty"}},
                                           DefectCase{"regression_target_shape",
                                                      {"targets are", "3x29", "expected 3x30"}}),
                         [](const ::testing::TestParamInfo<DefectCase>& info) { return info.param.defect; });

TEST(HardeningDataValidation, CliRefusesABadDataSetAsBadInput) {
  TempDir dir;
  test::write_text(dir / "spec.yaml", spec_yaml("label_out_of_range"));
  auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "-q", "--plugin-dir",
                          test::test_plugin_dir("bad_dataset").string(), "--json", (dir / "out.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("gradlab: error: ", 0), 0u) << r.err;
  EXPECT_TRUE(contains(r.err, "label 7")) << r.err;
  EXPECT_TRUE(contains(r.err, "spec.yaml")) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.json")) << "bad input writes no output file";
}

TEST(HardeningNetwork, ForwardPrefixRefusesAWronglySizedOutput) {
  auto spec = test::spec_from_yaml(
      "data: {name: digits}\nmodel: {layers: [{type: dense, units: 16}, {type: relu}, {type: dense, units: 10}]}\n"
      "training: {epochs: 0}\n");
  auto data = load_dataset(spec, test::bundled_registry());
  RunOptions options;
  options.dataset = data;
  auto result = train_run(spec, test::bundled_registry(), options);  // built and initialized
  ASSERT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  Network& network = *result.network;
  ASSERT_EQ(network.layer_count(), 3);

  const std::vector<std::int64_t> order{0, 1, 2, 3};
  const BatchView batch = network.gather(data->train, order.data(), 4);
  const Scalar sentinel = Scalar(-12345);

  // Too few columns (2 of 4 examples), too few rows, too many: refused, nothing written.
  for (const auto& [rows, cols] : std::vector<std::pair<Index, Index>>{{16, 2}, {8, 4}, {16, 5}, {10, 4}}) {
    std::vector<Scalar> buffer(static_cast<std::size_t>(16 * 8), sentinel);
    MatrixMap out(buffer.data(), rows, cols);
    EXPECT_THROW(network.forward_prefix(batch, 1, out), std::invalid_argument) << rows << "x" << cols;
    EXPECT_TRUE(std::all_of(buffer.begin(), buffer.end(), [&](Scalar v) { return v == sentinel; }))
        << rows << "x" << cols << " was written to";
  }
  // No such prefix.
  {
    std::vector<Scalar> buffer(static_cast<std::size_t>(10 * 4), sentinel);
    EXPECT_ANY_THROW(network.forward_prefix(batch, 4, MatrixMap(buffer.data(), 10, 4)));
    EXPECT_ANY_THROW(network.forward_prefix(batch, -1, MatrixMap(buffer.data(), 10, 4)));
  }

  // The right size works: the input itself for prefix 0, 16 units after the first layer.
  std::vector<Scalar> input(static_cast<std::size_t>(64 * 4), sentinel);
  ASSERT_NO_THROW(network.forward_prefix(batch, 0, MatrixMap(input.data(), 64, 4)));
  for (Index b = 0; b < 4; ++b)
    for (Index f = 0; f < 64; ++f) EXPECT_EQ(input[std::size_t(b * 64 + f)], data->train.inputs(f, b));
  std::vector<Scalar> hidden(static_cast<std::size_t>(16 * 4), sentinel);
  ASSERT_NO_THROW(network.forward_prefix(batch, 1, MatrixMap(hidden.data(), 16, 4)));
  EXPECT_TRUE(std::none_of(hidden.begin(), hidden.end(), [&](Scalar v) { return v == sentinel; }));
  std::vector<Scalar> logits(static_cast<std::size_t>(10 * 4), sentinel);
  ASSERT_NO_THROW(network.forward_prefix(batch, 3, MatrixMap(logits.data(), 10, 4)));
}
