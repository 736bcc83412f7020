// `gradlab study run`: the same results whatever the thread count, a killed
// study resumed without recomputing what finished, folders refused while in
// use or holding another study, `study status`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <thread>

#include "study/study_support.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

namespace fs = std::filesystem;
using namespace study_test;

TEST(StudyRun, SameResultsWithOneAndTwoThreads) {
  test::TempDir dir;
  // 64 units: the products of 64 x 64 x batch 32 go to BLAS (GemmWorkspace's
  // kBlasMinVolume), so two runs call it at once (a BLAS that is not safe for
  // that, as Debian's serial OpenBLAS, shows here as differing results).
  test::write_text(dir / "s.yaml", small_study("threads", 2, 2, 64));
  auto one = test::run_cli(
      {"study", "run", (dir / "s.yaml").string(), "--out", (dir / "one").string(), "--threads", "1", "-q"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("8 runs, 8 ok, 0 diverged, 0 failed"), std::string::npos) << one.out;
  auto two = test::run_cli(
      {"study", "run", (dir / "s.yaml").string(), "--out", (dir / "two").string(), "--threads", "2", "-q"});
  ASSERT_EQ(two.exit_code, 0) << two.err;
  auto a = results(dir / "one"), b = results(dir / "two");
  ASSERT_GT(a.size(), 8u * 3 * 2);  // runs, epochs (0..2) and probes
  EXPECT_EQ(a, b);
  Db db(dir / "one" / "results.sqlite");
  // depth 2: 5 layers, depth 3: 7; 4 runs of each.
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM probes WHERE epoch = 2")[0], "48");
  EXPECT_EQ(db.rows("SELECT value FROM meta WHERE key = 'name'")[0], "threads");

  // Done: running again computes nothing; status counts.
  auto again = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "one").string(), "-q"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("(0 run now)"), std::string::npos) << again.out;
  auto status = test::run_cli({"study", "status", (dir / "one").string()});
  ASSERT_EQ(status.exit_code, 0) << status.err;
  EXPECT_NE(status.out.find("8 runs: 8 done (8 ok, 0 diverged, 0 failed)"), std::string::npos) << status.out;
}

