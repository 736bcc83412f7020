// genetic: a genetic algorithm over the network's flat weight vector (Holland
// 1975; Goldberg 1989), as Montana & Davis (1989) used one to train a neural
// network's weights without gradients.
//
// Generation 0 is the model's initialized weights (candidate 0, unchanged) and
// population - 1 Gaussian perturbations of them. Each later generation keeps
// the `elitism` best candidates unchanged and breeds the rest: two parents by
// tournament selection, uniform or one-point crossover with probability
// crossover_rate (else a copy of the first parent), then Gaussian mutation of
// each weight with probability mutation_rate. Fitness is the mean loss on the
// training split (or on a fixed subset of fitness_examples drawn once), or,
// for a data set with a success criterion, its success rate with ties broken
// by the loss. At the end the best candidate of the last generation is written
// into the model.
//
// Determinism: candidate i of generation g draws all its random numbers from
// its own stream, ctx.stream(1 + g * population + i) (the fitness subset from
// ctx.stream(0)); every decision between candidates (ranking, elites) is made
// on the calling thread from the scores; and a candidate's score depends only
// on its weights, whichever evaluator (a clone of the model, one per arena
// slot) computes it. So the result is bit-identical for any ctx.threads.
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using namespace gradlab;

constexpr double infinity = std::numeric_limits<double>::infinity();

enum class Crossover { uniform, one_point };
enum class FitnessKind { automatic, loss, success };

struct Settings {
  Index population = 50;
  std::int64_t generations = 100;
  Index tournament = 3;
  Crossover crossover = Crossover::uniform;
  double crossover_rate = 0.9;
  double mutation_rate = 0.1;
  double mutation_scale = 0.1;
  Index elitism = 1;
  double init_scale = 0.1;
  Index fitness_examples = 0;
  FitnessKind fitness = FitnessKind::automatic;
};

// What one evaluation tells: the loss (+inf when not finite), the accuracy (for
// the log) and the success rate (ranked first in success mode).
struct Score {
  double loss = infinity;
  double accuracy = 0.0;
  double success = 0.0;
};

std::string fixed(double v, int digits = 4) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// The examples `pick` of `from`, as a Split of their own (the fitness subset).
Split subset(const Dataset& data, const Split& from, const std::vector<std::int64_t>& pick) {
  const Index steps = data.input.steps;
  const Index n = static_cast<Index>(pick.size());
  Split s;
  s.examples = n;
  s.inputs.resize(from.inputs.rows(), n * steps);
  for (Index k = 0; k < n; ++k) s.inputs.middleCols(k * steps, steps) = from.inputs.middleCols(pick[k] * steps, steps);
  if (!from.labels.empty()) {
    const std::size_t per = from.labels.size() / static_cast<std::size_t>(from.examples);  // 1 or steps
    s.labels.resize(static_cast<std::size_t>(n) * per);
    for (Index k = 0; k < n; ++k)
      std::copy_n(from.labels.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(pick[k]) * per), per,
                  s.labels.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(k) * per));
  }
  if (from.targets.size() > 0) {
    const Index per = from.targets.cols() / from.examples;  // 1 or steps
    s.targets.resize(from.targets.rows(), n * per);
    for (Index k = 0; k < n; ++k) s.targets.middleCols(k * per, per) = from.targets.middleCols(pick[k] * per, per);
  }
  if (!from.lengths.empty()) {
    s.lengths.resize(static_cast<std::size_t>(n));
    for (Index k = 0; k < n; ++k)
      s.lengths[static_cast<std::size_t>(k)] = from.lengths[static_cast<std::size_t>(pick[k])];
  }
  return s;
}

