// `mpirun -np 2 gradlab study run`: the same database as one process, bit for
// bit (diverged and failed runs included); an interrupted study resumed under
// mpirun; bad input is one line and exit code 2 on every rank, no hang. And
// the summaries' wire form, which needs no MPI.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <thread>

#include "gradlab/core/study/distributed.hpp"
#include "study/study_support.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

namespace fs = std::filesystem;
using namespace study_test;

const std::string mpiexec = GRADLAB_MPIEXEC;  // empty: a build without MPI

// Under AddressSanitizer the ranks run without LeakSanitizer: Open MPI 4.1
// (Debian 12) does not free what MPI_Init allocates for its components, PMIx
// and libevent (~20 kB per rank), and the components are shared objects that
// MPI_Finalize unloads, so the reports have no frames to suppress by library.
// gradlab's own code in a rank is the one-process code that the other tests
// (and the one-process runs of these) check for leaks.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool asan_build = true;
#else
constexpr bool asan_build = false;
#endif

// mpirun's own options: two processes on however many cores there are, as
// root too (containers), shared memory without the single-copy mechanism
// that needs ptrace rights a container may not grant.
std::vector<std::string> mpirun_args(int np) {
  std::vector<std::string> a{
      "--oversubscribe", "-np", std::to_string(np), "--mca", "btl_vader_single_copy_mechanism", "none"};
  if (geteuid() == 0) a.push_back("--allow-run-as-root");
  if (asan_build) {
    const char* options = std::getenv("ASAN_OPTIONS");
    a.insert(a.end(), {"-x", "ASAN_OPTIONS=" + std::string(options ? options : "") + ":detect_leaks=0"});
  }
  return a;
}

// Runs the CLI under mpirun, killed after `seconds` (exit code 124 then).
test::CommandResult mpirun_cli(const std::vector<std::string>& args, int np = 2, int seconds = 60) {
  std::string line = "timeout -s KILL " + std::to_string(seconds);
  line += " '" + mpiexec + "'";
  for (const auto& a : mpirun_args(np)) line += " '" + a + "'";
  line += " '" + test::cli_path().string() + "'";
  for (const auto& a : args) line += " '" + a + "'";
  return test::run_shell(line + " </dev/null");
}

#define SKIP_WITHOUT_MPI() \
  if (mpiexec.empty()) GTEST_SKIP() << "built without MPI (GRADLAB_MPI=OFF or no MPI found)"

// Four variants x depths 2 and 3: ok runs, runs that diverge, runs that throw.
std::string mixed_study(const std::string& name) {
  std::string text = small_study(name, 2, 1);
  const std::string baseline = "  baseline: {}";
  text.replace(text.find(baseline), baseline.size(),
               baseline +
                   "\n  huge_lr: {optimizer.lr: 1.0e+38, \"model.layers.0.layers.1.type\": relu}"
                   "\n  throws: {\"model.layers.0.layers.1\": {type: throwing_layer, throw_at_call: 20}}");
  return text;
}

