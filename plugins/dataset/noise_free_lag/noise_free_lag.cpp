// noise_free_lag: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural
// Computation 9(8):1735-1780, 1997, section 5.2 (experiment 2, task 2a: noise-
// free sequences with long time lags).
//
// p + 1 symbols a1, ..., a_{p-1}, a_p = x, a_{p+1} = y, locally coded (p + 1
// inputs and outputs). Only two sequences, each drawn with probability 0.5:
// (y, a1, ..., a_{p-1}, y) and (x, a1, ..., a_{p-1}, x). The net reads a
// sequence one symbol at a time and predicts the next symbol at every step
// (error signals at every step), so the inputs are the first p symbols and
// the target at step t is the local code of symbol t + 1. Predicting the final
// symbol needs the first one, stored for p steps. The criterion concerns that
// final prediction: solved when every output unit is within 0.25 of its target
// at the last step (see docs/benchmarks.md for what the paper leaves open).
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const Index P = p.integer("p");
  const Index symbols = P + 1, x = P - 1, y = P;  // a_i is unit i - 1
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("noise_free_lag", train, test, symbols, P, symbols * P, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder sb(n, symbols, P, symbols, Task::regression, TargetAt::every_step);
    for (Index e = 0; e < n; ++e) {
      const Index first = seq::coin(rng) ? y : x;
      // The sequence s_0 .. s_p: first, a1, ..., a_{p-1}, first.
      auto symbol = [&](Index t) { return t == 0 || t == P ? first : t - 1; };
      for (Index t = 0; t < P; ++t) {
        sb.one_hot(e, t, symbol(t));
        sb.target(e, symbol(t + 1), t) = Scalar(1);
      }
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      "noise_free_lag", Shape{symbols, P}, symbols, TargetAt::every_step,
      seq::final_abs_errors_below(
          0.25,
          "final prediction (the last symbol, x or y) with every output unit's absolute error below 0.25 "
          "(Hochreiter & Schmidhuber 1997, experiment 2a)"),
      std::move(train_split), std::move(test_split));
}

void register_noise_free_lag(Registrar& r) {
  r.add_dataset(
      {"noise_free_lag",
       "Noise-free long-time-lag sequences (Hochreiter & Schmidhuber 1997, Long Short-Term Memory, experiment 2a): "
       "(y, a1..a_{p-1}, y) and (x, a1..a_{p-1}, x), local coding, next-symbol targets at every step",
       seq::with(seq::common_schema(1000, 1000), {ParamSpec::integer("p", 100).at_least(1).at_most(10000).describe(
                                                     "the time lag: p + 1 symbols, sequences of p + 1 elements "
                                                     "(the paper: 4, 10, 100)")})},
      make);
}

}  // namespace

GRADLAB_PLUGIN("noise_free_lag", "1.0.0",
               "Noise-free long-time-lag sequences (Hochreiter & Schmidhuber 1997, Neural Computation 9(8), "
               "experiment 2a)",
               register_noise_free_lag)
