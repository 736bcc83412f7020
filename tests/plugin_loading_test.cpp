// Broken plugins are values, not crashes: each one is reported with its path
// and skipped, and every other plugin still loads and works (design section 3).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "gradlab/core/run.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using test::TempDir;

namespace {

fs::path library_in(const std::string& plugin_dir, const std::string& file) {
  return test::test_plugin_dir(plugin_dir) / file;
}

const LoadProblem* problem_for(const std::vector<LoadProblem>& problems, const fs::path& path) {
  for (const auto& p : problems)
    if (fs::path(p.path).filename() == path.filename()) return &p;
  return nullptr;
}

std::string describe(const std::vector<LoadProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += p.path + ": " + p.message + "\n";
  return out;
}

// The broken libraries gathered into one folder, as a user's plugin folder
// with a few bad files would look.
struct BrokenFolder {
  TempDir dir;
  std::vector<fs::path> libraries;
  BrokenFolder() {
    for (const auto& [folder, file] : std::vector<std::pair<std::string, std::string>>{
             {"no_entry_point", "gradlab_no_entry_point.so"},
             {"wrong_api_version", "gradlab_wrong_api_version.so"},
             {"wrong_abi_tag", "gradlab_wrong_abi_tag.so"},
             {"throwing_registration", "gradlab_throwing_registration.so"}}) {
      fs::copy_file(library_in(folder, file), dir / file);
      libraries.push_back(dir / file);
    }
    // Not a shared library at all.
    test::write_text(dir / "gradlab_garbage.so", "definitely not an ELF file\n");
    libraries.push_back(dir / "gradlab_garbage.so");
  }
};

}  // namespace

TEST(PluginLoading, TestPluginsWereBuilt) {
  for (const auto& [folder, file] :
       std::vector<std::pair<std::string, std::string>>{{"no_entry_point", "gradlab_no_entry_point.so"},
                                                        {"wrong_api_version", "gradlab_wrong_api_version.so"},
                                                        {"wrong_abi_tag", "gradlab_wrong_abi_tag.so"},
                                                        {"throwing_registration", "gradlab_throwing_registration.so"},
                                                        {"duplicates", "gradlab_duplicate_name_a.so"},
                                                        {"duplicates", "gradlab_duplicate_name_b.so"}})
    EXPECT_TRUE(fs::exists(library_in(folder, file))) << library_in(folder, file);
}

TEST(PluginLoading, NoEntryPoint) {
  Registry registry;
  auto path = library_in("no_entry_point", "gradlab_no_entry_point.so");
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_NE(problem->message.find("entry point"), std::string::npos) << problem->message;
  EXPECT_NE(problem->message.find("gradlab_plugin"), std::string::npos) << problem->message;
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoading, WrongApiVersionNamesBothVersions) {
  Registry registry;
  auto path = library_in("wrong_api_version", "gradlab_wrong_api_version.so");
  // The library's registration function aborts: reaching it fails the test.
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_NE(problem->message.find("API version"), std::string::npos) << problem->message;
  EXPECT_NE(problem->message.find(std::to_string(plugin_api_version + 998)), std::string::npos) << problem->message;
  EXPECT_NE(problem->message.find(std::to_string(plugin_api_version)), std::string::npos) << problem->message;
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoading, WrongAbiTagNamesBothTags) {
  Registry registry;
  auto path = library_in("wrong_abi_tag", "gradlab_wrong_abi_tag.so");
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_NE(problem->message.find("ABI"), std::string::npos) << problem->message;
  EXPECT_NE(problem->message.find("msvc-1900;msvcprt;eigen-3.2.0;scalar-double;align-64"), std::string::npos)
      << problem->message;
  EXPECT_NE(problem->message.find(abi_tag), std::string::npos) << problem->message;
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoading, ThrowingRegistrationAddsNothing) {
  Registry registry;
  const auto before = registry.entries().size();
  auto path = library_in("throwing_registration", "gradlab_throwing_registration.so");
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_NE(problem->message.find("simulated failure while registering"), std::string::npos) << problem->message;
  // The component it added before throwing must not survive.
  EXPECT_EQ(registry.find(ComponentKind::layer, "half_registered"), nullptr);
  EXPECT_EQ(registry.entries().size(), before);
  EXPECT_TRUE(registry.plugins().empty());
}

