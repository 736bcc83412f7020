// The installed SDK, end to end: `cmake --install` the build tree into a
// temporary prefix, build the out-of-tree examples (examples/custom_plugin,
// examples/host_app) against it with find_package(gradlab), and use them
// through the installed and the build-tree CLI; the plugin's conformance test
// (gradlab_add_plugin ... CONFORMANCE) runs with ctest in its build.
//
// Slow: each test runs a cmake --install, and two of them a CMake configure +
// build of one example (~4-5 s each on two idle cores without ccache, well
// under a second with a warm ccache; more while other tests share the cores).
// tests/CMakeLists.txt labels these tests "slow;install": they stay in the
// normal ctest run, and `ctest -LE slow` skips them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <string>

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;

namespace {

std::string quote(const std::string& arg) {
  std::string out = "'";
  for (char c : arg) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// A value from the build tree's CMakeCache.txt ("" if absent), so that the
// examples are built with the same CMake, generator, compiler and launcher.
std::string cache_value(const std::string& key) {
  std::ifstream in(test::binary_dir() / "CMakeCache.txt");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) return line.substr(line.find('=') + 1);
  return "";
}

// Runs with the environment a fresh shell on another machine would have: no
// library path or plugin path pointing back into the build tree.
test::CommandResult run_clean(const std::string& command) {
  return test::run_shell("env -u LD_LIBRARY_PATH -u GRADLAB_PLUGIN_PATH -u GRADLAB_DATA_DIR " + command +
                         " </dev/null");
}

std::string describe(const test::CommandResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\n--- stdout\n" + r.out + "\n--- stderr\n" + r.err;
}

std::set<std::string> plugin_files(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().extension() == ".so") names.insert(entry.path().filename().string());
  return names;
}

class Install : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string cmake = cache_value("CMAKE_COMMAND");
    ASSERT_FALSE(cmake.empty()) << "no CMAKE_COMMAND in " << test::binary_dir() / "CMakeCache.txt";
    cmake_ = quote(cmake);
    auto r = test::run_shell(cmake_ + " --install " + quote(test::binary_dir().string()) + " --prefix " +
                             quote(prefix().string()));
    ASSERT_EQ(r.exit_code, 0) << describe(r);
  }

  fs::path prefix() const { return tmp_ / "prefix"; }
  fs::path installed_cli() const { return prefix() / "bin" / "gradlab"; }

  // Configures and builds examples/<name> against the installed package into
  // <tmp>/<name>; returns that build folder.
  fs::path build_example(const std::string& name) {
    const fs::path build = tmp_ / name;
    std::string configure = cmake_ + " -S " + quote((test::source_dir() / "examples" / name).string()) + " -B " +
                            quote(build.string()) + " -DCMAKE_PREFIX_PATH=" + quote(prefix().string());
    for (const char* key : {"CMAKE_CXX_COMPILER", "CMAKE_BUILD_TYPE", "CMAKE_MAKE_PROGRAM"})
      if (auto v = cache_value(key); !v.empty()) configure += std::string(" -D") + key + "=" + quote(v);
    if (auto generator = cache_value("CMAKE_GENERATOR"); !generator.empty()) configure += " -G " + quote(generator);
    auto launcher = cache_value("CMAKE_CXX_COMPILER_LAUNCHER");
    if (launcher.empty() && test::run_shell("command -v ccache").exit_code == 0) launcher = "ccache";
    if (!launcher.empty()) configure += " -DCMAKE_CXX_COMPILER_LAUNCHER=" + quote(launcher);
    // ccache: paths under the temporary folder become relative, so the
    // prefix's include path does not defeat the cache from run to run.
    const std::string env = "CCACHE_BASEDIR=" + quote(tmp_.path().string()) + " ";
    auto r = test::run_shell(env + configure);
    EXPECT_EQ(r.exit_code, 0) << configure << "\n" << describe(r);
    if (r.exit_code != 0) return build;
    r = test::run_shell(env + cmake_ + " --build " + quote(build.string()) + " -j 2");
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return build;
  }

  test::TempDir tmp_;
  std::string cmake_;
};

}  // namespace

