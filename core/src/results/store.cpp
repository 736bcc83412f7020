// The SQLite results store of a study (see results.hpp).
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "gradlab/core/error.hpp"
#include "gradlab/core/io.hpp"
#include "gradlab/core/study/results.hpp"
#include "gradlab/core/study/statistics.hpp"
#include "gradlab/version.hpp"

namespace gradlab::study {

double unix_time() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

namespace {

const char* schema_sql = R"(
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY, key TEXT UNIQUE NOT NULL, variant TEXT NOT NULL, grid TEXT NOT NULL,
  overrides TEXT NOT NULL, seed_index INTEGER NOT NULL, seed INTEGER NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending', message TEXT, epochs_run INTEGER, diverged_epoch INTEGER,
  seconds REAL, timing TEXT, host TEXT, started_at REAL, finished_at REAL, spec TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plugins (
  run_id INTEGER NOT NULL REFERENCES runs(id), kind TEXT, name TEXT, version TEXT, plugin TEXT, path TEXT,
  params TEXT);
CREATE TABLE IF NOT EXISTS epochs (
  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, train_loss REAL, train_accuracy REAL,
  test_loss REAL, test_accuracy REAL, seconds REAL, PRIMARY KEY (run_id, epoch));
CREATE TABLE IF NOT EXISTS probes (
  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, layer INTEGER NOT NULL, type TEXT,
  param_count INTEGER, grad_norm REAL, weight_norm REAL, saturation REAL, PRIMARY KEY (run_id, epoch, layer));
CREATE TABLE IF NOT EXISTS step_probes (
  run_id INTEGER NOT NULL REFERENCES runs(id), step INTEGER NOT NULL, epoch INTEGER NOT NULL,
  layer INTEGER NOT NULL, type TEXT, param_count INTEGER, grad_norm REAL, weight_norm REAL, saturation REAL,
  output_grad_norm REAL, update_ratio REAL, PRIMARY KEY (run_id, step, layer));
CREATE TABLE IF NOT EXISTS grad_by_lag (
  run_id INTEGER NOT NULL REFERENCES runs(id), epoch INTEGER NOT NULL, layer INTEGER NOT NULL,
  lag INTEGER NOT NULL, grad_norm REAL, cell_grad_norm REAL, PRIMARY KEY (run_id, epoch, layer, lag));
CREATE TABLE IF NOT EXISTS pretraining (
  run_id INTEGER NOT NULL REFERENCES runs(id), metric TEXT NOT NULL, step INTEGER NOT NULL, value REAL,
  PRIMARY KEY (run_id, metric, step));
)";

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw OutputError(std::string("results database: ") + sqlite3_errmsg(db));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, double v) {
    if (std::isnan(v))
      sqlite3_bind_null(stmt_, i);
    else
      sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& null(int i) {
    sqlite3_bind_null(stmt_, i);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw OutputError(std::string("results database: ") + sqlite3_errmsg(db_));
  }
  void run() {
    step();
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) {
    auto p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t integer(int col) { return sqlite3_column_int64(stmt_, col); }
  bool is_null(int col) { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // NULL (a NaN or Inf that was stored) reads as NaN.
  double real(int col) {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? std::numeric_limits<double>::quiet_NaN()
                                                          : sqlite3_column_double(stmt_, col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

bool has_column(sqlite3* db, const std::string& table, const std::string& column) {
  Statement q(db, ("SELECT name FROM pragma_table_info('" + table + "')").c_str());
  while (q.step())
    if (q.text(0) == column) return true;
  return false;
}

bool has_table(sqlite3* db, const std::string& table) {
  Statement q(db, ("SELECT name FROM sqlite_master WHERE type='table' AND name='" + table + "'").c_str());
  return q.step();
}

// Columns added after the first release of the schema: a study folder made
// by an older gradlab gets them when it is opened again (resumed).
const std::pair<const char*, const char*> added_columns[] = {
    {"epochs", "success_rate REAL"},     {"epochs", "train_success_rate REAL"}, {"runs", "task TEXT"},
    {"runs", "final_epoch INTEGER"},  // NULL: the last epoch (no early stopping restored an earlier one)  // NULL:
                                      // classification (and every run recorded before regression was named)
    {"probes", "output_grad_norm REAL"}, {"probes", "update_ratio REAL"},
};

sqlite3* open_db(const std::filesystem::path& file, int flags, const std::string& uri_suffix = "") {
  sqlite3* db = nullptr;
  std::string name = "file:" + file.string() + uri_suffix;
  if (sqlite3_open_v2(name.c_str(), &db, flags | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "cannot open";
    sqlite3_close(db);
    throw InputError(file.string(), "cannot open the results database: " + message);
  }
  sqlite3_busy_timeout(db, 10000);
  return db;
}

std::map<std::string, std::string> read_meta(sqlite3* db) {
  std::map<std::string, std::string> meta;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT key, value FROM meta", -1, &stmt, nullptr) != SQLITE_OK) return meta;
  while (sqlite3_step(stmt) == SQLITE_ROW)
    meta[reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0))] =
        reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1));
  sqlite3_finalize(stmt);
  return meta;
}

// Whether some process holds the folder's lock now.
bool lock_held(const std::filesystem::path& dir) {
  int fd = ::open((dir / ".lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool held = flock(fd, LOCK_SH | LOCK_NB) != 0;
  ::close(fd);
  return held;
}

}  // namespace

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0) return "";
  return name;
}

void ResultStore::check_folder(const std::filesystem::path& dir, const StudyPlan& plan) {
  std::error_code ec;
  if (!std::filesystem::exists(dir, ec)) return;
  if (!std::filesystem::is_directory(dir, ec)) throw InputError("--out " + dir.string(), "is not a folder");
  const auto db_file = dir / "results.sqlite";
  if (!std::filesystem::exists(db_file, ec)) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().filename() != ".lock")
        throw InputError("--out " + dir.string(), "holds files but no study results; give a new or empty folder");
    return;
  }
  sqlite3* db = open_db(db_file, SQLITE_OPEN_READONLY, "?immutable=1");
  auto meta = read_meta(db);
  sqlite3_close(db);
  if (meta.empty()) {  // a process killed while it created the database: start afresh
    if (lock_held(dir))
      throw InputError("--out " + dir.string(), "is in use by another gradlab process running a study");
    return;
  }
  if (meta["name"] != plan.name)
    throw InputError("--out " + dir.string(), "holds another study, " + quote_text(meta["name"]) + " (this one is " +
                                                  quote_text(plan.name) + "); give another folder");
  if (meta["hash"] != plan.hash)
    throw InputError("--out " + dir.string(),
                     "holds study " + quote_text(plan.name) +
                         " with other runs (its spec changed since that folder was made: plan " + meta["hash"] +
                         ", now " + plan.hash + "); give another folder");
  if (lock_held(dir))
    throw InputError("--out " + dir.string(), "is in use by another gradlab process running this study");
}