std::size_t count(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

void expect_whole(const fs::path& dir, int runs) {
  Db db(dir / "results.sqlite");
  EXPECT_EQ(db.rows("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
  EXPECT_EQ(db.rows("SELECT COUNT(*), COUNT(DISTINCT key) FROM runs WHERE status IN ('ok', 'diverged', 'failed')")[0],
            std::to_string(runs) + "|" + std::to_string(runs));
  EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs")[0], std::to_string(runs));
  // Each run's epochs once (the primary key would refuse a second copy).
  EXPECT_EQ(
      db.rows("SELECT COUNT(*) FROM (SELECT run_id, epoch FROM epochs GROUP BY run_id, epoch HAVING COUNT(*) > 1)")[0],
      "0");
}

TEST(Mpi, TwoProcessesGiveTheResultsOfOne) {
  SKIP_WITHOUT_MPI();
  test::TempDir dir;
  test::write_text(dir / "s.yaml", mixed_study("mpi"));
  const auto plugins = test::test_plugin_dir("throwing_layer").string();
  auto one = test::run_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "one").string(), "--threads",
                            "1", "-q", "--plugin-dir", plugins});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.out.find("8 runs, 4 ok, 2 diverged, 2 failed (8 run now)"), std::string::npos) << one.out;
  auto two = mpirun_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "two").string(), "--threads", "2",
                         "-q", "--plugin-dir", plugins});
  ASSERT_EQ(two.exit_code, 0) << two.out << two.err;
  // Rank 0 alone speaks.
  EXPECT_EQ(two.out, one.out.substr(0, one.out.find("results in")) + "results in " +
                         (dir / "two" / "results.sqlite").string() + "\n");
  EXPECT_EQ(count(two.err, "gradlab"), 0u) << two.err;  // (mpirun may warn about the machine)
  const auto a = results(dir / "one"), b = results(dir / "two");
  ASSERT_GT(a.size(), 8u * 3);
  EXPECT_EQ(a, b);
  expect_whole(dir / "two", 8);

  // Done: under mpirun too, running again computes nothing.
  auto again = mpirun_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "two").string(), "--threads", "2",
                           "-q", "--plugin-dir", plugins});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_NE(again.out.find("(0 run now)"), std::string::npos) << again.out;
  EXPECT_EQ(results(dir / "two"), a);
}

TEST(Mpi, EveryRankRunsRunsAndEachRunRecordsItsMachine) {
  SKIP_WITHOUT_MPI();
  // Rank 1 gets a machine name of its own (a UTS namespace), where allowed.
  if (test::run_shell("unshare -u true").exit_code != 0) GTEST_SKIP() << "unshare -u is not allowed here";
  test::TempDir dir;
  // 8 runs of 30 epochs (about a second in all): long enough that rank 1,
  // slow to start on a loaded machine, still asks for work before rank 0's own
  // thread has taken every run (with 2 epochs, rank 0 sometimes did).
  test::write_text(dir / "s.yaml", small_study("hosts", 30, 2));
  test::write_text(dir / "rank.sh",
                   "#!/bin/sh\nif [ \"$OMPI_COMM_WORLD_RANK\" = 1 ]; then exec unshare -u sh -c 'hostname "
                   "gradlab-rank-1 && exec \"$0\" \"$@\"' \"$@\"; else exec \"$@\"; fi\n");
  fs::permissions(dir / "rank.sh", fs::perms::owner_all);
  std::string line = "timeout -s KILL 60 '" + mpiexec + "'";
  for (const auto& a : mpirun_args(2)) line += " '" + a + "'";
  line += " '" + (dir / "rank.sh").string() + "' '" + test::cli_path().string() + "' study run '" +
          (dir / "s.yaml").string() + "' --out '" + (dir / "out").string() + "' --threads 1 -q </dev/null";
  auto r = test::run_shell(line);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  Db db(dir / "out" / "results.sqlite");
  const auto hosts = db.rows("SELECT host = 'gradlab-rank-1', COUNT(*) > 0 FROM runs GROUP BY 1 ORDER BY 1");
  EXPECT_EQ(hosts, (std::vector<std::string>{"0|1", "1|1"}));  // runs on both ranks, each with its machine
}

// The process of `rank` among the children of mpirun `launcher`; -1 if none.
pid_t rank_process(pid_t launcher, int rank) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const auto name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto stat = test::read_text(entry.path() / "stat");
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) != 2 || ppid != launcher) continue;
    const auto env = test::read_text(entry.path() / "environ");
    if (env.find(std::string("OMPI_COMM_WORLD_RANK=") + std::to_string(rank) + '\0') != std::string::npos)
      return static_cast<pid_t>(std::stoi(name));
  }
  return -1;
}