TEST_F(Install, InstalledTreeIsSelfContained) {
  // The CLI, the core, every bundled plugin, the data and the CMake package.
  ASSERT_TRUE(fs::exists(installed_cli()));
  const fs::path plugin_dir = prefix() / "lib" / "gradlab" / "plugins";
  ASSERT_TRUE(fs::is_directory(plugin_dir));
  const auto bundled = plugin_files(test::binary_dir() / "lib" / "gradlab" / "plugins");
  ASSERT_FALSE(bundled.empty());
  EXPECT_EQ(plugin_files(plugin_dir), bundled);
  EXPECT_TRUE(fs::exists(prefix() / "share" / "gradlab" / "data" / "digits.csv.gz"));
  for (const char* file :
       {"gradlabConfig.cmake", "gradlabConfigVersion.cmake", "gradlabTargets.cmake", "GradlabPlugin.cmake"})
    EXPECT_TRUE(fs::exists(prefix() / "lib" / "cmake" / "gradlab" / file)) << file;
  EXPECT_TRUE(fs::exists(prefix() / "include" / "gradlab" / "sdk.hpp"));
  EXPECT_TRUE(fs::exists(prefix() / "include" / "gradlab" / "core" / "run.hpp"));
  // The conformance checks for out-of-tree plugins (gradlab_add_plugin ... CONFORMANCE).
  EXPECT_TRUE(fs::exists(prefix() / "include" / "gradlab" / "testing" / "conformance.hpp"));
  EXPECT_TRUE(fs::exists(prefix() / "include" / "gradlab" / "testing" / "layer_harness.hpp"));
  EXPECT_TRUE(fs::exists(prefix() / "lib" / "cmake" / "gradlab" / "conformance_main.cpp"));

  // Move the whole prefix: RUNPATH ($ORIGIN), the plugin folder and the data
  // are all found relative to the binaries, without LD_LIBRARY_PATH.
  const fs::path moved = tmp_ / "moved";
  fs::rename(prefix(), moved);
  const std::string cli = quote((moved / "bin" / "gradlab").string());
  auto r = run_clean(cli + " plugins list --json");
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto listing = nlohmann::json::parse(r.out);
  EXPECT_TRUE(listing["problems"].empty()) << r.out;
  std::set<std::string> loaded;
  for (const auto& c : listing["components"]) {
    const std::string path = c["path"];
    if (path.empty()) continue;  // built into the core (data sets)
    EXPECT_EQ(fs::path(path).parent_path().lexically_normal(), moved / "lib" / "gradlab" / "plugins") << path;
    loaded.insert(fs::path(path).filename().string());
  }
  EXPECT_EQ(loaded, bundled);

  const std::string spec = (test::source_dir() / "examples" / "specs" / "sigmoid_deep.yaml").string();
  r = run_clean(cli + " train " + quote(spec) + " --set training.epochs=1 --quiet");
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  // It reads the digits from its own share/ folder: a broken copy there breaks it.
  test::write_text(moved / "share" / "gradlab" / "data" / "digits.csv.gz", "not,digits\n");
  r = run_clean(cli + " train " + quote(spec) + " --set training.epochs=1 --quiet");
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find((moved / "share" / "gradlab" / "data").string()), std::string::npos) << r.err;
}

