// Outputs never clobber what a path is: symlinks are followed and kept,
// FIFOs and devices are written in place, /proc/self/fd/N goes through the
// process's own descriptor, regular files are replaced atomically and kept
// when a write fails. What can be checked before training is checked then.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using gradlab::test::run_cli;
using gradlab::test::run_shell;
using gradlab::test::TempDir;
using gradlab::test::write_text;

namespace {

const char* quick_spec = R"(data: {name: digits}
model:
  layers: [{type: dense, units: 8}, {type: sigmoid}, {type: dense, units: 10}]
training: {epochs: 1, batch_size: 128}
)";

bool path_is_fifo(const fs::path& p) { return fs::is_fifo(fs::symlink_status(p)); }
bool path_is_symlink(const fs::path& p) { return fs::is_symlink(fs::symlink_status(p)); }

// Reads a FIFO to its end on another thread (the writer blocks until a reader opens it).
std::future<std::string> drain(const fs::path& fifo) {
  return std::async(std::launch::async, [fifo] {
    std::ifstream in(fifo, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  });
}

void expect_summary(const std::string& text) {
  auto json = nlohmann::json::parse(text);
  EXPECT_EQ(json.at("status"), "ok");
  EXPECT_EQ(json.at("final").at("epochs_run"), 1);
}

}  // namespace

TEST(HardeningOutput, FifoReceivesTheSummaryAndStaysAFifo) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  ASSERT_EQ(::mkfifo((dir / "out.fifo").c_str(), 0600), 0);
  auto text = drain(dir / "out.fifo");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "out.fifo").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_summary(text.get());
  EXPECT_TRUE(path_is_fifo(dir / "out.fifo"));
}

TEST(HardeningOutput, SymlinkToFifoIsFollowedAndKept) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  ASSERT_EQ(::mkfifo((dir / "target.fifo").c_str(), 0600), 0);
  fs::create_symlink("target.fifo", dir / "link.json");
  auto text = drain(dir / "target.fifo");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "link.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_summary(text.get());
  EXPECT_TRUE(path_is_symlink(dir / "link.json"));
  EXPECT_TRUE(path_is_fifo(dir / "target.fifo"));
}

TEST(HardeningOutput, SymlinkToProcSelfFdOneWritesToStdout) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  fs::create_symlink("/proc/self/fd/1", dir / "stdout.json");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "stdout.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The JSON first (written through descriptor 1, at its offset), then the summary line.
  const auto end = r.out.rfind("\nstatus ok");
  ASSERT_NE(end, std::string::npos) << r.out;
  expect_summary(r.out.substr(0, end + 1));
  EXPECT_TRUE(path_is_symlink(dir / "stdout.json"));
  EXPECT_EQ(fs::read_symlink(dir / "stdout.json"), "/proc/self/fd/1");
}

TEST(HardeningOutput, SymlinkToRegularFileReplacesTheTargetNotTheLink) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  fs::create_directory(dir / "real");
  write_text(dir / "real" / "run.json", "old");
  ::chmod((dir / "real" / "run.json").c_str(), 0640);
  fs::create_symlink("real/run.json", dir / "link.json");
  fs::create_symlink("real/new.json", dir / "dangling.json");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "link.json").string(),
                    "--save-weights", (dir / "dangling.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(path_is_symlink(dir / "link.json"));
  expect_summary(gradlab::test::read_text(dir / "real" / "run.json"));
  EXPECT_EQ(fs::status(dir / "real" / "run.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read);
  // A dangling link: its target is created, the link stays.
  EXPECT_TRUE(path_is_symlink(dir / "dangling.json"));
  EXPECT_TRUE(fs::is_regular_file(dir / "real" / "new.json"));
  // No temporary file left behind.
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir / "real")) files += e.path().filename().string()[0] == '.';
  EXPECT_EQ(files, 0u);
}

TEST(HardeningOutput, SameFileForJsonAndWeightsIsRefusedBeforeTraining) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  fs::create_symlink("out.bin", dir / "alias.bin");
  for (const auto& weights : {dir / "out.bin", dir / "alias.bin"}) {
    auto r = run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "out.bin").string(), "--save-weights",
                      weights.string()});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("is the same file as --json"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("epoch"), std::string::npos) << "trained before refusing: " << r.err;
    EXPECT_FALSE(fs::exists(dir / "out.bin"));
  }
}

TEST(HardeningOutput, FolderThatTakesNoFileIsRefusedBeforeTraining) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  // /proc takes no new file, not even from root.
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "--json", "/proc/gradlab-test-output.json"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("cannot create a file in folder '/proc'"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("epoch"), std::string::npos) << r.err;
  // A path through a regular file.
  write_text(dir / "file", "x");
  r = run_cli({"train", (dir / "spec.yaml").string(), "--json", (dir / "file" / "out.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("not a folder"), std::string::npos) << r.err;
}

TEST(HardeningOutput, LateWriteFailureIsExitOneAndLosesNothingElse) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  // /dev/full takes the open and fails every write with ENOSPC: a full disk.
  fs::create_symlink("/dev/full", dir / "full.json");
  auto r = run_cli({"train", (dir / "spec.yaml").string(), "-q", "--json", (dir / "full.json").string(),
                    "--save-weights", (dir / "w.safetensors").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("full.json: write failed"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("status ok"), std::string::npos) << "summary line lost: " << r.out;
  EXPECT_TRUE(fs::is_regular_file(dir / "w.safetensors")) << "the other output was not written";
  EXPECT_TRUE(fs::is_character_file(dir / "full.json"));
}

TEST(HardeningOutput, RegularFileKeepsItsOldContentWhenTheWriteFails) {
  TempDir dir;
  write_text(dir / "spec.yaml", quick_spec);
  write_text(dir / "run.json", "old summary");
  // A file size limit of 1 KiB: the summary (several KiB) cannot be written.
  // SIGXFSZ ignored, so the write fails with EFBIG instead of killing.
  const std::string line = "trap '' XFSZ; ulimit -f 1; '" + gradlab::test::cli_path().string() + "' train '" +
                           (dir / "spec.yaml").string() + "' -q --json '" + (dir / "run.json").string() +
                           "' </dev/null";
  auto r = run_shell("bash -c \"" + line + "\"");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("the old file, if any, is unchanged"), std::string::npos) << r.err;
  EXPECT_EQ(gradlab::test::read_text(dir / "run.json"), "old summary");
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".run.json.tmp"), std::string::npos) << "temporary file left";
}

TEST(HardeningOutput, OutputFileApi) {
  TempDir dir;
  EXPECT_THROW(gradlab::OutputFile::prepare("--json", dir.path().string()), gradlab::InputError);
  EXPECT_THROW(gradlab::OutputFile::prepare("--json", ""), gradlab::InputError);
  EXPECT_THROW(gradlab::OutputFile::prepare("--json", (dir / "missing" / "x.json").string()), gradlab::InputError);
  auto out = gradlab::OutputFile::prepare("--json", (dir / "x.json").string());
  EXPECT_FALSE(fs::exists(dir / "x.json")) << "prepare must not leave a file";
  out.write("hello");
  EXPECT_EQ(gradlab::test::read_text(dir / "x.json"), "hello");
  out.write("again");
  EXPECT_EQ(gradlab::test::read_text(dir / "x.json"), "again");
  // A socket is no output.
  EXPECT_THROW(gradlab::OutputFile::prepare("--json", "/dev/stdin-is-not-here/x"), gradlab::InputError);
}
