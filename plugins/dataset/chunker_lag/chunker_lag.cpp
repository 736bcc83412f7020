// chunker_lag: the 20-step time-lag task of Schmidhuber, "Learning complex,
// extended sequences using the principle of history compression", Neural
// Computation 4(2):234-242, 1992.
//
// 22 symbols a, x, b1, ..., b20, locally coded. Each sequence is
// (a, b1, ..., b20) or (x, b1, ..., b20), equally likely; a target unit must
// tell at the end of the sequence which symbol came first, 20 steps earlier.
// Here: regression with one output, target 1.0 after a and 0.0 after x, due
// at the sequence end; solved when the output is on the target's side of 0.5
// (absolute error below 0.5): the paper reports the target unit's performance
// without a threshold, so this criterion is gradlab's choice.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const Index lag = p.integer("lag");
  const Index symbols = lag + 2, steps = lag + 1;  // a = 0, x = 1, b_i = i + 1
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("chunker_lag", train, test, symbols, steps, 1, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder sb(n, symbols, steps, 1, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) {
      const bool starts_with_a = seq::coin(rng);
      sb.one_hot(e, 0, starts_with_a ? 0 : 1);
      for (Index t = 1; t < steps; ++t) sb.one_hot(e, t, t + 1);
      sb.target(e, 0) = Scalar(starts_with_a ? 1 : 0);
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      "chunker_lag", Shape{symbols, steps}, 1, TargetAt::sequence_end,
      seq::all_abs_errors_below(
          0.5,
          "target unit on the correct side of 0.5 at the sequence end (gradlab's threshold for the task of "
          "Schmidhuber 1992, which reports no threshold)"),
      std::move(train_split), std::move(test_split));
}

void register_chunker_lag(Registrar& r) {
  r.add_dataset(
      {"chunker_lag",
       "20-step lag task of Schmidhuber 1992, Learning complex, extended sequences using the principle of history "
       "compression: (a, b1..b20) or (x, b1..b20), one-hot; which first symbol, at the end",
       seq::with(seq::common_schema(1000, 1000),
                 {ParamSpec::integer("lag", 20).at_least(1).at_most(100000).describe(
                     "number of b symbols after the first one (the paper: 20, so 22 symbols)")})},
      make);
}

}  // namespace

GRADLAB_PLUGIN("chunker_lag", "1.0.0",
               "20-step lag task of Schmidhuber 1992 (Neural Computation 4(2), history compression)",
               register_chunker_lag)