class Genetic final : public PretrainStrategy {
 public:
  explicit Genetic(const Params& p) {
    s_.population = static_cast<Index>(p.integer("population"));
    s_.generations = p.integer("generations");
    s_.tournament = static_cast<Index>(p.integer("tournament"));
    s_.crossover = p.string("crossover") == "one_point" ? Crossover::one_point : Crossover::uniform;
    s_.crossover_rate = p.real("crossover_rate");
    s_.mutation_rate = p.real("mutation_rate");
    s_.mutation_scale = p.real("mutation_scale");
    s_.elitism = static_cast<Index>(p.integer("elitism"));
    s_.init_scale = p.real("init_scale");
    s_.fitness_examples = static_cast<Index>(p.integer("fitness_examples"));
    const auto& f = p.string("fitness");
    s_.fitness = f == "loss" ? FitnessKind::loss : f == "success" ? FitnessKind::success : FitnessKind::automatic;
    if (s_.elitism >= s_.population)
      throw std::invalid_argument("elitism " + std::to_string(s_.elitism) + " leaves no offspring in a population of " +
                                  std::to_string(s_.population) + " (it must be below population)");
    if (s_.tournament > s_.population)
      throw std::invalid_argument("tournament " + std::to_string(s_.tournament) + " exceeds population " +
                                  std::to_string(s_.population));
  }

  void check(const Model&, const Dataset& data) const override {
    if (s_.fitness == FitnessKind::success && !data.success)
      throw std::invalid_argument("fitness: success needs a data set with a success criterion, and '" + data.name +
                                  "' has none (use fitness: loss or auto)");
    if (data.train.examples < 1) throw std::invalid_argument("the training split of '" + data.name + "' is empty");
    if (s_.fitness_examples > data.train.examples)
      throw std::invalid_argument("fitness_examples " + std::to_string(s_.fitness_examples) + " exceeds the " +
                                  std::to_string(data.train.examples) + " training examples of '" + data.name +
                                  "' (0 = all of them)");
  }

