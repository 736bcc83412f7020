// random_search: random weight guessing (Hochreiter & Schmidhuber 1996,
// "Bridging long time lags by weight guessing and Long Short-Term Memory";
// Schmidhuber, Hochreiter & Bengio 2001, "Evaluating benchmark problems by
// random guessing"):
//
//   REPEAT draw every weight of the net from U[-range, range]
//   UNTIL the net solves every training sequence
//
// "Solves" is the data set's own success criterion (Dataset::success, e.g.
// "absolute error at the sequence end below 0.1"), judged by
// Model::evaluate on the training split. The search stops at the first trial
// whose success rate is 1, or after max_trials; the model is left holding the
// best trial's weights (highest training success rate, ties broken by the lower
// training loss, then by the earlier trial). The run summary's "pretraining"
// object gets `trials` (the trials used: the solving trial's number, else every
// trial run), `solved` (1 or 0), `best_success_rate` and `best_loss`.
//
// Determinism: trial k's weights are the k-th block of draws from one stream
// (ctx.stream(0)), drawn in trial order by one thread with a portable mapping
// of the engine's raw output, so the trials do not depend on the thread count.
// With threads > 1 the trials are evaluated in blocks on model clones, one per
// thread; the block is then scanned in trial order, so the first solving trial
// and the best trial are the ones a single thread finds.
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <gradlab/sdk.hpp>
#include <limits>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace {

using namespace gradlab;

struct Outcome {
  double success = 0.0;
  double loss = std::numeric_limits<double>::infinity();
};

// Higher success rate first, then lower loss; NaN counts as the worst loss.
bool better(const Outcome& a, const Outcome& b) {
  if (a.success != b.success) return a.success > b.success;
  const double la = std::isnan(a.loss) ? std::numeric_limits<double>::infinity() : a.loss;
  const double lb = std::isnan(b.loss) ? std::numeric_limits<double>::infinity() : b.loss;
  return la < lb;
}

std::string fmt(double v) {
  std::ostringstream s;
  s.precision(4);
  s << v;
  return s.str();
}

class RandomSearch final : public PretrainStrategy {
 public:
  explicit RandomSearch(const Params& p)
      : range_(p.real("range")), max_trials_(p.integer("max_trials")), log_every_(p.integer("log_every")) {}

  void check(const Model&, const Dataset& data) const override {
    if (!data.success)
      throw std::invalid_argument(
          "random_search needs a data set with a success criterion (what counts as a solved training sequence: "
          "latch, parity, two_sequence, adding, ...); '" +
          data.name + "' has none");
    if (data.train.examples < 1) throw std::invalid_argument("random_search needs at least one training example");
  }

  void pretrain(PretrainContext& ctx) override {
    check(ctx.model, ctx.data);
    VectorMap params = ctx.model.parameters();
    const Index count = params.size();
    if (count == 0) throw std::invalid_argument("random_search: the model has no parameters to guess");
    const int threads = std::max(1, ctx.threads);
    const Index block = threads == 1 ? 1 : Index(threads) * 8;

    // One model per worker: the context's own model for one thread, clones otherwise.
    std::vector<std::unique_ptr<Model>> clones;
    std::vector<Model*> workers;
    if (threads == 1) {
      workers.push_back(&ctx.model);
    } else {
      for (int i = 0; i < threads; ++i) clones.push_back(ctx.model.clone());
      for (auto& c : clones) workers.push_back(c.get());
    }

    Rng rng = ctx.stream(0);
    Matrix trial_weights(count, block);  // column j: the weights of trial first + j
    std::vector<Outcome> outcomes(static_cast<std::size_t>(block));
    Vector best_weights = params;
    Outcome best;
    std::int64_t best_trial = 0, used = 0, next_log = log_every_;
    bool solved = false;
    tbb::task_arena arena(threads);

    for (std::int64_t first = 1; first <= max_trials_ && !solved; first += block) {
      if (ctx.stop()) break;
      const Index n = Index(std::min<std::int64_t>(block, max_trials_ - first + 1));
      for (Index j = 0; j < n; ++j)
        for (Index k = 0; k < count; ++k) trial_weights(k, j) = draw(rng);
      auto evaluate = [&](Model& model, Index j) {
        model.parameters() = trial_weights.col(j);
        const ModelScore s = model.evaluate(ctx.data.train, &ctx.data.success);
        outcomes[static_cast<std::size_t>(j)] = {s.success_rate.value_or(0.0), s.loss};
      };
      if (threads == 1) {
        evaluate(*workers[0], 0);
      } else {
        // Worker w takes trials w, w + threads, ...: a clone is used by one thread at a time.
        arena.execute([&] {
          tbb::parallel_for(0, threads, [&](int w) {
            for (Index j = w; j < n; j += threads) evaluate(*workers[static_cast<std::size_t>(w)], j);
          });
        });
      }
      for (Index j = 0; j < n; ++j) {
        const Outcome& o = outcomes[static_cast<std::size_t>(j)];
        used = first + j;
        if (best_trial == 0 || better(o, best)) {
          best = o;
          best_trial = used;
          best_weights = trial_weights.col(j);
        }
        if (o.success >= 1.0) {
          solved = true;
          break;
        }
      }
      if (log_every_ > 0 && used >= next_log && !solved) {
        ctx.say("random_search: trial " + std::to_string(used) + ", best training success rate " + fmt(best.success) +
                " (trial " + std::to_string(best_trial) + ", loss " + fmt(best.loss) + ")");
        next_log = (used / log_every_ + 1) * log_every_;
      }
    }

    params = best_weights;
    if (solved)
      ctx.say("random_search: solved every training sequence at trial " + std::to_string(used) + " (range " +
              fmt(range_) + ")");
    else
      ctx.say("random_search: not solved in " + std::to_string(used) + " trials; best training success rate " +
              fmt(best.success) + " (trial " + std::to_string(best_trial) + ")");
    ctx.note("trials", double(used));
    ctx.note("solved", solved ? 1.0 : 0.0);
    ctx.note("best_success_rate", best.success);
    ctx.note("best_loss", best.loss);
  }

 private:
  // U[-range, range] from the engine's raw 64 bits (53 of them), the same on
  // every standard library (std::uniform_real_distribution is not).
  Scalar draw(Rng& rng) const {
    const double u = double(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    return static_cast<Scalar>(range_ * (2.0 * u - 1.0));
  }

  double range_;
  std::int64_t max_trials_, log_every_;
};

void register_random_search(Registrar& r) {
  ComponentInfo info;
  info.name = "random_search";
  info.description =
      "random weight guessing: draw all weights from U[-range, range] until every training sequence is solved "
      "(Hochreiter & Schmidhuber 1996; Schmidhuber, Hochreiter & Bengio 2001)";
  info.schema = {ParamSpec::real("range", 100.0)
                     .positive()
                     .at_most(1e6)
                     .describe("every weight is drawn from U[-range, range] (the 2001 report: 100)"),
                 ParamSpec::integer("max_trials", 100000)
                     .at_least(1)
                     .at_most(1e9)
                     .describe("give up after this many trials (the model keeps the best one)"),
                 ParamSpec::integer("log_every", 1000)
                     .at_least(0)
                     .at_most(1e9)
                     .describe("a progress line every this many trials (0: only the final line)")};
  r.add_pretrain(std::move(info), [](const Params& p) { return std::make_unique<RandomSearch>(p); });
}

}  // namespace

GRADLAB_PLUGIN("random_search", "1.0.0", "random weight guessing (Hochreiter & Schmidhuber 1996)",
               register_random_search)
