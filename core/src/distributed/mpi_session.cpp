// Distributed studies over MPI (see distributed.hpp).
//
// Design. Only the main thread of each process calls MPI (MPI_THREAD_FUNNELED);
// the runs run on N oneTBB threads per process (an arena with no slot reserved
// for the main thread), each looping "get a run, run it, hand the result over".
// The main thread of rank 0 is the coordinator: it answers the requests of the
// other ranks and stores their results; rank 0's own threads take runs from
// the same queue directly and store their results themselves (the store is
// thread-safe). The main thread of every other rank forwards its threads'
// requests and results to rank 0 and their answers back.
//
// Why not MPI_THREAD_MULTIPLE, with each thread asking rank 0 itself: Open MPI
// 4.1 supports it, but not on every transport (the openib BTL; UCX only when
// built thread-safe), and it puts a lock around every call. One MPI thread per
// process is correct on any transport and costs nothing here: a run lasts far
// longer than a message.
//
// Every wait polls (MPI_Iprobe / MPI_Test, then a short sleep): Open MPI's
// blocking calls spin, and a spinning main thread would take a core from the
// runs when ranks share a machine.
#include <mpi.h>
#include <tbb/global_control.h>
#include <tbb/task_arena.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "gradlab/core/error.hpp"
#include "gradlab/core/study/distributed.hpp"

namespace gradlab::study {

bool mpi_built() { return true; }

namespace {

enum Tag : int {
  tag_request = 1,  // worker -> 0: a thread is free (payload: the worker's host name)
  tag_assign,       // 0 -> worker: a run's index into plan.runs, or -1: no more runs
  tag_result,       // worker -> 0: a finished run (index, times, host, encoded summary)
  tag_pending,      // worker -> 0: a run stopped by the signal goes back to pending (index)
  tag_interrupted,  // worker -> 0: this rank got SIGINT/SIGTERM
  tag_error,        // worker -> 0: this rank failed outside a run (message)
  tag_bye,          // worker -> 0: every thread of this rank is done; nothing more will come
  tag_stop,         // 0 -> worker: stop the running runs, ask for no more
  tag_finish,       // 0 -> worker: the end, with the outcome
};

using Bytes = std::vector<std::uint8_t>;

class Writer {
 public:
  template <class T>
  Writer& put(const T& v) {
    static_assert(std::is_trivially_copyable_v<T>);
    return append(&v, sizeof v);
  }
  Writer& put_string(const std::string& s) {
    put(static_cast<std::uint64_t>(s.size()));
    return append(s.data(), s.size());
  }
  // (resize and memcpy: GCC 12 warns falsely about vector::insert of bytes)
  Writer& append(const void* data, std::size_t n) {
    if (n == 0) return *this;
    const auto at = bytes.size();
    bytes.resize(at + n);
    std::memcpy(bytes.data() + at, data, n);
    return *this;
  }
  Bytes bytes;
};

class Reader {
 public:
  explicit Reader(const Bytes& bytes) : bytes_(bytes) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + at_, sizeof v);
    at_ += sizeof v;
    return v;
  }
  std::string get_string() {
    const auto n = get<std::uint64_t>();
    need(n);
    std::string s(bytes_.begin() + at_, bytes_.begin() + at_ + n);
    at_ += n;
    return s;
  }
  Bytes rest() const { return Bytes(bytes_.begin() + at_, bytes_.end()); }

 private:
  void need(std::size_t n) const {
    if (bytes_.size() - at_ < n) throw std::runtime_error("a message from another process is truncated");
  }
  const Bytes& bytes_;
  std::size_t at_ = 0;
};

// Sleeps between polls: short while messages flow, up to 2 ms when idle.
class Backoff {
 public:
  void reset() { pause_ = std::chrono::microseconds(50); }
  std::chrono::microseconds next() {
    auto p = pause_;
    pause_ = std::min(pause_ * 2, std::chrono::microseconds(2000));
    return p;
  }

 private:
  std::chrono::microseconds pause_{50};
};

void wait_polling(MPI_Request& request) {
  Backoff backoff;
  for (;;) {
    int done = 0;
    MPI_Test(&request, &done, MPI_STATUS_IGNORE);
    if (done) return;
    std::this_thread::sleep_for(backoff.next());
  }
}

