// gradlab_conformance, the program gradlab_add_plugin(... CONFORMANCE) builds
// for an out-of-tree plugin: it must pass correct plugins and fail a wrong one
// (the wrong_gradient_layer test plugin, whose tanh backward is off by 3%).
// tests/install_test.cpp builds it against an installed tree for the example.
#include <gtest/gtest.h>

#include <string>

#include "test_support.hpp"

using namespace gradlab;

namespace {

test::CommandResult run_conformance(const std::string& args) {
  const auto runner = test::binary_dir() / "bin" / "gradlab_conformance";
  return test::run_shell("env -u GRADLAB_PLUGIN_PATH '" + runner.string() + "' " + args + " </dev/null");
}

std::string bundled(const std::string& plugin) {
  return "'" + (test::binary_dir() / "lib" / "gradlab" / "plugins" / ("gradlab_" + plugin + ".so")).string() + "'";
}

std::string describe(const test::CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

TEST(ConformanceRunner, FailsALayerWithAWrongBackward) {
  const auto lib = test::test_plugin_dir("wrong_gradient_layer") / "gradlab_wrong_gradient_layer.so";
  const auto r = run_conformance("'" + lib.string() + "'");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.out.find("[  FAILED  ] LayerConformance.wrong_gradient_tanh_GradientsMatchFiniteDifferences"),
            std::string::npos)
      << describe(r);
  EXPECT_NE(r.out.find("wrong_gradient_tanh gradient mismatch"), std::string::npos) << r.out;
  // Only the gradient is wrong: the other checks of that layer pass.
  EXPECT_NE(r.out.find("[       OK ] LayerConformance.wrong_gradient_tanh_ShapesAndTensors"), std::string::npos);
  EXPECT_NE(r.out.find("1 FAILED TEST"), std::string::npos) << r.out;
}

TEST(ConformanceRunner, PassesCorrectBundledPlugins) {
  // A layer with parameters, given its configuration and a sequence input.
  auto r = run_conformance(bundled("dense") + " --layer '{type: dense, units: 3}' --input 4x2");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("[       OK ] LayerConformance.dense_GradientsMatchFiniteDifferences"), std::string::npos)
      << r.out;
  r = run_conformance(bundled("relu") + " --layer '{type: relu}' --avoid-kink");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  r = run_conformance(bundled("glorot_uniform") + " --params 'glorot_uniform={gain: 2}'");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("[       OK ] InitializerConformance.glorot_uniform_SameSeedSameWeights"), std::string::npos)
      << r.out;
  r = run_conformance(bundled("adam"));
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("[       OK ] OptimizerConformance.adam_DescendsAQuadratic"), std::string::npos) << r.out;
}

TEST(ConformanceRunner, CheckingNothingIsAFailure) {
  // A data-set plugin has no suite: the run says so and does not pass as checked.
  auto r = run_conformance(bundled("parity"));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.out.find("has no conformance suite; not checked"), std::string::npos) << r.out;
  // Bad usage and an unloadable library are reported, not crashed on.
  r = run_conformance(bundled("adam") + " --frobnicate");
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("unexpected argument '--frobnicate'"), std::string::npos) << r.err;
  r = run_conformance("/nonexistent/gradlab_nothing.so");
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("cannot load /nonexistent/gradlab_nothing.so"), std::string::npos) << r.err;
}

}  // namespace
