// adding and multiplication: the marked-pairs tasks of Hochreiter & Schmidhuber,
// "Long Short-Term Memory", Neural Computation 9(8):1735-1780, 1997, section 5.4
// (experiment 4, the adding problem) and 5.5 (experiment 5, multiplication).
//
// Each step is a pair (value, marker). A sequence's length is a random integer
// in [T, T + T/10]. Exactly two pairs are marked (marker 1.0): one of the first
// ten pairs (its value is X1), then one of the first T/2 - 1 pairs still
// unmarked (X2). Every other marker is 0, except the first and the final pair's,
// which are -1 (unless the first pair is the marked one). The target, due at
// the sequence end, is 0.5 + (X1 + X2)/4 for adding (values in [-1, 1]; X1 = 0
// if the first pair is marked) and X1 * X2 for multiplication (values in
// [0, 1]; the value 1, the product's neutral element, if the first pair is
// marked).
// A sequence is processed correctly if the absolute error at its end is below
// 0.04. See docs/benchmarks.md for the choices the paper leaves open.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

enum class Op { add, multiply };

// One sequence into example e of the builder; returns its target.
double draw_sequence(seq::SplitBuilder& b, Index e, Index T, Op op, Rng& rng) {
  const Index length = seq::uniform_int(rng, T, T + T / 10);
  b.set_length(e, length);
  const double lo = op == Op::add ? -1.0 : 0.0;
  for (Index t = 0; t < length; ++t) b.input(e, t, 0) = static_cast<Scalar>(seq::uniform_real(rng, lo, 1.0));
  // First mark: one of the first ten pairs. Second: one of the first T/2 - 1
  // pairs not yet marked (the k-th unmarked pair, counting from 0).
  const Index first = seq::uniform_int(rng, 0, 9);
  Index k = seq::uniform_int(rng, 0, T / 2 - 2);
  const Index second = k < first ? k : k + 1;
  b.input(e, 0, 1) = Scalar(-1);
  b.input(e, length - 1, 1) = Scalar(-1);
  b.input(e, first, 1) = Scalar(1);
  b.input(e, second, 1) = Scalar(1);
  // The paper sets X1 to zero "in the rare case where the first pair of the
  // sequence got marked"; either mark can land there (the second with k = 0),
  // and either way that value is the neutral element of the operation.
  if (first == 0 || second == 0) b.input(e, 0, 0) = Scalar(op == Op::add ? 0.0 : 1.0);
  // The target from the stored (rounded) inputs, so it is exactly the formula
  // of what the network sees.
  const double x1 = b.input(e, first, 0), x2 = b.input(e, second, 0);
  return op == Op::add ? 0.5 + (x1 + x2) / 4.0 : x1 * x2;
}

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx, Op op) {
  const std::string name = op == Op::add ? "adding" : "multiplication";
  const Index T = p.integer("length");
  const Index train = p.integer("train"), test = p.integer("test");
  const Index steps = T + T / 10;
  seq::check_size(name, train, test, 2, steps, 1, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder b(n, 2, steps, 1, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) b.target(e, 0) = static_cast<Scalar>(draw_sequence(b, e, T, op, rng));
    return std::move(b).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      name, Shape{2, steps}, 1, TargetAt::sequence_end,
      seq::all_abs_errors_below(
          0.04, "absolute error at the sequence end below 0.04 (Hochreiter & Schmidhuber 1997, experiment " +
                    std::string(op == Op::add ? "4" : "5") + ")"),
      std::move(train_split), std::move(test_split));
}

Schema schema() {
  return seq::with(seq::common_schema(10000, 2560),
                   {ParamSpec::integer("length", 100)
                        .at_least(11)
                        .at_most(100000)
                        .describe("T: sequence lengths are uniform in [T, T + T/10]; the second mark lies in the "
                                  "first T/2 - 1 pairs (the paper: 100, 500, 1000; at least 11 so that the first "
                                  "mark, in the first ten pairs, is never the final pair)")});
}

void register_adding(Registrar& r) {
  r.add_dataset({"adding",
                 "Adding problem (Hochreiter & Schmidhuber 1997, Long Short-Term Memory, experiment 4): pairs "
                 "(value in [-1,1], marker); target 0.5 + (X1+X2)/4 at the end; solved when |error| < 0.04",
                 schema()},
                [](const Params& p, const DataContext& c) { return make(p, c, Op::add); });
  r.add_dataset({"multiplication",
                 "Multiplication problem (Hochreiter & Schmidhuber 1997, Long Short-Term Memory, experiment 5): "
                 "pairs (value in [0,1], marker); target X1*X2 at the end; solved when |error| < 0.04",
                 schema()},
                [](const Params& p, const DataContext& c) { return make(p, c, Op::multiply); });
}

}  // namespace

GRADLAB_PLUGIN("adding", "1.0.0",
               "Adding and multiplication problems (Hochreiter & Schmidhuber 1997, Neural Computation 9(8), "
               "experiments 4 and 5)",
               register_adding)
