// Run-spec parsing: bad input is an InputError naming its place (never a raw
// yaml-cpp exception, which the CLI would report as an internal error), and
// what runs is what the effective spec records.
#include <gtest/gtest.h>

#include <string>

#include "gradlab/core/error.hpp"
#include "test_support.hpp"

using namespace gradlab;
using test::spec_from_yaml;

namespace {

const std::string data_and_model = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]
)";

// Parses and expects an InputError whose message holds every needle.
void expect_input_error(const std::string& yaml, const std::vector<std::string>& overrides,
                        const std::vector<std::string>& needles) {
  try {
    spec_from_yaml(yaml, overrides);
    ADD_FAILURE() << "accepted:\n" << yaml;
  } catch (const InputError& e) {
    const std::string what = e.what();
    for (const auto& n : needles) EXPECT_NE(what.find(n), std::string::npos) << "'" << n << "' missing from: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not an InputError (the CLI would say 'internal error'): " << e.what();
  }
}

}  // namespace

TEST(Spec, NonScalarLayerTypeIsBadInput) {
  expect_input_error("data: {name: digits}\nmodel:\n  layers: [{type: [dense], units: 10}]\n", {},
                     {"test.yaml:3:", "type"});
  expect_input_error(data_and_model, {"model.layers.0.type=[dense]"}, {"--set model.layers.0.type=[dense]", "type"});
}

TEST(Spec, NonScalarKeyIsBadInput) {
  expect_input_error("data: {name: digits}\nmodel:\n  layers: [{type: dense, units: 10, [x]: 1}]\n", {},
                     {"test.yaml:3:"});
  expect_input_error("data: {name: digits}\n[x]: 1\nmodel:\n  layers: [{type: dense, units: 10}]\n", {},
                     {"test.yaml:2:"});
  expect_input_error(
      "data: {name: digits}\nmodel:\n  layers: [{repeat: 2, layers: [{type: dense, units: 10}], [x]: 1}]\n", {},
      {"test.yaml:3:"});
}

// yaml-cpp reads a leading zero as octal (010 -> 8), while the effective spec
// (and any reader of it) sees 10: the run must do what its summary says.
TEST(Spec, LeadingZeroIntegerIsDecimalAsInTheEffectiveSpec) {
  auto spec = spec_from_yaml(data_and_model + "training: {epochs: 010, batch_size: 09}\n");
  EXPECT_EQ(spec.training.epochs, 10);
  EXPECT_EQ(spec.training.batch_size, 9);
  EXPECT_EQ(spec.effective["training"]["epochs"], 10);
  EXPECT_EQ(spec.effective["training"]["batch_size"], 9);

  auto from_set = spec_from_yaml(data_and_model, {"training.epochs=012"});
  EXPECT_EQ(from_set.training.epochs, 12);
  EXPECT_EQ(from_set.effective["training"]["epochs"], 12);

  auto repeated =
      spec_from_yaml("data: {name: digits}\nmodel:\n  layers: [{repeat: 010, layers: [{type: dense, units: 10}]}]\n");
  EXPECT_EQ(repeated.layers.size(), 10u);
}

// Nested repeats multiply: 10^10 layers must be refused as bad input, not
// attempted until memory runs out.
TEST(Spec, RepeatsThatMultiplyPastTheLimitAreRefused) {
  expect_input_error(
      "data: {name: digits}\nmodel:\n  layers:\n    - repeat: 100000\n      layers: [{repeat: 100000, layers: "
      "[relu]}]\n    - {type: dense, units: 10}\n",
      {}, {"test.yaml:4:", "layers"});
}

// --set into a key the spec does not have creates it, and into a component
// given by name alone turns `X` into `{name: X}` (`{type: X}` for a layer).
TEST(Spec, SetInsideAnAbsentOrScalarComponent) {
  auto absent = spec_from_yaml(data_and_model, {"optimizer.lr=0.05", "probes.every=3"});
  EXPECT_EQ(absent.optimizer.name, "sgd");
  EXPECT_DOUBLE_EQ(absent.optimizer.params.real("lr"), 0.05);
  EXPECT_EQ(absent.probes.every, 3);

  auto scalar = spec_from_yaml(data_and_model + "optimizer: momentum\ninit: lecun_normal\n",
                               {"optimizer.lr=0.02", "init.name=he_normal"});
  EXPECT_EQ(scalar.optimizer.name, "momentum");
  EXPECT_DOUBLE_EQ(scalar.optimizer.params.real("lr"), 0.02);
  EXPECT_EQ(scalar.init.name, "he_normal");

  auto layer = spec_from_yaml("data: {name: digits}\nmodel:\n  layers: [{type: dense, units: 10}, leaky_relu]\n",
                              {"model.layers.1.negative_slope=0.2"});
  ASSERT_EQ(layer.layers.size(), 2u);
  EXPECT_EQ(layer.layers[1].layer.name, "leaky_relu");
  EXPECT_DOUBLE_EQ(layer.layers[1].layer.params.real("negative_slope"), 0.2);
}

// `--set pretrain=null` removes the spec's pretraining, as `pretrain: null` in the file does.
TEST(Spec, SetToNullIsNull) {
  auto spec = spec_from_yaml(data_and_model, {"pretrain=null"});
  EXPECT_FALSE(spec.pretrain.has_value());
  auto tilde = spec_from_yaml(data_and_model, {"pretrain=~"});
  EXPECT_FALSE(tilde.pretrain.has_value());
  // An empty value is still the empty string.
  auto empty =
      spec_from_yaml("data: {name: digits, path: x}\nmodel:\n  layers: [{type: dense, units: 10}]\n", {"data.path="});
  EXPECT_EQ(empty.data.params.string("path"), "");
}
