// Helpers of the study tests: a small study, the results database read back
// exactly, the CLI started in the background.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.hpp"

extern char** environ;

namespace gradlab::study_test {

namespace fs = std::filesystem;

// Tiny sigmoid nets on digits: each run takes a few milliseconds to a few tenths.
inline std::string small_study(const std::string& name, int epochs, int seeds, int units = 16) {
  return "study: " + name +
         "\n"
         "base:\n"
         "  data: {name: digits}\n"
         "  model:\n"
         "    layers:\n"
         "      - repeat: ${depth}\n"
         "        layers: [{type: dense, units: " +
         std::to_string(units) +
         "}, {type: sigmoid}]\n"
         "      - {type: dense, units: 10}\n"
         "  init: {name: lecun_normal}\n"
         "  optimizer: {name: sgd, lr: 0.1}\n"
         "  training: {epochs: " +
         std::to_string(epochs) +
         ", batch_size: 32}\n"
         "  probes: {every: 1, batch: 64}\n"
         "variants:\n"
         "  baseline: {}\n"
         "  relu_he: {\"model.layers.0.layers.1.type\": relu, init.name: he_normal}\n"
         "grid: {depth: [2, 3]}\n"
         "seeds: " +
         std::to_string(seeds) + "\nseed: 11\n";
}

struct Db {
  explicit Db(const fs::path& file) {
    EXPECT_EQ(sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
  }
  ~Db() { sqlite3_close(db); }
  // Every row of `sql`, columns joined by '|', reals as exact hex floats.
  // `must`: a query that fails is a test failure (else: no rows).
  std::vector<std::string> rows(const std::string& sql, bool must = true) {
    std::vector<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      if (must) ADD_FAILURE() << sqlite3_errmsg(db) << " in " << sql;
      sqlite3_finalize(stmt);
      return out;
    }
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      std::string row;
      for (int c = 0; c < sqlite3_column_count(stmt); ++c) {
        if (c) row += "|";
        if (sqlite3_column_type(stmt, c) == SQLITE_FLOAT) {
          char text[64];
          std::snprintf(text, sizeof text, "%a", sqlite3_column_double(stmt, c));
          row += text;
        } else if (auto t = sqlite3_column_text(stmt, c)) {
          row += reinterpret_cast<const char*>(t);
        }
      }
      out.push_back(row);
    }
    sqlite3_finalize(stmt);
    return out;
  }
  sqlite3* db = nullptr;
};

// Everything the runs computed, timings aside.
inline std::vector<std::string> results(const fs::path& dir) {
  Db db(dir / "results.sqlite");
  auto out =
      db.rows("SELECT key, seed, status, message, epochs_run, diverged_epoch, overrides, spec FROM runs ORDER BY key");
  for (auto& r : db.rows("SELECT r.key, e.epoch, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy "
                         "FROM epochs e JOIN runs r ON r.id = e.run_id ORDER BY r.key, e.epoch"))
    out.push_back(r);
  for (auto& r : db.rows("SELECT r.key, p.epoch, p.layer, p.type, p.param_count, p.grad_norm, p.weight_norm, "
                         "p.saturation FROM probes p JOIN runs r ON r.id = p.run_id ORDER BY r.key, p.epoch, p.layer"))
    out.push_back(r);
  for (auto& r : db.rows("SELECT r.key, p.kind, p.name, p.version, p.params FROM plugins p JOIN runs r ON r.id = "
                         "p.run_id ORDER BY r.key, p.kind, p.name"))
    out.push_back(r);
  return out;
}

// Starts `program` (a path) with `args`, stdout to `log`, stderr to `log`.err.
inline pid_t spawn_program(const std::string& program, const std::vector<std::string>& args, const fs::path& log) {
  std::vector<std::string> all{program};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, (log.string() + ".err").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

inline pid_t spawn_cli(const std::vector<std::string>& args, const fs::path& log) {
  return spawn_program(test::cli_path().string(), args, log);
}

}  // namespace gradlab::study_test