  void pretrain(PretrainContext& ctx) override {
    Model& model = ctx.model;
    const Dataset& data = ctx.data;
    const Index n = model.parameters().size();
    if (n == 0) {
      ctx.say("genetic: the model has no parameters; nothing to evolve");
      return;
    }
    by_success_ = s_.fitness == FitnessKind::success || (s_.fitness == FitnessKind::automatic && data.success);
    const SuccessCriterion* criterion = data.success ? &data.success : nullptr;
    const Index P = s_.population;

    // The fitness split: all training examples, or a subset drawn once.
    Split chosen;
    const Split* fitness_split = &data.train;
    if (s_.fitness_examples > 0 && s_.fitness_examples < data.train.examples) {
      Rng rng = ctx.stream(0);
      std::vector<std::int64_t> all(static_cast<std::size_t>(data.train.examples));
      std::iota(all.begin(), all.end(), 0);
      for (Index k = 0; k < s_.fitness_examples; ++k)  // partial Fisher-Yates
        std::swap(all[static_cast<std::size_t>(k)],
                  all[static_cast<std::size_t>(seq::uniform_int(rng, k, data.train.examples - 1))]);
      all.resize(static_cast<std::size_t>(s_.fitness_examples));
      std::sort(all.begin(), all.end());
      chosen = subset(data, data.train, all);
      fitness_split = &chosen;
    }

    // One evaluator (an independent clone of the model) per arena slot.
    const int slots = static_cast<int>(std::clamp<Index>(ctx.threads, 1, P));
    std::vector<std::unique_ptr<Model>> evaluators;
    for (int k = 0; k < slots; ++k) evaluators.push_back(model.clone());
    tbb::task_arena arena(slots);
    auto for_each = [&](Index begin, Index end, const auto& body) {
      arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<Index>(begin, end, 1),
            [&](const tbb::blocked_range<Index>& r) {
              for (Index i = r.begin(); i != r.end(); ++i) body(i);
            },
            tbb::simple_partitioner());
      });
    };

    Matrix pop(n, P), next(n, P);
    std::vector<Score> score(static_cast<std::size_t>(P)), next_score(score);
    auto evaluate = [&](const Matrix& weights, Index i, std::vector<Score>& out) {
      const int slot = tbb::this_task_arena::current_thread_index();
      if (slot < 0 || slot >= slots)
        throw std::logic_error("genetic: arena slot " + std::to_string(slot) + " out of range");
      Model& m = *evaluators[static_cast<std::size_t>(slot)];
      m.parameters() = weights.col(i);
      const ModelScore r = m.evaluate(*fitness_split, criterion);
      Score& sc = out[static_cast<std::size_t>(i)];
      sc.loss = std::isfinite(r.loss) ? r.loss : infinity;
      sc.accuracy = r.accuracy;
      sc.success = r.success_rate.value_or(0.0);
      if (!std::isfinite(sc.success)) sc.success = 0.0;
    };

    // Generation 0: the initialized weights and perturbations of them.
    const Vector start = model.parameters();
    const double init_sd = s_.init_scale;
    for_each(0, P, [&](Index i) {
      auto w = pop.col(i);
      w = start;
      if (i > 0 && init_sd > 0) {
        Rng rng = ctx.stream(stream_of(0, i));
        for (Index j = 0; j < n; ++j) w[j] += static_cast<Scalar>(init_sd * seq::gaussian(rng, 1.0));
      }
      evaluate(pop, i, score);
    });
    report(ctx, 0, score);

    std::vector<Index> rank_of(static_cast<std::size_t>(P));
    for (std::int64_t g = 1; g <= s_.generations; ++g) {
      if (ctx.stop()) {
        ctx.say("genetic: stopped after generation " + std::to_string(g - 1));
        break;
      }
      const std::vector<Index> ranked = ranking(score);
      for (Index r = 0; r < P; ++r) rank_of[static_cast<std::size_t>(ranked[static_cast<std::size_t>(r)])] = r;
      for (Index k = 0; k < s_.elitism; ++k) {
        const Index e = ranked[static_cast<std::size_t>(k)];
        next.col(k) = pop.col(e);
        next_score[static_cast<std::size_t>(k)] = score[static_cast<std::size_t>(e)];
      }
      for_each(s_.elitism, P, [&](Index i) {
        Rng rng = ctx.stream(stream_of(g, i));
        breed(rng, pop, rank_of, next.col(i));
        evaluate(next, i, next_score);
      });
      pop.swap(next);
      score.swap(next_score);
      report(ctx, g, score);
    }

    model.parameters() = pop.col(ranking(score).front());
  }

 private:
  std::uint64_t stream_of(std::int64_t generation, Index candidate) const {
    return 1 + static_cast<std::uint64_t>(generation) * static_cast<std::uint64_t>(s_.population) +
           static_cast<std::uint64_t>(candidate);
  }

  // Strict total order: better fitness first, then the lower index.
  bool better(const Score& a, Index ia, const Score& b, Index ib) const {
    if (by_success_ && a.success != b.success) return a.success > b.success;
    if (a.loss != b.loss) return a.loss < b.loss;
    return ia < ib;
  }

  std::vector<Index> ranking(const std::vector<Score>& score) const {
    std::vector<Index> order(score.size());
    std::iota(order.begin(), order.end(), Index(0));
    std::sort(order.begin(), order.end(), [&](Index a, Index b) {
      return better(score[static_cast<std::size_t>(a)], a, score[static_cast<std::size_t>(b)], b);
    });
    return order;
  }

  // The fitness the summary records: the loss, or the success rate.
  double fitness(const Score& s) const { return by_success_ ? s.success : s.loss; }

  Index tournament(Rng& rng, const std::vector<Index>& rank_of) const {
    Index best = seq::uniform_int(rng, 0, s_.population - 1);
    for (Index k = 1; k < s_.tournament; ++k) {
      const Index c = seq::uniform_int(rng, 0, s_.population - 1);
      if (rank_of[static_cast<std::size_t>(c)] < rank_of[static_cast<std::size_t>(best)]) best = c;
    }
    return best;
  }

  template <class Child>
  void breed(Rng& rng, const Matrix& pop, const std::vector<Index>& rank_of, Child child) const {
    const Index n = pop.rows();
    const Index a = tournament(rng, rank_of);
    const Index b = tournament(rng, rank_of);
    if (seq::uniform01(rng) < s_.crossover_rate) {
      if (s_.crossover == Crossover::uniform) {
        for (Index j0 = 0; j0 < n; j0 += 64) {
          std::uint64_t bits = rng();
          for (Index j = j0; j < std::min(n, j0 + 64); ++j, bits >>= 1) child[j] = (bits & 1) ? pop(j, b) : pop(j, a);
        }
      } else {
        const Index cut = seq::uniform_int(rng, 0, n);  // the first `cut` weights from parent a
        child.head(cut) = pop.col(a).head(cut);
        child.tail(n - cut) = pop.col(b).tail(n - cut);
      }
    } else {
      child = pop.col(a);
    }
    mutate(rng, child);
  }

  // Adds N(0, mutation_scale^2) to each weight with probability mutation_rate,
  // visiting only the mutated weights (geometric gaps between them).
  template <class Child>
  void mutate(Rng& rng, Child& child) const {
    const double rate = s_.mutation_rate, sd = s_.mutation_scale;
    const Index n = child.size();
    if (rate <= 0) return;
    if (rate >= 1) {
      for (Index j = 0; j < n; ++j) child[j] += static_cast<Scalar>(sd * seq::gaussian(rng, 1.0));
      return;
    }
    const double log_keep = std::log1p(-rate);
    Index j = -1;
    for (;;) {
      const double u = 1.0 - seq::uniform01(rng);  // (0, 1]
      const double gap = std::floor(std::log(u) / log_keep);
      if (!(gap < static_cast<double>(n - 1 - j))) break;
      j += 1 + static_cast<Index>(gap);
      child[j] += static_cast<Scalar>(sd * seq::gaussian(rng, 1.0));
    }
  }

  void report(const PretrainContext& ctx, std::int64_t g, const std::vector<Score>& score) const {
    const Index best = ranking(score).front();
    const Score& b = score[static_cast<std::size_t>(best)];
    double sum = 0;
    Index finite = 0;
    for (const auto& s : score)
      if (std::isfinite(fitness(s))) sum += fitness(s), ++finite;
    const double mean = finite ? sum / static_cast<double>(finite) : infinity;
    ctx.note("best_fitness", fitness(b));
    ctx.note("mean_fitness", mean);
    std::string line = "genetic: generation " + std::to_string(g) + "/" + std::to_string(s_.generations) + ": best ";
    if (by_success_)
      line += "success " + fixed(b.success) + " (loss " + fixed(b.loss) + "), mean success " + fixed(mean);
    else
      line += "loss " + fixed(b.loss) + " (accuracy " + fixed(b.accuracy) + "), mean loss " + fixed(mean);
    ctx.say(line);
  }

  Settings s_;
  bool by_success_ = false;
};