std::unique_ptr<ResultStore> ResultStore::open_for_run(const std::filesystem::path& dir, const StudyPlan& plan) {
  check_folder(dir, plan);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir.string(), "cannot create the folder: " + ec.message());
  std::unique_ptr<ResultStore> store(new ResultStore);
  store->dir_ = dir;
  store->lock_fd_ = ::open((dir / ".lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (store->lock_fd_ < 0) throw InputError("--out " + dir.string(), "cannot create the lock file .lock");
  if (flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw InputError("--out " + dir.string(), "is in use by another gradlab process running this study");
  store->db_ = open_db(dir / "results.sqlite", SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX);
  store->exec("PRAGMA journal_mode=WAL");
  store->exec("PRAGMA synchronous=NORMAL");
  store->exec(schema_sql);
  for (const auto& [table, column] : added_columns) {
    const std::string name = std::string(column).substr(0, std::string(column).find(' '));
    if (!has_column(store->db_, table, name))
      store->exec("ALTER TABLE " + std::string(table) + " ADD COLUMN " + column);
  }
  auto meta = read_meta(store->db_);
  if (meta.empty()) {
    store->exec("BEGIN IMMEDIATE");
    Statement put(store->db_, "INSERT INTO meta (key, value) VALUES (?, ?)");
    put.bind(1, std::string("name")).bind(2, plan.name).run();
    put.bind(1, std::string("hash")).bind(2, plan.hash).run();
    put.bind(1, std::string("spec")).bind(2, plan.document.dump()).run();
    put.bind(1, std::string("source")).bind(2, plan.source).run();
    put.bind(1, std::string("seed")).bind(2, std::to_string(plan.seed)).run();
    put.bind(1, std::string("created_at")).bind(2, std::to_string(unix_time())).run();
    put.bind(1, std::string("gradlab_version")).bind(2, std::string(GRADLAB_VERSION_STRING)).run();
    Statement add(store->db_,
                  "INSERT INTO runs (key, variant, grid, overrides, seed_index, seed, spec) VALUES (?,?,?,?,?,?,?)");
    for (const auto& run : plan.runs)
      add.bind(1, run.key)
          .bind(2, run.variant)
          .bind(3, run.grid.dump())
          .bind(4, run.overrides.dump())
          .bind(5, run.seed_index)
          .bind(6, run.seed)
          .bind(7, run.spec.effective.dump())
          .run();
    store->exec("COMMIT");
    // The meta data in the main file, so a read-only check sees it without the WAL.
    store->exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } else if (meta["name"] != plan.name || meta["hash"] != plan.hash) {
    throw InputError("--out " + dir.string(), "holds another study");
  }
  // Runs a killed process left running start over.
  store->exec("UPDATE runs SET status='pending', started_at=NULL, host=NULL WHERE status='running'");
  return store;
}

ResultStore::~ResultStore() {
  if (db_) sqlite3_close(db_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

void ResultStore::exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw OutputError("results database " + (dir_ / "results.sqlite").string() + ": " + message);
  }
}

std::vector<std::string> ResultStore::finished_keys() {
  std::lock_guard lock(mutex_);
  std::vector<std::string> keys;
  Statement q(db_, "SELECT key FROM runs WHERE status IN ('ok', 'diverged', 'failed')");
  while (q.step()) keys.push_back(q.text(0));
  return keys;
}

void ResultStore::mark_running(const std::string& key, const std::string& host) {
  std::lock_guard lock(mutex_);
  Statement q(db_, "UPDATE runs SET status='running', started_at=?, host=? WHERE key=?");
  q.bind(1, unix_time()).bind(2, host.empty() ? host_name() : host).bind(3, key).run();
}

void ResultStore::mark_pending(const std::string& key) {
  std::lock_guard lock(mutex_);
  Statement q(db_, "UPDATE runs SET status='pending', started_at=NULL, host=NULL WHERE key=?");
  q.bind(1, key).run();
}

void ResultStore::store_run(const PlannedRun& run, const RunSummary& s, double started_at, double finished_at,
                            const std::string& host) {
  std::lock_guard lock(mutex_);
  exec("BEGIN IMMEDIATE");
  try {
    std::int64_t id = 0;
    {
      Statement q(db_, "SELECT id FROM runs WHERE key=?");
      q.bind(1, run.key);
      if (!q.step()) throw OutputError("results database: run " + run.key + " is not in the plan");
      id = q.integer(0);
    }
    for (const char* table : {"plugins", "epochs", "probes", "step_probes", "grad_by_lag", "pretraining"}) {
      Statement del(db_, (std::string("DELETE FROM ") + table + " WHERE run_id=?").c_str());
      del.bind(1, id).run();
    }
    nlohmann::json timing{{"train_steps", s.timing.train_steps},
                          {"evaluation", s.timing.evaluation},
                          {"probes", s.timing.probes},
                          {"pretraining", s.timing.pretraining},
                          {"other", s.timing.other}};
    Statement up(db_,
                 "UPDATE runs SET status=?, message=?, epochs_run=?, diverged_epoch=?, seconds=?, timing=?, host=?, "
                 "started_at=?, finished_at=?, task=?, final_epoch=? WHERE id=?");
    up.bind(1, std::string(to_string(s.status))).bind(2, s.message).bind(3, s.epochs_run);
    if (s.diverged_epoch)
      up.bind(4, *s.diverged_epoch);
    else
      up.null(4);
    up.bind(5, s.seconds)
        .bind(6, timing.dump())
        .bind(7, host.empty() ? host_name() : host)
        .bind(8, started_at)
        .bind(9, finished_at);
    if (s.task == Task::regression)
      up.bind(10, std::string(to_string(s.task)));
    else
      up.null(10);
    if (s.restored_best && s.best_epoch)
      up.bind(11, *s.best_epoch);
    else
      up.null(11);
    up.bind(12, id).run();
    Statement plug(db_, "INSERT INTO plugins VALUES (?,?,?,?,?,?,?)");
    for (const auto& p : s.plugins)
      plug.bind(1, id)
          .bind(2, p.kind)
          .bind(3, p.name)
          .bind(4, p.version)
          .bind(5, p.plugin)
          .bind(6, p.path)
          .bind(7, p.params.dump())
          .run();
    Statement ep(db_,
                 "INSERT INTO epochs (run_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds, "
                 "success_rate, train_success_rate) VALUES (?,?,?,?,?,?,?,?,?)");
    Statement pr(db_,
                 "INSERT INTO probes (run_id, epoch, layer, type, param_count, grad_norm, weight_norm, saturation, "
                 "output_grad_norm, update_ratio) VALUES (?,?,?,?,?,?,?,?,?,?)");
    Statement sp(db_, "INSERT INTO step_probes VALUES (?,?,?,?,?,?,?,?,?,?,?)");
    // The probe values from grad_norm on, at column `first` of `q`; an
    // absent update_ratio (and a NaN or infinite one) is NULL.
    auto bind_probe = [](Statement& q, int first, const LayerProbe& l) -> Statement& {
      q.bind(first, l.grad_norm)
          .bind(first + 1, l.weight_norm)
          .bind(first + 2, l.saturation)
          .bind(first + 3, l.output_grad_norm);
      if (l.update_ratio && std::isfinite(*l.update_ratio))
        q.bind(first + 4, *l.update_ratio);
      else
        q.null(first + 4);
      return q;
    };
    for (const auto& p : s.step_probes)
      for (const auto& l : p.layers) {
        sp.bind(1, id)
            .bind(2, p.step)
            .bind(3, p.epoch)
            .bind(4, static_cast<std::int64_t>(l.index))
            .bind(5, l.type)
            .bind(6, static_cast<std::int64_t>(l.param_count));
        bind_probe(sp, 7, l).run();
      }
    Statement lag(db_, "INSERT INTO grad_by_lag VALUES (?,?,?,?,?,?)");
    Statement pre(db_, "INSERT INTO pretraining VALUES (?,?,?,?)");
    for (const auto& [metric, values] : s.pretraining)
      for (std::size_t k = 0; k < values.size(); ++k) {
        pre.bind(1, id).bind(2, metric).bind(3, static_cast<std::int64_t>(k));
        if (std::isfinite(values[k]))
          pre.bind(4, values[k]);
        else
          pre.null(4);
        pre.run();
      }
    for (const auto& e : s.epochs) {
      ep.bind(1, id)
          .bind(2, e.epoch)
          .bind(3, e.train_loss)
          .bind(4, e.train_accuracy)
          .bind(5, e.test_loss)
          .bind(6, e.test_accuracy)
          .bind(7, e.seconds);
      if (e.success_rate)
        ep.bind(8, *e.success_rate);
      else
        ep.null(8);
      if (e.train_success_rate)
        ep.bind(9, *e.train_success_rate);
      else
        ep.null(9);
      ep.run();
      for (const auto& l : e.layers)
        for (std::size_t k = 0; k < l.grad_by_lag.size(); ++k) {
          lag.bind(1, id)
              .bind(2, e.epoch)
              .bind(3, static_cast<std::int64_t>(l.index))
              .bind(4, static_cast<std::int64_t>(k))
              .bind(5, l.grad_by_lag[k]);
          if (k < l.cell_grad_by_lag.size())
            lag.bind(6, l.cell_grad_by_lag[k]);
          else
            lag.null(6);
          lag.run();
        }
      for (const auto& l : e.layers) {
        pr.bind(1, id)
            .bind(2, e.epoch)
            .bind(3, static_cast<std::int64_t>(l.index))
            .bind(4, l.type)
            .bind(5, static_cast<std::int64_t>(l.param_count));
        bind_probe(pr, 6, l).run();
      }
    }
    exec("COMMIT");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

StatusCounts ResultStore::status(const std::filesystem::path& dir) {
  const auto db_file = dir / "results.sqlite";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db_file, ec))
    throw InputError(dir.string(), "holds no study results (no results.sqlite)");
  sqlite3* db = open_db(db_file, SQLITE_OPEN_READONLY);
  StatusCounts counts;
  try {
    auto meta = read_meta(db);
    counts.name = meta["name"];
    counts.hash = meta["hash"];
    Statement q(db, "SELECT status, COUNT(*) FROM runs GROUP BY status");
    while (q.step()) {
      const std::string status = q.text(0);
      const std::int64_t n = q.integer(1);
      counts.total += n;
      if (status == "ok") counts.ok = n;
      if (status == "diverged") counts.diverged = n;
      if (status == "failed") counts.failed = n;
      if (status == "running") counts.running = n;
      if (status == "pending") counts.pending = n;
    }
  } catch (const OutputError& e) {
    sqlite3_close(db);
    throw InputError(db_file.string(), std::string("not a study results database: ") + e.what());
  }
  sqlite3_close(db);
  counts.locked = lock_held(dir);
  return counts;
}

StudyRecords load_records(const std::filesystem::path& dir) {
  const auto db_file = dir / "results.sqlite";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(db_file, ec))
    throw InputError(dir.string(), "holds no study results (no results.sqlite)");
  sqlite3* db = open_db(db_file, SQLITE_OPEN_READONLY);
  StudyRecords records;
  try {
    auto meta = read_meta(db);
    if (meta.empty()) throw OutputError("no study in it");
    records.name = meta["name"];
    std::map<std::int64_t, std::size_t> by_id;
    {
      // Databases from before regression (task) or early stopping (final_epoch)
      // are read as they are (read-only here: not migrated).
      const std::string query = std::string("SELECT id, key, variant, grid, seed_index, seed, status, ") +
                                (has_column(db, "runs", "task") ? "task" : "NULL") + ", " +
                                (has_column(db, "runs", "final_epoch") ? "final_epoch" : "NULL") +
                                " FROM runs ORDER BY id";
      Statement q(db, query.c_str());
      while (q.step()) {
        StoredRun run;
        run.key = q.text(1);
        run.variant = q.text(2);
        run.grid = nlohmann::json::parse(q.text(3), nullptr, false);
        if (run.grid.is_discarded()) run.grid = nlohmann::json::object();
        run.seed_index = q.integer(4);
        run.seed = q.integer(5);
        run.status = q.text(6);
        if (!q.is_null(7) && q.text(7) == "regression") run.task = Task::regression;
        if (!q.is_null(8)) run.final_epoch = q.integer(8);
        if (std::find(records.variants.begin(), records.variants.end(), run.variant) == records.variants.end())
          records.variants.push_back(run.variant);
        by_id[q.integer(0)] = records.runs.size();
        records.runs.push_back(std::move(run));
      }
    }
    {
      Statement q(
          db, (std::string("SELECT run_id, epoch, train_loss, train_accuracy, test_loss, test_accuracy, seconds, ") +
               // A database from before success rates (read-only here: not migrated).
               (has_column(db, "epochs", "success_rate") ? "success_rate, train_success_rate" : "NULL, NULL") +
               " FROM epochs ORDER BY run_id, epoch")
                  .c_str());
      while (q.step()) {
        auto it = by_id.find(q.integer(0));
        if (it == by_id.end()) continue;
        EpochRecord e;
        e.epoch = q.integer(1);
        e.train_loss = q.real(2);
        e.train_accuracy = q.real(3);
        e.test_loss = q.real(4);
        e.test_accuracy = q.real(5);
        e.seconds = q.real(6);
        if (!q.is_null(7)) e.success_rate = q.real(7);
        if (!q.is_null(8)) e.train_success_rate = q.real(8);
        records.runs[it->second].epochs.push_back(std::move(e));
      }
    }
    {
      // A database from before output_grad_norm and update_ratio reads them as absent.
      const bool flow = has_column(db, "probes", "update_ratio");
      Statement q(
          db, (std::string("SELECT run_id, epoch, layer, type, param_count, grad_norm, weight_norm, "
                           "saturation, ") +
               (flow ? "output_grad_norm, update_ratio" : "NULL, NULL") + " FROM probes ORDER BY run_id, epoch, layer")
                  .c_str());
      while (q.step()) {
        auto it = by_id.find(q.integer(0));
        if (it == by_id.end()) continue;
        auto& epochs = records.runs[it->second].epochs;
        const std::int64_t epoch = q.integer(1);
        auto e = std::find_if(epochs.begin(), epochs.end(), [&](const EpochRecord& r) { return r.epoch == epoch; });
        if (e == epochs.end()) continue;
        LayerProbe l;
        l.index = q.integer(2);
        l.type = q.text(3);
        l.param_count = q.integer(4);
        l.grad_norm = q.real(5);
        l.weight_norm = q.real(6);
        l.saturation = q.real(7);
        l.output_grad_norm = q.real(8);
        if (!q.is_null(9)) l.update_ratio = q.real(9);
        e->layers.push_back(std::move(l));
      }
    }
    if (has_table(db, "step_probes")) {
      Statement q(db,
                  "SELECT run_id, step, epoch, layer, type, param_count, grad_norm, weight_norm, saturation, "
                  "output_grad_norm, update_ratio FROM step_probes ORDER BY run_id, step, layer");
      while (q.step()) {
        auto it = by_id.find(q.integer(0));
        if (it == by_id.end()) continue;
        auto& steps = records.runs[it->second].step_probes;
        const std::int64_t step = q.integer(1);
        if (steps.empty() || steps.back().step != step) steps.push_back({step, q.integer(2), {}});
        LayerProbe l;
        l.index = q.integer(3);
        l.type = q.text(4);
        l.param_count = q.integer(5);
        l.grad_norm = q.real(6);
        l.weight_norm = q.real(7);
        l.saturation = q.real(8);
        l.output_grad_norm = q.real(9);
        if (!q.is_null(10)) l.update_ratio = q.real(10);
        steps.back().layers.push_back(std::move(l));
      }
    }
    if (has_column(db, "grad_by_lag", "cell_grad_norm")) {
      Statement q(db,
                  "SELECT run_id, epoch, layer, lag, grad_norm, cell_grad_norm FROM grad_by_lag "
                  "ORDER BY run_id, epoch, layer, lag");
      while (q.step()) {
        auto it = by_id.find(q.integer(0));
        if (it == by_id.end()) continue;
        auto& epochs = records.runs[it->second].epochs;
        const std::int64_t epoch = q.integer(1), layer = q.integer(2);
        auto e = std::find_if(epochs.begin(), epochs.end(), [&](const EpochRecord& r) { return r.epoch == epoch; });
        if (e == epochs.end()) continue;
        auto l =
            std::find_if(e->layers.begin(), e->layers.end(), [&](const LayerProbe& p) { return p.index == layer; });
        if (l == e->layers.end()) continue;
        l->grad_by_lag.push_back(q.real(4));
        if (!q.is_null(5)) l->cell_grad_by_lag.push_back(q.real(5));
      }
    }
    if (has_table(db, "pretraining")) {
      Statement q(db, "SELECT run_id, metric, value FROM pretraining ORDER BY run_id, metric, step");
      while (q.step()) {
        auto it = by_id.find(q.integer(0));
        if (it == by_id.end()) continue;
        records.runs[it->second].pretraining[q.text(1)].push_back(
            q.is_null(2) ? std::numeric_limits<double>::quiet_NaN() : q.real(2));
      }
    }
    auto spec = nlohmann::json::parse(meta["spec"], nullptr, false);
    if (spec.is_object() && spec.contains("baseline") && spec["baseline"].is_string())
      records.baseline = spec["baseline"].get<std::string>();
    else if (!records.variants.empty())
      records.baseline = records.variants.front();
  } catch (const OutputError& e) {
    sqlite3_close(db);
    throw InputError(db_file.string(), std::string("not a study results database: ") + e.what());
  }
  sqlite3_close(db);
  return records;
}

}  // namespace gradlab::study
