// Shared by the data set plugins' tests: build a data set from a YAML node the
// way a run spec does (parameters validated against the schema by the host's
// validate_params, then the factory through Registry::make_dataset, which runs
// check_dataset), and compare splits bit for bit.
#pragma once

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>

#include "conformance/layer_harness.hpp"
#include "gradlab/core/datasets.hpp"
#include "gradlab/core/error.hpp"
#include "test_support.hpp"

namespace gradlab::test {

// `yaml` is the data node, e.g. "{name: adding, length: 100}".
inline std::shared_ptr<const Dataset> make_data(const std::string& yaml, std::int64_t run_seed = 1) {
  const YAML::Node node = YAML::Load(yaml);
  const std::string name = node["name"].as<std::string>();
  const auto& reg = bundled_registry();
  const auto& entry = reg.get(ComponentKind::dataset, name, "test");
  DataContext ctx;
  ctx.seed = run_seed;
  return reg.make_dataset(name, params_from_node(entry, node, {"name"}), ctx);
}

// The message of the error building `yaml` throws ("" if none).
inline std::string make_error(const std::string& yaml) {
  try {
    make_data(yaml);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

inline bool same_bits(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(Scalar) * static_cast<std::size_t>(a.size())) == 0;
}

inline bool same_split(const Split& a, const Split& b) {
  return a.examples == b.examples && same_bits(a.inputs, b.inputs) && same_bits(a.targets, b.targets) &&
         a.labels == b.labels && a.lengths == b.lengths;
}

// The criterion applied to a [rows, cols] output against a target.
inline bool solved(const Dataset& d, const Matrix& output, const Matrix& target) {
  return d.success.solved(ConstMatrixMap(output.data(), output.rows(), output.cols()),
                          ConstMatrixMap(target.data(), target.rows(), target.cols()), nullptr);
}

// Determinism: same seeds -> the same bits; another dataset seed or run seed
// -> other data; train and test differ.
inline void expect_deterministic(const std::string& yaml, const std::string& yaml_other_seed) {
  auto a = make_data(yaml, 7), b = make_data(yaml, 7);
  EXPECT_TRUE(same_split(a->train, b->train));
  EXPECT_TRUE(same_split(a->test, b->test));
  auto c = make_data(yaml_other_seed, 7);
  EXPECT_FALSE(same_bits(a->train.inputs, c->train.inputs) && a->train.labels == c->train.labels &&
               same_bits(a->train.targets, c->train.targets));
  auto r = make_data(yaml, 8);
  EXPECT_FALSE(same_bits(a->train.inputs, r->train.inputs) && a->train.labels == r->train.labels &&
               same_bits(a->train.targets, r->train.targets));
  const Index n = std::min(a->train.examples, a->test.examples);
  const Index cols = n * a->input.steps;
  EXPECT_FALSE(same_bits(a->train.inputs.leftCols(cols), a->test.inputs.leftCols(cols)) &&
               a->train.labels == a->test.labels && same_bits(a->train.targets, a->test.targets));
  EXPECT_NO_THROW(check_dataset(*a));
}

}  // namespace gradlab::test