void register_components(Registrar& r) {
  r.add_pretrain(
      {"genetic",
       "Genetic algorithm over the flat weight vector: tournament selection, uniform or one-point crossover, "
       "Gaussian mutation, elitism (Holland 1975; Goldberg 1989; weights of a network: Montana & Davis 1989), "
       "population evaluated in parallel, same result for any thread count",
       {ParamSpec::integer("population", 50).at_least(2).describe("candidates per generation"),
        ParamSpec::integer("generations", 100).at_least(0).describe("generations bred after the initial population"),
        ParamSpec::integer("tournament", 3)
            .at_least(1)
            .describe(
                "tournament size: each parent is the best of this many candidates drawn uniformly (with replacement)"),
        ParamSpec::choice("crossover", "uniform", {"uniform", "one_point"})
            .describe("uniform: each weight from either parent; one_point: a prefix from one, the rest from the other"),
        ParamSpec::real("crossover_rate", 0.9)
            .at_least(0)
            .at_most(1)
            .describe("probability that a child is a crossover of two parents (else a copy of the first)"),
        ParamSpec::real("mutation_rate", 0.1)
            .at_least(0)
            .at_most(1)
            .describe("probability that each weight of a child is mutated"),
        ParamSpec::real("mutation_scale", 0.1)
            .positive()
            .describe("standard deviation of the Gaussian added to a mutated weight"),
        ParamSpec::integer("elitism", 1)
            .at_least(0)
            .describe("best candidates copied unchanged into the next generation (below population)"),
        ParamSpec::real("init_scale", 0.1)
            .at_least(0)
            .describe("standard deviation of the Gaussian perturbations of the initialized weights in generation 0 "
                      "(candidate 0 keeps them as they are)"),
        ParamSpec::integer("fitness_examples", 0)
            .at_least(0)
            .describe("evaluate fitness on this many training examples, drawn once; 0 = the whole training split"),
        ParamSpec::choice("fitness", "auto", {"auto", "loss", "success"})
            .describe("auto: the success rate (ties by loss) when the data set has a success criterion, else the "
                      "mean training loss")}},
      [](const Params& p) { return std::make_unique<Genetic>(p); });
}

}  // namespace

GRADLAB_PLUGIN("genetic", "1.0.0", "Genetic algorithm pretraining (Holland 1975; Montana & Davis 1989)",
               register_components)