// Messages sent without blocking, kept until MPI is done with their bytes.
class Outbox {
 public:
  void send(int dest, int tag, Bytes bytes) {
    sends_.push_back({MPI_REQUEST_NULL, std::move(bytes)});
    auto& s = sends_.back();
    MPI_Isend(s.bytes.data(), static_cast<int>(s.bytes.size()), MPI_BYTE, dest, tag, MPI_COMM_WORLD, &s.request);
  }
  // Drops the sends that completed; whether any is left.
  bool progress() {
    for (auto it = sends_.begin(); it != sends_.end();) {
      int done = 0;
      MPI_Test(&it->request, &done, MPI_STATUS_IGNORE);
      it = done ? sends_.erase(it) : std::next(it);
    }
    return !sends_.empty();
  }
  void flush() {
    Backoff backoff;
    while (progress()) std::this_thread::sleep_for(backoff.next());
  }

 private:
  struct Send {
    MPI_Request request;
    Bytes bytes;
  };
  std::list<Send> sends_;
};

struct Message {
  int source = 0, tag = 0;
  Bytes bytes;
};

std::optional<Message> poll(int source) {
  int flag = 0;
  MPI_Status status;
  MPI_Iprobe(source, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &status);
  if (!flag) return std::nullopt;
  int count = 0;
  MPI_Get_count(&status, MPI_BYTE, &count);
  Message m{status.MPI_SOURCE, status.MPI_TAG, Bytes(static_cast<std::size_t>(count))};
  MPI_Recv(m.bytes.data(), count, MPI_BYTE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return m;
}

// A broken protocol cannot be recovered from: a rank waiting for an answer
// would wait for ever. End the whole job.
[[noreturn]] void fatal(const std::string& message) {
  std::fprintf(stderr, "gradlab: internal error: %s\n", message.c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
  std::abort();
}

std::string what_of(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

// N oneTBB threads, each looping: next() -> run it -> done(). The main thread
// does not join the arena (it has the messages to serve), so the arena
// reserves no slot for it and the thread pool is raised to N workers.
class Runners {
 public:
  using Next = std::function<std::optional<std::size_t>()>;
  using Done = std::function<void(std::size_t, RunOutcome&&)>;
  Runners(int threads, std::function<void()> on_exit)
      : threads_(std::max(1, threads)),
        control_(tbb::global_control::max_allowed_parallelism, static_cast<std::size_t>(threads_) + 1),
        arena_(threads_, 0),
        on_exit_(std::move(on_exit)) {}
  ~Runners() {
    // Every task has returned before the session leaves run_study; wait anyway.
    while (live_.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void start(const StudyPlan& plan, const Registry& registry, const DatasetCache& data, const std::atomic<bool>& stop,
             Next next, Done done, std::function<void(std::exception_ptr)> on_error) {
    live_ = threads_;
    for (int i = 0; i < threads_; ++i)
      arena_.enqueue([&plan, &registry, &data, &stop, next, done, on_error, this] {
        try {
          while (auto index = next()) done(*index, execute_run(plan.runs.at(*index), registry, data, &stop));
        } catch (...) {
          on_error(std::current_exception());
        }
        on_exit_();
        --live_;  // last: the session may end as soon as it reads 0
      });
  }
  bool finished() const { return live_.load() == 0; }

 private:
  int threads_;
  tbb::global_control control_;
  tbb::task_arena arena_;
  std::function<void()> on_exit_;
  std::atomic<int> live_{0};
};

Bytes progress_bytes(const Progress& p, bool interrupted, bool failed) {
  Writer w;
  w.put(p.total).put(p.done).put(p.running).put(p.diverged).put(p.failed).put(p.skipped);
  w.put(static_cast<std::uint8_t>(interrupted)).put(static_cast<std::uint8_t>(failed));
  return w.bytes;
}

DistributedOutcome outcome_of(const Bytes& bytes) {
  Reader r(bytes);
  DistributedOutcome o;
  o.progress.total = r.get<std::int64_t>();
  o.progress.done = r.get<std::int64_t>();
  o.progress.running = r.get<std::int64_t>();
  o.progress.diverged = r.get<std::int64_t>();
  o.progress.failed = r.get<std::int64_t>();
  o.progress.skipped = r.get<std::int64_t>();
  o.interrupted = r.get<std::uint8_t>() != 0;
  o.failed = r.get<std::uint8_t>() != 0;
  return o;
}

// Marks that something happened (a run ended, a message is queued) and wakes
// the MPI thread waiting on `wake` for it.
void raise_event(std::mutex& mutex, bool& event, std::condition_variable& wake) {
  {
    std::lock_guard lock(mutex);
    event = true;
  }
  wake.notify_all();
}

// Rank 0: hands the runs out, runs some itself, stores every result.
DistributedOutcome coordinate(int size, const StudyPlan& plan, const Registry& registry, const DatasetCache& data,
                              ResultStore& store, const ScheduleOptions& options) {
  // Nothing below may throw out of here before the other ranks are told the end:
  // they would wait for ever. Errors are kept, stop everybody, and are rethrown last.
  std::exception_ptr error;
  std::deque<std::size_t> todo;
  try {
    std::set<std::string> finished;
    for (auto& key : store.finished_keys()) finished.insert(std::move(key));
    for (std::size_t i = 0; i < plan.runs.size(); ++i)
      if (!finished.count(plan.runs[i].key)) todo.push_back(i);
  } catch (...) {
    error = std::current_exception();
  }

  std::mutex mutex;  // guards todo, progress, stopping, error, event
  std::condition_variable wake;
  bool event = false;  // a local thread finished: look again
  Progress progress;
  progress.total = static_cast<std::int64_t>(plan.runs.size());
  progress.done = progress.skipped = error ? 0 : progress.total - static_cast<std::int64_t>(todo.size());
  bool stopping = false, interrupted = false;
  std::atomic<bool> stop_runs{false};

  auto report = [&](const std::function<void(Progress&)>& change) {
    std::lock_guard lock(mutex);
    change(progress);
    if (options.on_progress) options.on_progress(progress);
  };
  auto fail = [&](std::exception_ptr e) {
    std::lock_guard lock(mutex);
    if (!error) error = e;
  };
  auto take = [&]() -> std::optional<std::size_t> {
    std::lock_guard lock(mutex);
    if (stopping || error || todo.empty()) return std::nullopt;
    auto index = todo.front();
    todo.pop_front();
    return index;
  };
  auto finished_run = [&](std::size_t index, const RunSummary& summary, double started, double ended,
                          const std::string& host) {
    store.store_run(plan.runs.at(index), summary, started, ended, host);
    report([&](Progress& p) {
      --p.running;
      ++p.done;
      if (summary.status == RunStatus::diverged) ++p.diverged;
      if (summary.status == RunStatus::failed) ++p.failed;
    });
  };
  auto back_to_pending = [&](std::size_t index) {
    store.mark_pending(plan.runs.at(index).key);
    report([](Progress& p) { --p.running; });
  };
  try {
    report([](Progress&) {});
  } catch (...) {
    fail(std::current_exception());
  }

  Runners runners(options.threads, [&] { raise_event(mutex, event, wake); });
  runners.start(
      plan, registry, data, stop_runs,
      [&]() -> std::optional<std::size_t> {
        auto index = take();
        if (!index) return std::nullopt;
        report([](Progress& p) { ++p.running; });
        store.mark_running(plan.runs[*index].key);
        return index;
      },
      [&](std::size_t index, RunOutcome&& outcome) {
        if (outcome.cancelled)
          back_to_pending(index);
        else
          finished_run(index, outcome.summary, outcome.started_at, outcome.finished_at, {});
      },
      fail);

  Outbox outbox;
  std::vector<bool> gone(static_cast<std::size_t>(size), false);
  int byes = 0;
  bool stop_sent = false;
  auto stop_all = [&] {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    stop_runs = true;
    if (stop_sent) return;
    stop_sent = true;
    for (int w = 1; w < size; ++w)
      if (!gone[w]) outbox.send(w, tag_stop, {});
  };
  Backoff backoff;
  for (;;) {
    bool active = false;
    if (options.cancel && options.cancel->load() && !interrupted) {
      interrupted = true;
      stop_all();
    }
    {
      std::unique_lock lock(mutex);
      const bool failed = error != nullptr;
      lock.unlock();
      if (failed && !stop_sent) stop_all();
    }
    while (auto message = poll(MPI_ANY_SOURCE)) {
      active = true;
      const int from = message->source;
      try {
        Reader in(message->bytes);
        switch (message->tag) {
          case tag_request: {
            const auto host = in.get_string();
            auto index = take();
            if (index) {
              report([](Progress& p) { ++p.running; });
              store.mark_running(plan.runs[*index].key, host);
            }
            outbox.send(from, tag_assign, Writer().put(index ? static_cast<std::int64_t>(*index) : -1).bytes);
            break;
          }
          case tag_result: {
            const auto index = static_cast<std::size_t>(in.get<std::int64_t>());
            const auto started = in.get<double>(), ended = in.get<double>();
            const auto host = in.get_string();
            finished_run(index, decode_summary(in.rest()), started, ended, host);
            break;
          }
          case tag_pending: back_to_pending(static_cast<std::size_t>(in.get<std::int64_t>())); break;
          case tag_interrupted:
            interrupted = true;
            stop_all();
            break;
          case tag_error:
            fail(std::make_exception_ptr(std::runtime_error("rank " + std::to_string(from) + ": " + in.get_string())));
            stop_all();
            break;
          case tag_bye:
            if (!gone[from]) ++byes;
            gone[from] = true;
            break;
          default:
            throw std::runtime_error("unexpected message " + std::to_string(message->tag) + " from rank " +
                                     std::to_string(from));
        }
      } catch (...) {
        fail(std::current_exception());
        // A request must still be answered, or its thread waits for ever.
        if (message->tag == tag_request) outbox.send(from, tag_assign, Writer().put(std::int64_t{-1}).bytes);
      }
    }
    outbox.progress();
    if (byes == size - 1 && runners.finished()) break;
    if (active) {
      backoff.reset();
      continue;
    }
    std::unique_lock lock(mutex);
    wake.wait_for(lock, backoff.next(), [&] { return event; });
    event = false;
  }

  DistributedOutcome outcome;
  {
    std::lock_guard lock(mutex);
    outcome.progress = progress;
    outcome.failed = error != nullptr;
  }
  outcome.interrupted = interrupted;
  const auto fin = progress_bytes(outcome.progress, outcome.interrupted, outcome.failed);
  for (int w = 1; w < size; ++w) outbox.send(w, tag_finish, fin);
  outbox.flush();
  if (error) std::rethrow_exception(error);
  return outcome;
}

// Any other rank: runs what rank 0 hands out, sends the results back.
DistributedOutcome work(const StudyPlan& plan, const Registry& registry, const DatasetCache& data,
                        const ScheduleOptions& options) {
  const std::string host = host_name();
  std::mutex mutex;  // guards the queues and event
  std::condition_variable answered, wake;
  std::deque<std::int64_t> answers;  // replies to this rank's requests, in order
  std::deque<std::pair<int, Bytes>> to_send;
  bool event = false;
  std::atomic<bool> stop_runs{false};

  auto queue = [&](int tag, Bytes bytes) {
    {
      std::lock_guard lock(mutex);
      to_send.emplace_back(tag, std::move(bytes));
      event = true;
    }
    wake.notify_all();
  };

  Runners runners(options.threads, [&] { raise_event(mutex, event, wake); });
  runners.start(
      plan, registry, data, stop_runs,
      [&]() -> std::optional<std::size_t> {
        if (stop_runs) return std::nullopt;
        queue(tag_request, Writer().put_string(host).bytes);
        std::unique_lock lock(mutex);
        answered.wait(lock, [&] { return !answers.empty(); });
        const auto index = answers.front();
        answers.pop_front();
        if (index < 0) return std::nullopt;
        if (static_cast<std::size_t>(index) >= plan.runs.size())
          throw std::runtime_error("rank 0 handed out run " + std::to_string(index) + " of " +
                                   std::to_string(plan.runs.size()));
        return static_cast<std::size_t>(index);
      },
      [&](std::size_t index, RunOutcome&& outcome) {
        if (outcome.cancelled) {
          queue(tag_pending, Writer().put(static_cast<std::int64_t>(index)).bytes);
          return;
        }
        Bytes summary;
        try {
          summary = encode_summary(outcome.summary);
        } catch (...) {
          queue(tag_pending, Writer().put(static_cast<std::int64_t>(index)).bytes);
          throw;
        }
        Writer w;
        w.put(static_cast<std::int64_t>(index)).put(outcome.started_at).put(outcome.finished_at).put_string(host);
        w.append(summary.data(), summary.size());
        queue(tag_result, std::move(w.bytes));
      },
      [&](std::exception_ptr e) { queue(tag_error, Writer().put_string(what_of(e)).bytes); });

  Outbox outbox;
  bool reported = false, bye_sent = false, interrupted = false;
  std::optional<DistributedOutcome> outcome;
  Backoff backoff;
  while (!outcome) {
    bool active = false;
    if (options.cancel && options.cancel->load() && !reported) {
      reported = interrupted = true;
      stop_runs = true;
      outbox.send(0, tag_interrupted, {});
    }
    const bool all_done = runners.finished();  // before draining: a thread queues, then exits
    std::deque<std::pair<int, Bytes>> sends;
    {
      std::lock_guard lock(mutex);
      sends.swap(to_send);
      event = false;
    }
    for (auto& [tag, bytes] : sends) outbox.send(0, tag, std::move(bytes));
    active = !sends.empty();
    if (all_done && !bye_sent) {
      outbox.send(0, tag_bye, {});
      bye_sent = true;
    }
    while (auto message = poll(0)) {
      active = true;
      switch (message->tag) {
        case tag_assign: {
          {
            std::lock_guard lock(mutex);
            answers.push_back(Reader(message->bytes).get<std::int64_t>());
          }
          answered.notify_all();
          break;
        }
        case tag_stop:
          stop_runs = true;
          interrupted = true;
          break;
        case tag_finish: outcome = outcome_of(message->bytes); break;
        default: fatal("unexpected message " + std::to_string(message->tag) + " from rank 0");
      }
    }
    outbox.progress();
    if (active) {
      backoff.reset();
      continue;
    }
    std::unique_lock lock(mutex);
    wake.wait_for(lock, backoff.next(), [&] { return event; });
  }
  outbox.flush();
  outcome->interrupted = outcome->interrupted || interrupted;
  return *outcome;
}

}  // namespace

MpiSession::MpiSession() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    throw std::runtime_error("the MPI library does not support MPI_THREAD_FUNNELED");
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::all_succeed(const std::function<void()>& step, const std::function<int(std::exception_ptr)>& report) {
  std::exception_ptr error;
  try {
    step();
  } catch (...) {
    error = std::current_exception();
  }
  int mine = error ? rank_ : size_, first = size_;
  MPI_Request request;
  MPI_Iallreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &request);
  wait_polling(request);
  if (first == size_) return;
  // The reporting rank writes its line before it joins the broadcast, so no
  // rank exits before the line is out: mpirun kills the job as soon as one
  // process exits non-zero, and would otherwise cut the reporter off.
  int code = first == rank_ ? report(error) : 0;
  MPI_Ibcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD, &request);
  wait_polling(request);
  throw QuietExit{code};
}

std::string MpiSession::broadcast(const std::string& text) {
  std::uint64_t n = text.size();
  MPI_Request request;
  MPI_Ibcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD, &request);
  wait_polling(request);
  std::string out = rank_ == 0 ? text : std::string(n, '\0');
  MPI_Ibcast(out.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD, &request);
  wait_polling(request);
  return out;
}

DistributedOutcome MpiSession::run_study(const StudyPlan& plan, const Registry& registry, const DatasetCache& data,
                                         ResultStore* store, const ScheduleOptions& options) {
  if (rank_ == 0) {
    if (!store) throw std::logic_error("rank 0 runs a distributed study without its store");
    return coordinate(size_, plan, registry, data, *store, options);
  }
  return work(plan, registry, data, options);
}

}  // namespace gradlab::study