TEST(PluginLoading, NotALibrary) {
  TempDir dir;
  test::write_text(dir / "gradlab_text.so", "plain text\n");
  Registry registry;
  auto problem = registry.load_library(dir / "gradlab_text.so");
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, (dir / "gradlab_text.so").string());
  EXPECT_NE(problem->message.find("cannot load"), std::string::npos) << problem->message;
}

TEST(PluginLoading, DuplicatePluginNameInOneFolder) {
  Registry registry;
  auto dir = test::test_plugin_dir("duplicates");
  auto problems = registry.load_directory(dir);
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  // Files load in name order: _a first, so _b is the duplicate.
  EXPECT_EQ(problems[0].path, (dir / "gradlab_duplicate_name_b.so").string());
  EXPECT_NE(problems[0].message.find("duplicate"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("'duplicate_name'"), std::string::npos) << problems[0].message;
  EXPECT_NE(problems[0].message.find("gradlab_duplicate_name_a.so"), std::string::npos)
      << "the message should name the library that holds the name: " << problems[0].message;

  // The first one works; nothing of the second was registered.
  ASSERT_NE(registry.find(ComponentKind::layer, "twin_scale"), nullptr);
  EXPECT_EQ(registry.find(ComponentKind::layer, "twin_b_only"), nullptr);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0]->version, "1.0.0");
  EXPECT_EQ(registry.plugins()[0]->path, (dir / "gradlab_duplicate_name_a.so").string());

  Params params({{"factor", 3.0}});
  auto layer = registry.make_layer("twin_scale", params);
  ASSERT_EQ(layer->configure({2, 1}), (Shape{2, 1}));
  Matrix in(2, 2), out(2, 2);
  in << 1, 2, 3, 4;
  ForwardContext ctx{Mode::eval, false, 2};
  layer->forward(ConstMatrixMap(in.data(), 2, 2), MatrixMap(out.data(), 2, 2), ctx);
  EXPECT_FLOAT_EQ(out(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(out(1, 1), 12.0f);
}

TEST(PluginLoading, DuplicateComponentNameIsReportedWithBothPaths) {
  // A component name already taken (here by the host itself) makes the whole
  // plugin that brings it again a reported, skipped duplicate.
  Registry registry;
  Registry::Entry taken{ComponentKind::layer, ComponentInfo{"twin_scale", "host's own twin_scale", {}}};
  taken.layer = [](const Params&, std::vector<ChildLayer>) -> std::unique_ptr<Layer> { return nullptr; };
  registry.add_builtin(std::move(taken));
  auto path = test::test_plugin_dir("duplicates") / "gradlab_duplicate_name_a.so";
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_NE(problem->message.find("duplicate layer name 'twin_scale'"), std::string::npos) << problem->message;
  EXPECT_TRUE(registry.plugins().empty());
  // The host's component is untouched.
  EXPECT_EQ(registry.find(ComponentKind::layer, "twin_scale")->info.description, "host's own twin_scale");
}

TEST(PluginLoading, BrokenFolderPlusBundledFolder) {
  BrokenFolder broken;
  Registry registry;
  auto problems = registry.load_standard({broken.dir.path(), test::test_plugin_dir("duplicates")});
  // Exactly one problem per broken library (and the duplicate), each with its path.
  ASSERT_EQ(problems.size(), broken.libraries.size() + 1) << describe(problems);
  for (const auto& lib : broken.libraries) {
    const auto* p = problem_for(problems, lib);
    ASSERT_NE(p, nullptr) << lib << " not reported:\n" << describe(problems);
    EXPECT_EQ(p->path, lib.string());
    EXPECT_FALSE(p->message.empty());
  }
  EXPECT_NE(problem_for(problems, "gradlab_duplicate_name_b.so"), nullptr) << describe(problems);

  // Every bundled plugin still loaded.
  const auto& bundled = test::bundled_registry();
  for (const auto* e : bundled.entries())
    EXPECT_NE(registry.find(e->kind, e->info.name), nullptr) << to_string(e->kind) << " " << e->info.name;
  ASSERT_NE(registry.find(ComponentKind::layer, "sigmoid"), nullptr);
  EXPECT_NE(registry.find(ComponentKind::layer, "twin_scale"), nullptr);

  // ... and works: a run through this registry trains, with the good test plugin's layer in it.
  auto spec = parse_run_spec(R"(
data: {name: digits}
model: {layers: [{type: dense, units: 16}, {type: twin_scale, factor: 0.5}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 2}
)",
                             "broken.yaml", {}, registry);
  auto result = train_run(spec, registry);
  EXPECT_EQ(result.summary.status, RunStatus::ok) << result.summary.message;
  ASSERT_EQ(result.summary.epochs.size(), 3u);
  EXPECT_LT(result.summary.epochs.back().train_loss, result.summary.epochs.front().train_loss);
}

TEST(PluginLoading, ObjectsOutliveTheirRegistry) {
  std::shared_ptr<Layer> dense, sigmoid;
  std::shared_ptr<Initializer> init;
  std::shared_ptr<Optimizer> sgd;
  {
    Registry registry;
    auto problems = registry.load_directory(Registry::bundled_plugin_dir());
    ASSERT_TRUE(problems.empty()) << describe(problems);
    auto params_for = [&](ComponentKind kind, const std::string& name, const std::string& yaml) {
      const auto& e = registry.get(kind, name, "test");
      return validate_params(name, e.info.schema, YAML::Load(yaml), {}, [](const YAML::Node&) { return "test"; });
    };
    dense = registry.make_layer("dense", params_for(ComponentKind::layer, "dense", "{units: 3}"));
    sigmoid = registry.make_layer("sigmoid", params_for(ComponentKind::layer, "sigmoid", "{}"));
    init = registry.make_initializer("lecun_normal", params_for(ComponentKind::initializer, "lecun_normal", "{}"));
    sgd = registry.make_optimizer("sgd", params_for(ComponentKind::optimizer, "sgd", "{lr: 0.5}"));
  }  // the registry, its entries and its own library handles are gone

  // Every object still runs its plugin's code.
  ASSERT_EQ(sigmoid->configure({3, 1}), (Shape{3, 1}));
  Matrix in = Matrix::Zero(3, 2), out(3, 2);
  in(0, 0) = 2.0f;
  ForwardContext ctx{Mode::eval, false, 2};
  sigmoid->forward(ConstMatrixMap(in.data(), 3, 2), MatrixMap(out.data(), 3, 2), ctx);
  EXPECT_FLOAT_EQ(out(1, 1), 0.5f);
  EXPECT_NEAR(out(0, 0), 1.0 / (1.0 + std::exp(-2.0)), 1e-6);

  ASSERT_EQ(dense->configure({4, 1}), (Shape{3, 1}));
  ASSERT_EQ(dense->param_count(), 3 * 4 + 3);
  Vector params = Vector::Zero(dense->param_count()), grads = Vector::Zero(dense->param_count());
  Vector buffers(0);
  dense->bind(VectorMap(params.data(), params.size()), VectorMap(grads.data(), grads.size()),
              VectorMap(buffers.data(), 0));
  Rng rng(7);
  dense->initialize(*init, rng, InitSite{});
  EXPECT_GT(params.head(12).norm(), 0.0f) << "the initializer filled nothing";

  Vector step_grads = Vector::Ones(params.size());
  Vector before = params;
  sgd->reset(params.size());
  sgd->step(VectorMap(params.data(), params.size()), ConstVectorMap(step_grads.data(), step_grads.size()),
            StepInfo{.iteration = 1, .loss = 1.0});
  EXPECT_NEAR((before - params).maxCoeff(), 0.5, 1e-6);
  EXPECT_NEAR((before - params).minCoeff(), 0.5, 1e-6);

  // Destroying them after their registry must not crash either.
  dense.reset();
  sigmoid.reset();
  init.reset();
  sgd.reset();
}

namespace {
std::vector<std::string> warning_lines(const std::string& err) {
  std::vector<std::string> out;
  std::istringstream in(err);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("gradlab: warning: plugin ", 0) == 0) out.push_back(line);
  return out;
}
}  // namespace

