// Reading what a report shows from a study folder (read-only, no lock).
#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <set>

#include "gradlab/core/error.hpp"
#include "gradlab/core/report/report.hpp"

namespace gradlab::report {

namespace {

// A read-only connection that closes itself.
class Database {
 public:
  explicit Database(const std::filesystem::path& file) : file_(file) {
    // No study lock and no writes: a study that is running keeps running, and
    // the report is a snapshot of the runs stored so far (WAL readers never
    // block the writer).
    const std::string uri = "file:" + file.string();
    if (sqlite3_open_v2(uri.c_str(), &db_, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "cannot open";
      sqlite3_close(db_);
      throw InputError(file.string(), "cannot open the results database: " + message);
    }
    sqlite3_busy_timeout(db_, 10000);
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `sql`, calling `row` with each result row's statement.
  template <typename Row>
  void query(const char* sql, Row&& row) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK)
      throw InputError(file_.string(), std::string("not a study results database: ") + sqlite3_errmsg(db_));
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) row(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
      throw InputError(file_.string(), std::string("reading the results database: ") + sqlite3_errmsg(db_));
  }

 private:
  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
};

std::string text(sqlite3_stmt* stmt, int col) {
  const auto* p = sqlite3_column_text(stmt, col);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(stmt, col)))
           : std::string();
}

double real(sqlite3_stmt* stmt, int col) {
  return sqlite3_column_type(stmt, col) == SQLITE_NULL ? std::numeric_limits<double>::quiet_NaN()
                                                       : sqlite3_column_double(stmt, col);
}

}  // namespace

ReportInput load_input(const std::filesystem::path& dir) {
  ReportInput in;
  in.dir = dir;
  // load_records names a folder without results.sqlite in one line (InputError).
  in.records = study::load_records(dir);
  in.stats = study::compute_stats(in.records);
  in.counts = study::ResultStore::status(dir);

  Database db(dir / "results.sqlite");
  db.query("SELECT key, value FROM meta", [&](sqlite3_stmt* s) { in.meta[text(s, 0)] = text(s, 1); });
  db.query("SELECT key, message FROM runs WHERE message IS NOT NULL AND message <> '' ORDER BY id",
           [&](sqlite3_stmt* s) { in.messages[text(s, 0)] = text(s, 1); });

  // Error flow by lag (recurrent runs): the store's grad_by_lag table, one
  // row per run, probed epoch, recurrent layer and lag. The chart shows each
  // run's FIRST recurrent layer (the one nearest the input, where the error
  // has come furthest); `gradlab export --table lags` has them all.
  std::set<std::string> columns;
  db.query("SELECT name FROM pragma_table_info('grad_by_lag')", [&](sqlite3_stmt* s) { columns.insert(text(s, 0)); });
  if (columns.count("run_id") && columns.count("epoch") && columns.count("layer") && columns.count("lag") &&
      columns.count("grad_norm"))
    db.query(
        "SELECT r.key, g.epoch, g.lag, g.grad_norm FROM grad_by_lag g JOIN runs r ON r.id = g.run_id "
        "WHERE g.layer = (SELECT MIN(layer) FROM grad_by_lag WHERE run_id = g.run_id) "
        "ORDER BY r.id, g.epoch, g.lag",
        [&](sqlite3_stmt* s) {
          in.lag.push_back({text(s, 0), sqlite3_column_int64(s, 1), sqlite3_column_int64(s, 2), real(s, 3)});
        });
  return in;
}

}  // namespace gradlab::report