TEST(Mpi, InterruptedStudyStopsEveryRankAndResumes) {
  SKIP_WITHOUT_MPI();
  test::TempDir dir;
  test::write_text(dir / "s.yaml", small_study("interrupted", 6, 2, 64));  // 8 runs
  std::vector<std::string> args = mpirun_args(2);
  for (std::string a :
       {test::cli_path().string(), std::string("study"), std::string("run"), (dir / "s.yaml").string(),
        std::string("--out"), (dir / "out").string(), std::string("--threads"), std::string("1"), std::string("-q")})
    args.push_back(a);
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = spawn_program(mpiexec, args, dir / "log");
  const auto db_file = dir / "out" / "results.sqlite";
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (!fs::exists(db_file)) continue;
    Db db(db_file);
    if (!db.rows("SELECT key FROM runs WHERE status = 'ok'", false).empty()) break;
  }
  // Ctrl-C on mpirun reaches every rank (as SIGTERM); here one rank alone
  // gets it, and must stop them all.
  const pid_t worker = rank_process(pid, 1);
  ASSERT_GT(worker, 0);
  ASSERT_EQ(kill(worker, SIGINT), 0);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(60));
  const auto err = test::read_text(dir / "log.err");
  {
    Db db(db_file);
    const auto done = db.rows("SELECT COUNT(*) FROM runs WHERE status = 'ok'")[0];
    ASSERT_NE(done, "8") << "every run finished before the signal: make the runs longer";
    {
      ASSERT_TRUE(WIFEXITED(status)) << err;
      EXPECT_EQ(WEXITSTATUS(status), 130) << err;
      EXPECT_NE(err.find("interrupted: " + done + " of 8 runs are stored"), std::string::npos) << err;
      EXPECT_NE(err.find("mpirun -np 2 gradlab study run"), std::string::npos) << err;
    }
  }
  {
    Db db(db_file);
    EXPECT_EQ(db.rows("PRAGMA integrity_check"), std::vector<std::string>{"ok"});
    // Stopped runs are not results: nothing running or failed, no half runs.
    EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs WHERE status IN ('running', 'failed')")[0], "0");
    EXPECT_EQ(db.rows("SELECT COUNT(*) FROM runs r WHERE status = 'pending' AND EXISTS "
                      "(SELECT 1 FROM epochs e WHERE e.run_id = r.id)")[0],
              "0");
  }
  auto resumed =
      mpirun_cli({"study", "run", (dir / "s.yaml").string(), "--out", (dir / "out").string(), "--threads", "2", "-q"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.out << resumed.err;
  auto one = test::run_cli(
      {"study", "run", (dir / "s.yaml").string(), "--out", (dir / "one").string(), "--threads", "1", "-q"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_EQ(results(dir / "out"), results(dir / "one"));
  expect_whole(dir / "out", 8);
}

TEST(Mpi, BadInputIsOneLineAndExitCodeTwoOnEveryRank) {
  SKIP_WITHOUT_MPI();
  test::TempDir dir;
  // Every rank finds this one: an unknown key in the base spec.
  std::string bad = small_study("bad", 1, 1);
  bad.replace(bad.find("  probes:"), 0, "  no_such_key: 1\n");
  test::write_text(dir / "bad.yaml", bad);
  auto start = std::chrono::steady_clock::now();
  auto r = mpirun_cli({"study", "run", (dir / "bad.yaml").string(), "--out", (dir / "out").string(), "-q"}, 2, 30);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count(r.out + r.err, "gradlab: error:"), 1u) << r.out << r.err;
  EXPECT_NE(r.err.find("no_such_key"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));

  // Only rank 0 finds this one: the folder holds another study.
  test::write_text(dir / "a.yaml", small_study("first", 1, 1));
  test::write_text(dir / "b.yaml", small_study("second", 1, 1));
  ASSERT_EQ(test::run_cli({"study", "run", (dir / "a.yaml").string(), "--out", (dir / "out").string(), "-q"}).exit_code,
            0);
  start = std::chrono::steady_clock::now();
  r = mpirun_cli({"study", "run", (dir / "b.yaml").string(), "--out", (dir / "out").string(), "-q"}, 2, 30);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count(r.out + r.err, "gradlab: error:"), 1u) << r.out << r.err;
  EXPECT_NE(r.err.find("holds another study, 'first'"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));

  // A bad option: every rank, one line.
  r = mpirun_cli({"study", "run", (dir / "a.yaml").string(), "--out", (dir / "out").string(), "--threads", "0"}, 2, 30);
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(count(r.out + r.err, "gradlab: error:"), 1u) << r.out << r.err;
}

TEST(StudyWire, SummaryComesBackBitForBit) {
  RunSummary s;
  s.status = RunStatus::diverged;
  s.seed = (std::int64_t{1} << 62) + 5;
  s.epochs_run = 3;
  s.diverged_epoch = 2;
  s.message = "loss is nan in epoch 2 \xff\xfe (bytes that are not UTF-8)";
  s.seconds = 0.1;
  s.timing = {1e-300, 0.25, -0.0, 3.5, 1.0 / 3};
  s.spec = {{"model", {{"layers", {1, 2.5, "x"}}}}, {"seed", -7}};
  s.plugins.push_back({"layer", "dense", "1.2", "core_layers", "/lib/x.so", {{"units", 16}, {"lr", 0.1}}});
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  for (int e = 0; e < 3; ++e) {
    EpochRecord r;
    r.epoch = e;
    r.train_loss = e == 2 ? nan : 2.302585092994046 / (e + 1);
    r.train_accuracy = 0.1 * e;
    r.test_loss = e == 2 ? inf : -inf;
    r.test_accuracy = std::nextafter(0.5, 1.0);
    r.seconds = 4.9e-324 * e;  // subnormal
    if (e != 1) r.layers.push_back({e, "dense", 170, 3.2e-07, -0.0, nan});
    s.epochs.push_back(r);
  }
  const RunSummary t = study::decode_summary(study::encode_summary(s));
  auto bits = [](double v) {
    std::uint64_t b;
    std::memcpy(&b, &v, sizeof b);
    return std::isnan(v) ? std::uint64_t(1) : b;  // any NaN is a NaN (stored as NULL)
  };
  EXPECT_EQ(t.status, s.status);
  EXPECT_EQ(t.seed, s.seed);
  EXPECT_EQ(t.epochs_run, s.epochs_run);
  EXPECT_EQ(t.diverged_epoch, s.diverged_epoch);
  EXPECT_EQ(t.message, s.message);
  EXPECT_EQ(bits(t.seconds), bits(s.seconds));
  EXPECT_EQ(bits(t.timing.train_steps), bits(s.timing.train_steps));
  EXPECT_EQ(bits(t.timing.probes), bits(s.timing.probes));
  EXPECT_EQ(bits(t.timing.other), bits(s.timing.other));
  EXPECT_EQ(t.spec.dump(), s.spec.dump());
  ASSERT_EQ(t.plugins.size(), 1u);
  EXPECT_EQ(t.plugins[0].path, "/lib/x.so");
  EXPECT_EQ(t.plugins[0].plugin, "core_layers");
  EXPECT_EQ(t.plugins[0].params.dump(), s.plugins[0].params.dump());
  ASSERT_EQ(t.epochs.size(), s.epochs.size());
  for (std::size_t i = 0; i < s.epochs.size(); ++i) {
    const auto &x = s.epochs[i], &y = t.epochs[i];
    EXPECT_EQ(y.epoch, x.epoch);
    for (auto [a, b] : {std::pair{x.train_loss, y.train_loss},
                        {x.train_accuracy, y.train_accuracy},
                        {x.test_loss, y.test_loss},
                        {x.test_accuracy, y.test_accuracy},
                        {x.seconds, y.seconds}})
      EXPECT_EQ(bits(b), bits(a)) << "epoch " << i;
    ASSERT_EQ(y.layers.size(), x.layers.size());
    for (std::size_t l = 0; l < x.layers.size(); ++l) {
      EXPECT_EQ(y.layers[l].index, x.layers[l].index);
      EXPECT_EQ(y.layers[l].type, x.layers[l].type);
      EXPECT_EQ(y.layers[l].param_count, x.layers[l].param_count);
      EXPECT_EQ(bits(y.layers[l].grad_norm), bits(x.layers[l].grad_norm));
      EXPECT_EQ(bits(y.layers[l].weight_norm), bits(x.layers[l].weight_norm));
      EXPECT_EQ(bits(y.layers[l].saturation), bits(x.layers[l].saturation));
    }
  }
  auto damaged = study::encode_summary(s);
  damaged.resize(damaged.size() / 2);
  EXPECT_THROW(study::decode_summary(damaged), std::runtime_error);
}

}  // namespace
}  // namespace gradlab
