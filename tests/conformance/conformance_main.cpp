// gradlab_conformance: runs the conformance checks (conformance.hpp) on every
// layer, initializer and optimizer that one plugin library registers.
//
//   gradlab_conformance PLUGIN.so [--layer YAML [--input FxS] [--avoid-kink]]...
//                       [--params NAME=YAML]... [GoogleTest flags]
//
// Without --layer, each layer of the plugin is checked as `{type: NAME}` on an
// input of 4 features and 1 step; --layer gives a configuration of your own
// (several per layer allowed), --input its per-example input shape, and
// --avoid-kink keeps the inputs away from 0 (for rectifiers). Initializers and
// optimizers are checked with their defaults, or with the parameters
// --params NAME={...} gives. The bundled plugins load too, for the
// initializers layers use. Initializers fill the matrices of a hidden layer
// (InitSite: layer 0 of 3, weight layer 0 of 2). Exit code 0 when every check
// passes, 1 otherwise.
// gradlab_add_plugin(NAME ... CONFORMANCE [CONFORMANCE_ARGS ...]) builds this
// program and adds a ctest test that runs it on the plugin.
#include <gtest/gtest.h>

#include <cctype>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "conformance.hpp"

namespace gradlab::test {

namespace {
std::unique_ptr<Registry>& registry_slot() {
  static std::unique_ptr<Registry> registry;
  return registry;
}
}  // namespace

const Registry& bundled_registry() { return *registry_slot(); }

}  // namespace gradlab::test

namespace {

using namespace gradlab;
using namespace gradlab::test;

class Check : public ::testing::Test {
 public:
  explicit Check(std::function<void()> body) : body_(std::move(body)) {}
  void TestBody() override { body_(); }

 private:
  std::function<void()> body_;
};

void add(const std::string& suite, const std::string& name, std::function<void()> body) {
  ::testing::RegisterTest(suite.c_str(), name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [body]() -> ::testing::Test* { return new Check(body); });
}

// A test name GoogleTest accepts: letters, digits and underscores.
std::string identifier(const std::string& text) {
  std::string out;
  for (char c : text) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

int usage(const std::string& message) {
  std::cerr << "gradlab_conformance: " << message
            << "\nusage: gradlab_conformance PLUGIN.so [--layer YAML [--input FxS] [--avoid-kink]]... "
               "[--params NAME=YAML]... [GoogleTest flags]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage("no plugin library given");
  const std::filesystem::path library = args[0];
  std::vector<LayerExample> examples;
  std::map<std::string, std::string> params;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--layer" && has_value) {
      LayerExample ex;
      ex.yaml = args[++i];
      ex.input = {4, 1};
      examples.push_back(ex);
    } else if (a == "--input" && has_value && !examples.empty()) {
      const std::string shape = args[++i];
      const auto x = shape.find('x');
      try {
        examples.back().input = {std::stoll(shape.substr(0, x)),
                                 x == std::string::npos ? 1 : std::stoll(shape.substr(x + 1))};
      } catch (const std::exception&) {
        return usage("--input " + shape + ": expected FEATURES or FEATURESxSTEPS");
      }
    } else if (a == "--avoid-kink" && !examples.empty()) {
      examples.back().avoid_kink = true;
    } else if (a == "--params" && has_value) {
      const std::string spec = args[++i];
      const auto eq = spec.find('=');
      if (eq == std::string::npos) return usage("--params " + spec + ": expected NAME=YAML");
      params[spec.substr(0, eq)] = spec.substr(eq + 1);
    } else {
      return usage("unexpected argument '" + a + "'");
    }
  }

  // The plugin under test first, so its components are the ones it registers;
  // then the bundled plugins (and GRADLAB_PLUGIN_PATH) for the rest.
  auto registry = std::make_unique<Registry>();
  if (auto problem = registry->load_library(library)) {
    std::cerr << "gradlab_conformance: cannot load " << problem->path << ": " << problem->message << "\n";
    return 1;
  }
  const std::string path = registry->plugins().back()->path;  // the record load_library just added
  for (const auto& p : registry->load_standard())
    std::cerr << "gradlab_conformance: warning: plugin " << p.path << ": " << p.message << "\n";
  std::vector<const Registry::Entry*> own;
  for (const auto* e : registry->entries())
    if (e->plugin && e->plugin->path == path) own.push_back(e);
  registry_slot() = std::move(registry);

  auto params_of = [&](const std::string& name) {
    auto it = params.find(name);
    return it == params.end() ? std::string("{}") : it->second;
  };
  int checked = 0;
  for (const auto* e : own) {
    const std::string name = e->info.name;
    if (e->kind == ComponentKind::layer) {
      std::vector<LayerExample> mine;
      for (auto ex : examples) {
        const YAML::Node node = YAML::Load(ex.yaml);
        if (node.IsMap() && node["type"] && node["type"].as<std::string>() == name) mine.push_back(ex);
      }
      if (mine.empty()) mine.push_back({"", name, "{type: " + name + "}", {4, 1}, {0, 0}});
      for (std::size_t k = 0; k < mine.size(); ++k) {
        LayerExample ex = mine[k];
        ex.layer = name;
        ex.label = identifier(name) + (mine.size() > 1 ? "_" + std::to_string(k + 1) : "");
        add("LayerConformance", ex.label + "_ShapesAndTensors", [ex] { check_layer_shapes_and_tensors(ex); });
        add("LayerConformance", ex.label + "_GradientsMatchFiniteDifferences", [ex] { check_layer_gradients(ex); });
        add("LayerConformance", ex.label + "_SameSeedGivesIdenticalResults", [ex] { check_layer_determinism(ex); });
        add("LayerConformance", ex.label + "_BackwardAccumulatesAndUsesTheLatestForward",
            [ex] { check_layer_backward_accumulates(ex); });
        add("LayerConformance", ex.label + "_ForwardWithoutUpdateLeavesBuffers",
            [ex] { check_layer_forward_without_update(ex); });
        add("LayerConformance", ex.label + "_SaturationIsAFraction", [ex] { check_layer_saturation(ex); });
      }
      ++checked;
    } else if (e->kind == ComponentKind::initializer) {
      const std::string p = params_of(name);
      // The first hidden layer of a net with two weight layers: not the output
      // layer, which a depth-aware scheme (Fixup) may set to zero.
      InitSite site;
      site.layers = 3;
      site.weight_layers = 2;
      add("InitializerConformance", identifier(name) + "_SameSeedSameWeights",
          [name, p, site] { check_initializer_determinism(name, p, site); });
      add("InitializerConformance", identifier(name) + "_EveryEntryIsWritten",
          [name, p, site] { check_initializer_writes_every_entry(name, p, site); });
      ++checked;
    } else if (e->kind == ComponentKind::optimizer) {
      const std::string p = params_of(name);
      add("OptimizerConformance", identifier(name) + "_ResetClearsAllState",
          [name, p] { check_optimizer_reset_clears_state(name, p); });
      add("OptimizerConformance", identifier(name) + "_DescendsAQuadratic",
          [name, p] { check_optimizer_descends(name, p); });
      ++checked;
    } else {
      std::cout << "gradlab_conformance: " << to_string(e->kind) << " '" << name
                << "' has no conformance suite; not checked\n";
    }
  }
  // A plugin with nothing to check must not pass silently as if it had been checked.
  add("Plugin", "RegistersCheckableComponents",
      [checked, path] { EXPECT_GT(checked, 0) << path << " registers no layer, initializer or optimizer"; });
  return RUN_ALL_TESTS();
}