TEST_F(Install, OutOfTreePluginBuildsAgainstTheInstalledSdkAndTrains) {
  const fs::path build = build_example("custom_plugin");
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(fs::exists(build / "gradlab_sign_sgd.so"));

  // Its CMakeLists asks for CONFORMANCE: ctest in the example's build runs the
  // installed optimizer checks on the library, and they pass.
  {
    const std::string ctest = cache_value("CMAKE_CTEST_COMMAND");
    ASSERT_FALSE(ctest.empty());
    auto r = run_clean(quote(ctest) + " --test-dir " + quote(build.string()) + " -V");
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.out.find("100% tests passed, 0 tests failed out of 1"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[       OK ] OptimizerConformance.sign_sgd_DescendsAQuadratic"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("[       OK ] OptimizerConformance.sign_sgd_ResetClearsAllState"), std::string::npos) << r.out;
  }

  // Both the installed CLI and the build tree's list it, from that folder.
  for (const std::string cli : {installed_cli().string(), test::cli_path().string()}) {
    auto r = run_clean(quote(cli) + " plugins list --plugin-dir " + quote(build.string()));
    ASSERT_EQ(r.exit_code, 0) << cli << "\n" << describe(r);
    EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(\n  sign_sgd +1\.0\.0 .*Bernstein)"))) << cli << "\n" << r.out;
    EXPECT_NE(r.out.find((build / "gradlab_sign_sgd.so").string()), std::string::npos) << r.out;
    EXPECT_EQ(r.err, "") << cli;
  }

  // It trains, and the run summary names it with its version.
  const fs::path out = tmp_ / "out.json";
  const fs::path spec = test::source_dir() / "examples" / "custom_plugin" / "spec.yaml";
  auto r = run_clean(quote(installed_cli().string()) + " train " + quote(spec.string()) + " --plugin-dir " +
                     quote(build.string()) + " --set training.epochs=5 --quiet --json " + quote(out.string()));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  auto summary = nlohmann::json::parse(test::read_text(out));
  EXPECT_EQ(summary["status"], "ok");
  bool named = false;
  for (const auto& p : summary["plugins"])
    if (p["kind"] == "optimizer") {
      EXPECT_EQ(p["name"], "sign_sgd");
      EXPECT_EQ(p["plugin"], "sign_sgd");
      EXPECT_EQ(p["version"], "1.0.0");
      named = true;
    }
  EXPECT_TRUE(named) << summary["plugins"].dump();
  ASSERT_EQ(summary["epochs"].size(), 6u);
  EXPECT_LT(summary["epochs"].back()["train_loss"].get<double>(),
            summary["epochs"].front()["train_loss"].get<double>());
}

TEST_F(Install, HostAppBuildsAgainstTheInstalledPackageAndRuns) {
  const fs::path build = build_example("host_app");
  ASSERT_FALSE(HasFailure());
  const fs::path app = build / "gradlab_host_app";
  ASSERT_TRUE(fs::exists(app));
  const fs::path spec = tmp_ / "small.yaml";
  test::write_text(spec, R"(
data: {name: digits}
model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 3, seed: 4}
)");
  // Found through its build RUNPATH: the installed core and its bundled plugins.
  auto r = run_clean(quote(app.string()) + " " + quote(spec.string()));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err, "");
  const auto bundled = plugin_files(prefix() / "lib" / "gradlab" / "plugins");
  EXPECT_NE(r.out.find("loaded " + std::to_string(bundled.size()) + " plugins"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("epoch   3"), std::string::npos) << r.out;
  EXPECT_TRUE(std::regex_search(r.out, std::regex(R"(layer  0 dense +[0-9.]+e[-+][0-9]+)"))) << r.out;
  EXPECT_NE(r.out.find("two concurrent runs match the sequential ones"), std::string::npos) << r.out;

  // A bad override is reported as bad input, not a crash.
  r = run_clean(quote(app.string()) + " " + quote(spec.string()) + " optimizer.lrr=1");
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("lrr"), std::string::npos) << r.err;
}

TEST_F(Install, InstalledPythonModuleImportsAndTrainsFromTheMovedPrefix) {
  // `import gradlab` from the prefix's dist-packages, moved with the prefix:
  // the extension finds libgradlab_core and the core its plugins and data
  // relative to themselves, as the CLI does.
  const std::string python_dir = cache_value("GRADLAB_PYTHON_INSTALL_DIR");
  if (python_dir.empty() || !fs::exists(test::binary_dir() / "python" / "gradlab"))
    GTEST_SKIP() << "the Python module is not built here (GRADLAB_BUILD_PYTHON=OFF, or no pybind11/numpy)";
  ASSERT_TRUE(fs::exists(prefix() / python_dir / "gradlab" / "__init__.py"));
  const fs::path moved = tmp_ / "moved";
  fs::rename(prefix(), moved);
  const std::string spec = (test::source_dir() / "examples" / "specs" / "sigmoid_deep.yaml").string();
  const std::string script =
      "import json, gradlab\n"
      "s = gradlab.train(" +
      nlohmann::json(spec).dump() +
      ", ['training.epochs=1'])\n"
      "print(json.dumps({'file': gradlab.__file__, 'status': s['status'],\n"
      "                  'paths': sorted({c['path'] for c in gradlab.plugins() if c['path']})}))\n";
  auto r = run_clean("PYTHONPATH=" + quote((moved / python_dir).string()) + " /usr/bin/python3 -c " + quote(script));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(fs::path(out["file"].get<std::string>()).parent_path(), moved / python_dir / "gradlab");
  EXPECT_EQ(out["status"], "ok");
  ASSERT_FALSE(out["paths"].empty());
  for (const auto& path : out["paths"])
    EXPECT_EQ(fs::path(path.get<std::string>()).parent_path().lexically_normal(), moved / "lib" / "gradlab" / "plugins")
        << path;
}
