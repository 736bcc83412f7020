// Plugin folders hold what users put there: odd entries (dangling links,
// FIFOs, folders, link loops) are one problem each and never stop the other
// plugins; like ssh with its keys, a folder or library others can write is
// refused; a user plugin replacing a bundled one says so; and a plugin built
// with another libstdc++ checking mode is refused by its ABI tag.
#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "gradlab/core/registry.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace gradlab;
using test::TempDir;

namespace {

std::string describe(const std::vector<LoadProblem>& problems) {
  std::string out;
  for (const auto& p : problems) out += p.path + ": " + p.message + "\n";
  return out;
}

const LoadProblem* problem_for(const std::vector<LoadProblem>& problems, const fs::path& path) {
  for (const auto& p : problems)
    if (p.path == path.string()) return &p;
  return nullptr;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

fs::path bundled(const std::string& plugin) { return Registry::bundled_plugin_dir() / ("gradlab_" + plugin + ".so"); }

// A copy of a bundled plugin library under another name, mode 0755.
fs::path copy_bundled(const std::string& plugin, const fs::path& to) {
  fs::copy_file(bundled(plugin), to);
  fs::permissions(to, fs::perms(0755));
  return to;
}

// A plugin folder only its owner can write (TempDir follows the umask).
void make_private(const TempDir& dir) { fs::permissions(dir.path(), fs::perms(0755)); }

// Whether the effective user's primary group is a user-private group (named
// as the user): then group write gives no one else access.
bool primary_group_is_private() {
  const struct passwd* me = ::getpwuid(::geteuid());
  if (!me) return false;
  const struct group* group = ::getgrgid(me->pw_gid);
  return group && std::strcmp(group->gr_name, me->pw_name) == 0;
}

}  // namespace

TEST(HardeningPlugins, BundledLibrariesExist) {
  for (const char* name : {"relu", "sigmoid"}) EXPECT_TRUE(fs::exists(bundled(name))) << bundled(name);
}

TEST(HardeningPlugins, OddEntriesAreProblemsAndTheRestLoads) {
  TempDir dir;
  make_private(dir);
  const auto relu_copy = copy_bundled("relu", dir / "my_relu.so");
  // A symbolic link to a real library (another plugin than the copy) loads too.
  fs::create_symlink(bundled("sigmoid"), dir / "linked_sigmoid.so");
  fs::create_symlink(dir / "nothing-here.bin", dir / "dangling.so");
  ASSERT_EQ(::mkfifo((dir / "pipe.so").c_str(), 0644), 0) << std::strerror(errno);
  fs::create_directory(dir / "x.so");
  fs::create_symlink("loop_b.so", dir / "loop_a.so");
  fs::create_symlink("loop_a.so", dir / "loop_b.so");
  // Entries not named *.so are not plugin candidates at all.
  test::write_text(dir / "README.txt", "not a plugin\n");

  Registry registry;
  const auto problems = registry.load_directory(dir.path());

  const auto* dangling = problem_for(problems, dir / "dangling.so");
  ASSERT_NE(dangling, nullptr) << describe(problems);
  EXPECT_TRUE(contains(dangling->message, "dangling")) << dangling->message;

  const auto* fifo = problem_for(problems, dir / "pipe.so");
  ASSERT_NE(fifo, nullptr) << describe(problems);
  EXPECT_TRUE(contains(fifo->message, "FIFO")) << fifo->message;

  const auto* folder = problem_for(problems, dir / "x.so");
  ASSERT_NE(folder, nullptr) << describe(problems);
  EXPECT_TRUE(contains(folder->message, "folder")) << folder->message;

  const auto* loop_a = problem_for(problems, dir / "loop_a.so");
  const auto* loop_b = problem_for(problems, dir / "loop_b.so");
  ASSERT_NE(loop_a, nullptr) << describe(problems);
  ASSERT_NE(loop_b, nullptr) << describe(problems);
  EXPECT_FALSE(loop_a->message.empty());

  // Exactly those five; the good libraries loaded.
  EXPECT_EQ(problems.size(), 5u) << describe(problems);
  EXPECT_EQ(problem_for(problems, relu_copy), nullptr) << describe(problems);
  EXPECT_EQ(problem_for(problems, dir / "linked_sigmoid.so"), nullptr) << describe(problems);
  EXPECT_EQ(problem_for(problems, dir / "README.txt"), nullptr) << describe(problems);
  const auto* relu = registry.find(ComponentKind::layer, "relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->plugin->path, relu_copy.string());
  const auto* sigmoid = registry.find(ComponentKind::layer, "sigmoid");
  ASSERT_NE(sigmoid, nullptr);
  EXPECT_EQ(sigmoid->plugin->path, (dir / "linked_sigmoid.so").string());
  EXPECT_EQ(registry.plugins().size(), 2u);

  // The loaded copy works.
  auto layer = registry.make_layer("relu", Params{});
  ASSERT_NE(layer, nullptr);
  EXPECT_EQ(layer->configure({3, 1}), (Shape{3, 1}));
}

TEST(HardeningPlugins, OddEntriesAreWarningsInTheCli) {
  TempDir dir;
  make_private(dir);
  copy_bundled("relu", dir / "my_relu.so");
  fs::create_symlink(dir / "nothing-here.bin", dir / "dangling.so");
  ASSERT_EQ(::mkfifo((dir / "pipe.so").c_str(), 0644), 0) << std::strerror(errno);
  fs::create_directory(dir / "x.so");
  fs::create_symlink("loop_b.so", dir / "loop_a.so");
  fs::create_symlink("loop_a.so", dir / "loop_b.so");

  // A FIFO opened for reading would block forever: run_cli must return.
  auto r = test::run_cli({"plugins", "list", "--plugin-dir", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& [name, word] : std::vector<std::pair<std::string, std::string>>{
           {"dangling.so", "dangling"}, {"pipe.so", "FIFO"}, {"x.so", "folder"}, {"loop_a.so", ""}}) {
    bool found = false;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
      if (contains(line, "gradlab: warning: plugin " + (dir / name).string() + ": ") && contains(line, word))
        found = true;
    EXPECT_TRUE(found) << name << " (" << word << ") not warned about in:\n" << r.err;
  }
  // Every other bundled plugin still listed, the user's relu among them.
  EXPECT_TRUE(contains(r.out, "dense")) << r.out;
  EXPECT_TRUE(contains(r.out, (dir / "my_relu.so").string())) << r.out;
}

TEST(HardeningPlugins, WorldWritableFolderIsRefusedWhole) {
  TempDir dir;
  copy_bundled("relu", dir / "gradlab_relu.so");
  copy_bundled("sigmoid", dir / "gradlab_sigmoid.so");
  fs::permissions(dir.path(), fs::perms(0777));

  Registry registry;
  const auto problems = registry.load_directory(dir.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].path, dir.path().string());
  EXPECT_TRUE(contains(problems[0].message, "writable by every user")) << problems[0].message;
  EXPECT_TRUE(registry.plugins().empty());
  EXPECT_EQ(registry.find(ComponentKind::layer, "relu"), nullptr);
  EXPECT_EQ(registry.find(ComponentKind::layer, "sigmoid"), nullptr);

  // The same folder made private loads both.
  fs::permissions(dir.path(), fs::perms(0755));
  Registry fixed;
  const auto none = fixed.load_directory(dir.path());
  EXPECT_TRUE(none.empty()) << describe(none);
  EXPECT_NE(fixed.find(ComponentKind::layer, "relu"), nullptr);
  EXPECT_NE(fixed.find(ComponentKind::layer, "sigmoid"), nullptr);
}

TEST(HardeningPlugins, WorldWritableLibraryIsRefusedOthersLoad) {
  TempDir dir;
  make_private(dir);
  const auto open = copy_bundled("relu", dir / "gradlab_relu.so");
  fs::permissions(open, fs::perms(0666));
  copy_bundled("sigmoid", dir / "gradlab_sigmoid.so");

  Registry registry;
  const auto problems = registry.load_directory(dir.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].path, open.string());
  EXPECT_TRUE(contains(problems[0].message, "writable")) << problems[0].message;
  EXPECT_EQ(registry.find(ComponentKind::layer, "relu"), nullptr);
  ASSERT_NE(registry.find(ComponentKind::layer, "sigmoid"), nullptr);
  ASSERT_EQ(registry.plugins().size(), 1u);
  EXPECT_EQ(registry.plugins()[0]->name, "sigmoid");
}

TEST(HardeningPlugins, GroupWritableFollowsTheUserPrivateGroupRule) {
  TempDir dir;
  make_private(dir);
  const auto lib = copy_bundled("relu", dir / "gradlab_relu.so");
  fs::permissions(lib, fs::perms(0775));
  // Created by this process: owned by the effective user and group.
  struct stat st {};
  ASSERT_EQ(::stat(lib.c_str(), &st), 0);
  ASSERT_EQ(st.st_uid, ::geteuid());

  Registry registry;
  const auto problems = registry.load_directory(dir.path());
  const struct passwd* me = ::getpwuid(::geteuid());
  const struct group* group = ::getgrgid(st.st_gid);
  const bool private_group = me && group && me->pw_gid == st.st_gid && std::strcmp(group->gr_name, me->pw_name) == 0;
  if (private_group) {
    // root:root (tests usually run as root) and Debian's adduser groups: accepted.
    EXPECT_TRUE(problems.empty()) << describe(problems);
    EXPECT_NE(registry.find(ComponentKind::layer, "relu"), nullptr);
  } else {
    ASSERT_EQ(problems.size(), 1u) << describe(problems);
    EXPECT_EQ(problems[0].path, lib.string());
    EXPECT_TRUE(contains(problems[0].message, "writable by its group")) << problems[0].message;
    EXPECT_EQ(registry.find(ComponentKind::layer, "relu"), nullptr);
  }
}

TEST(HardeningPlugins, GroupWritableFolderOfThePrivateGroupIsAccepted) {
  if (!primary_group_is_private()) GTEST_SKIP() << "the user's primary group is not a user-private group";
  TempDir dir;
  copy_bundled("relu", dir / "gradlab_relu.so");
  fs::permissions(dir.path(), fs::perms(0775));
  Registry registry;
  const auto problems = registry.load_directory(dir.path());
  EXPECT_TRUE(problems.empty()) << describe(problems);
  EXPECT_NE(registry.find(ComponentKind::layer, "relu"), nullptr);
}

TEST(HardeningPlugins, GroupWritableForAnotherGroupIsRefused) {
  if (::geteuid() != 0) GTEST_SKIP() << "changing a file's group to a shared one needs root";
  // A group that is not the owner's private group: any group with another
  // name than root's (daemon, bin, users, ...).
  gid_t other = 0;
  bool found = false;
  for (const char* name : {"daemon", "bin", "sys", "users", "nogroup", "adm"})
    if (const struct group* g = ::getgrnam(name); g && g->gr_gid != 0) {
      other = g->gr_gid;
      found = true;
      break;
    }
  if (!found) GTEST_SKIP() << "no shared group to test with";

  TempDir dir;
  make_private(dir);
  const auto lib = copy_bundled("relu", dir / "gradlab_relu.so");
  copy_bundled("sigmoid", dir / "gradlab_sigmoid.so");
  ASSERT_EQ(::chown(lib.c_str(), 0, other), 0) << std::strerror(errno);
  fs::permissions(lib, fs::perms(0775));

  Registry registry;
  auto problems = registry.load_directory(dir.path());
  ASSERT_EQ(problems.size(), 1u) << describe(problems);
  EXPECT_EQ(problems[0].path, lib.string());
  EXPECT_TRUE(contains(problems[0].message, "writable by its group")) << problems[0].message;
  EXPECT_EQ(registry.find(ComponentKind::layer, "relu"), nullptr);
  EXPECT_NE(registry.find(ComponentKind::layer, "sigmoid"), nullptr);

  // Group-readable only: fine whatever the group.
  fs::permissions(lib, fs::perms(0755));
  Registry fixed;
  problems = fixed.load_directory(dir.path());
  EXPECT_TRUE(problems.empty()) << describe(problems);
  EXPECT_NE(fixed.find(ComponentKind::layer, "relu"), nullptr);
}

TEST(HardeningPlugins, ReplacingABundledPluginIsSaid) {
  TempDir dir;
  make_private(dir);
  const auto copy = copy_bundled("relu", dir / "gradlab_relu.so");

  // In process: the user's folder first, then the bundled one.
  Registry registry;
  const auto problems = registry.load_standard({dir.path()});
  const auto* replaced = problem_for(problems, bundled("relu"));
  ASSERT_NE(replaced, nullptr) << describe(problems);
  EXPECT_TRUE(contains(replaced->message, "bundled plugin 'relu' not loaded: replaced by " + copy.string()))
      << replaced->message;
  EXPECT_EQ(problems.size(), 1u) << describe(problems);
  const auto* relu = registry.find(ComponentKind::layer, "relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->plugin->path, copy.string());
  EXPECT_NE(registry.find(ComponentKind::layer, "dense"), nullptr) << "the other bundled plugins load";

  // The CLI: a warning on stderr, and relu listed with the copy's path.
  auto r = test::run_cli({"plugins", "list", "--plugin-dir", dir.path().string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(contains(r.err, "gradlab: warning: plugin "));
  EXPECT_TRUE(contains(r.err, "bundled plugin 'relu' not loaded: replaced by " + copy.string())) << r.err;
  bool listed = false;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);)
    if (line.rfind("  relu ", 0) == 0) {
      listed = true;
      EXPECT_TRUE(contains(line, copy.string())) << line;
    }
  EXPECT_TRUE(listed) << r.out;
}

TEST(HardeningPlugins, AbiTagNamesTheIndexType) {
  const std::string tag = abi_tag;
  EXPECT_TRUE(contains(tag, ";index-")) << tag;
  EXPECT_FALSE(contains(tag, ";index-;")) << tag;
}

TEST(HardeningPlugins, LibstdcxxAssertionsChangeTheAbiTag) {
  if (contains(abi_tag, "glibcxx-assertions"))
    GTEST_SKIP() << "the host itself is built with _GLIBCXX_ASSERTIONS: " << abi_tag;
  const auto path = test::test_plugin_dir("assertions_abi") / "gradlab_assertions_abi.so";
  ASSERT_TRUE(fs::exists(path)) << path;
  Registry registry;
  auto problem = registry.load_library(path);
  ASSERT_TRUE(problem.has_value());
  EXPECT_EQ(problem->path, path.string());
  EXPECT_TRUE(contains(problem->message, "ABI tag")) << problem->message;
  EXPECT_TRUE(contains(problem->message, "glibcxx-assertions")) << problem->message;
  EXPECT_TRUE(contains(problem->message, abi_tag)) << "the host's tag too: " << problem->message;
  EXPECT_TRUE(registry.plugins().empty());
  EXPECT_EQ(registry.find(ComponentKind::initializer, "assertions_abi_zeros"), nullptr);
}