TEST(StudyRun, RefusesAFolderHoldingAnotherStudy) {
  test::TempDir dir;
  test::write_text(dir / "a.yaml", small_study("first", 1, 1));
  test::write_text(dir / "b.yaml", small_study("second", 1, 1));
  test::write_text(dir / "c.yaml", small_study("first", 1, 2));  // same name, other runs
  auto r = test::run_cli({"study", "run", (dir / "a.yaml").string(), "--out", (dir / "out").string(), "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto listing = [&] {
    std::map<std::string, std::uintmax_t> files;
    for (const auto& e : fs::directory_iterator(dir / "out")) files[e.path().filename()] = fs::file_size(e.path());
    return files;
  };
  const auto before = listing();
  const auto db_time = fs::last_write_time(dir / "out" / "results.sqlite");
  r = test::run_cli({"study", "run", (dir / "b.yaml").string(), "--out", (dir / "out").string(), "-q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("holds another study, 'first'"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = test::run_cli({"study", "run", (dir / "c.yaml").string(), "--out", (dir / "out").string(), "-q"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("with other runs"), std::string::npos) << r.err;
  EXPECT_EQ(listing(), before);
  EXPECT_EQ(fs::last_write_time(dir / "out" / "results.sqlite"), db_time);
}

TEST(StudyRun, KilledStudyResumesWithoutRecomputing) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml", small_study("killed", 8, 3, 64));  // 12 runs
  const std::vector<std::string> args{
      "study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "--threads", "1", "-q"};
  const pid_t pid = spawn_cli(args, dir / "log");
  const auto db_file = dir / "out" / "results.sqlite";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::vector<std::string> finished;
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(db_file)) continue;
    Db db(db_file);
    finished =
        db.rows("SELECT key, finished_at, id FROM runs WHERE status IN ('ok','diverged','failed') ORDER BY key", false);
    if (!finished.empty()) break;
  }
  ASSERT_FALSE(finished.empty()) << test::read_text(dir / "log.err");
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  std::vector<std::string> before;
  {
    Db db(db_file);
    before = db.rows("SELECT key, finished_at, id FROM runs WHERE status IN ('ok','diverged','failed') ORDER BY key");
  }
  ASSERT_LT(before.size(), 12u) << "every run finished before the kill: make the runs longer";

  // A second process is refused while another holds the folder's lock.
  {
    const int fd = ::open((dir / "out" / ".lock").c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
    auto second = test::run_cli(args);
    EXPECT_EQ(second.exit_code, 2);
    EXPECT_NE(second.err.find("in use by another gradlab process"), std::string::npos) << second.err;
    auto st = test::run_cli({"study", "status", (dir / "out").string()});
    EXPECT_NE(st.out.find("running"), std::string::npos) << st.out;
    ::close(fd);
  }
  auto st = test::run_cli({"study", "status", (dir / "out").string()});
  EXPECT_EQ(st.exit_code, 0) << st.err;
  EXPECT_NE(st.out.find("12 runs: " + std::to_string(before.size()) + " done"), std::string::npos) << st.out;

  auto r = test::run_cli(
      {"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "--threads", "2", "-q"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("(" + std::to_string(12 - before.size()) + " run now)"), std::string::npos) << r.out;
  Db db(db_file);
  EXPECT_EQ(db.rows("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  EXPECT_EQ(db.rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs WHERE status = 'ok'")[0], "12|12");
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM epochs")[0], "108");  // 12 runs x epochs 0..8, each once
  // The runs finished before the kill were kept as they were, not run again.
  for (const auto& row : before) {
    const auto key = row.substr(0, row.find('|'));
    EXPECT_EQ(db.rows("SELECT key, finished_at, id FROM runs WHERE key = '" + key + "'")[0], row);
  }
}

TEST(StudyRun, DivergedAndFailedRunsAreResultsAndTheStudyGoesOn) {
  test::TempDir dir;
  std::string text = small_study("blowup", 2, 1);
  const std::string baseline = "  baseline: {}";
  text.replace(text.find(baseline), baseline.size(),
               baseline +
                   "\n  huge_lr: {optimizer.lr: 1.0e+38, \"model.layers.0.layers.1.type\": relu}"
                   "\n  throws: {\"model.layers.0.layers.1\": {type: throwing_layer, throw_at_call: 20}}");
  test::write_text(dir / "s.yaml", text);
  auto r = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "-q",
                          "--plugin-dir", test::test_plugin_dir("throwing_layer").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("8 runs, 4 ok, 2 diverged, 2 failed"), std::string::npos) << r.out;
  Db db(dir / "out" / "results.sqlite");
  EXPECT_EQ(db.rows("SELECT status, COUNT(*) FROM runs GROUP BY status ORDER BY status"),
            (std::vector<std::string>{"diverged|2", "failed|2", "ok|4"}));
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs WHERE status = 'diverged' AND message != '' AND diverged_epoch >= 0")[0],
            "2");
  EXPECT_EQ(db.rows("SELECT DISTINCT variant, message FROM runs WHERE status = 'failed'"),
            std::vector<std::string>{"throws|in epoch 1: boom from throwing_layer"});
  // The failed runs' epochs before the throw are kept, with their provenance.
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM plugins p JOIN runs r ON r.id = p.run_id WHERE r.variant = 'throws' AND "
                    "p.name = 'throwing_layer'")[0],
            "2");
  auto st = test::run_cli({"study", "status", (dir / "out").string()});
  EXPECT_NE(st.out.find("8 runs: 8 done (4 ok, 2 diverged, 2 failed)"), std::string::npos) << st.out;

  st = test::run_cli({"study", "status", dir.path().string()});
  EXPECT_EQ(st.exit_code, 2);
  EXPECT_NE(st.err.find("holds no study results"), std::string::npos) << st.err;
}

TEST(StudyRun, InterruptKeepsFinishedRunsAndSaysHowToResume) {
  test::TempDir dir;
  test::write_text(dir / "s.yaml", small_study("interrupted", 8, 3, 64));
  const std::vector<std::string> args{
      "study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "--threads", "2", "-q"};
  const pid_t pid = spawn_cli(args, dir / "log");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(dir / "out" / "results.sqlite")) continue;
    Db db(dir / "out" / "results.sqlite");
    if (!db.rows("SELECT key FROM runs WHERE status = 'ok'", false).empty()) break;
  }
  ASSERT_EQ(kill(pid, SIGINT), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  const auto err = test::read_text(dir / "log.err");
  Db db(dir / "out" / "results.sqlite");
  const auto done = db.rows("SELECT COUNT(*) FROM runs WHERE status = 'ok'")[0];
  if (done != "12") {  // else every run finished before the signal arrived
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 130) << err;
    EXPECT_NE(err.find("interrupted: " + done + " of 12 runs are stored"), std::string::npos) << err;
    EXPECT_NE(err.find("run the same command again to resume"), std::string::npos) << err;
  }
  // Cancelled runs are not results: nothing is left running, nothing failed.
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs WHERE status IN ('running', 'failed')")[0], "0");
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs r WHERE status = 'pending' AND EXISTS "
                    "(SELECT 1 FROM epochs e WHERE e.run_id = r.id)")[0],
            "0");
}

}  // namespace
}  // namespace gradlab