TEST(PluginLoading, CliListReportsEachBrokenPluginAndListsTheRest) {
  BrokenFolder broken;
  auto r = test::run_cli({"plugins", "list", "--plugin-dir", broken.dir.path().string(), "--plugin-dir",
                          test::test_plugin_dir("duplicates").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto warnings = warning_lines(r.err);
  EXPECT_EQ(warnings.size(), broken.libraries.size() + 1) << r.err;
  for (const auto& lib : broken.libraries) {
    bool found = false;
    for (const auto& w : warnings) found = found || w.find(lib.string()) != std::string::npos;
    EXPECT_TRUE(found) << lib << " has no warning line:\n" << r.err;
  }
  EXPECT_NE(r.err.find((test::test_plugin_dir("duplicates") / "gradlab_duplicate_name_b.so").string()),
            std::string::npos)
      << r.err;
  // Nothing else on stderr.
  std::istringstream all(r.err);
  for (std::string line; std::getline(all, line);)
    EXPECT_EQ(line.rfind("gradlab: warning: plugin ", 0), 0u) << "unexpected stderr line: " << line;
  // The good plugins are listed.
  EXPECT_NE(r.out.find("sigmoid"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("twin_scale"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("twin_b_only"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("half_registered"), std::string::npos) << r.out;
}

TEST(PluginLoading, CliListJsonCarriesTheProblems) {
  BrokenFolder broken;
  auto r = test::run_cli({"plugins", "list", "--json", "--plugin-dir", broken.dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["problems"].size(), broken.libraries.size()) << r.out;
  for (const auto& lib : broken.libraries) {
    bool found = false;
    for (const auto& p : j["problems"]) found = found || p["path"] == lib.string();
    EXPECT_TRUE(found) << lib;
  }
  bool sigmoid = false;
  for (const auto& c : j["components"]) sigmoid = sigmoid || (c["kind"] == "layer" && c["name"] == "sigmoid");
  EXPECT_TRUE(sigmoid);
}

TEST(PluginLoading, CliTrainStillTrainsWithABrokenPluginDir) {
  BrokenFolder broken;
  TempDir dir;
  test::write_text(dir / "spec.yaml", R"(data: {name: digits}
model: {layers: [{type: dense, units: 16}, {type: sigmoid}, {type: dense, units: 10}]}
optimizer: {name: sgd, lr: 0.5}
training: {epochs: 1}
)");
  auto r = test::run_cli({"train", (dir / "spec.yaml").string(), "-q", "--plugin-dir", broken.dir.path().string(),
                          "--json", (dir / "out.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(warning_lines(r.err).size(), broken.libraries.size()) << r.err;
  auto summary = nlohmann::json::parse(test::read_text(dir / "out.json"));
  EXPECT_EQ(summary["status"], "ok");
  EXPECT_EQ(summary["final"]["epochs_run"], 1);
}

TEST(PluginLoading, CliReportsAMissingPluginDir) {
  TempDir dir;
  auto missing = (dir / "no_plugins_here").string();
  auto r = test::run_cli({"plugins", "list", "--plugin-dir", missing});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("sigmoid"), std::string::npos);
}
