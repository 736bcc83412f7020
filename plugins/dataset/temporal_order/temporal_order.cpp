// temporal_order: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural
// Computation 9(8):1735-1780, 1997, section 5.6 (experiment 6).
//
// Symbols E, B, a, b, c, d, X, Y, locally coded (8 inputs). A sequence starts
// with E, ends with B (the trigger symbol) and otherwise holds random symbols
// from {a, b, c, d}, except at two (6a, classes: 4) or three (6b, classes: 8)
// positions that hold X or Y. Its length is random in [100, 110]; 6a: t1 in
// [10, 20], t2 in [50, 60]; 6b: t1 in [10, 20], t2 in [33, 43], t3 in [66, 76]
// (positions counted from 1, E being position 1). The class is the temporal
// order of the X/Y symbols (6a: XX Q, XY R, YX S, YY U; 6b: XXX Q, XXY R, XYX
// S, XYY U, YXX V, YXY A, YYX B, YYY C), a locally coded target at the
// sequence end. A sequence is classified correctly if the final absolute error
// of all output units is below 0.3.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

// Input unit of each symbol.
enum Symbol : Index { E = 0, B = 1, a = 2, b = 3, c = 4, d = 5, X = 6, Y = 7 };
constexpr Index symbols = 8;
constexpr Index min_length = 100, max_length = 110;

struct Range {
  Index first, last;  // 1-based positions, inclusive
};

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const Index classes = p.integer("classes");
  if (classes != 4 && classes != 8)
    throw std::invalid_argument("'classes' of dataset 'temporal_order' must be 4 (experiment 6a) or 8 (6b), got " +
                                std::to_string(classes));
  const std::vector<Range> relevant =
      classes == 4 ? std::vector<Range>{{10, 20}, {50, 60}} : std::vector<Range>{{10, 20}, {33, 43}, {66, 76}};
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("temporal_order", train, test, symbols, max_length, classes, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder sb(n, symbols, max_length, classes, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) {
      const Index length = seq::uniform_int(rng, min_length, max_length);
      sb.set_length(e, length);
      std::vector<Index> seqn(static_cast<std::size_t>(length));
      seqn.front() = E;
      seqn.back() = B;
      for (Index t = 1; t + 1 < length; ++t) seqn[static_cast<std::size_t>(t)] = a + seq::uniform_int(rng, 0, 3);
      Index cls = 0;
      for (const auto& r : relevant) {
        const Index pos = seq::uniform_int(rng, r.first, r.last);
        const bool y = seq::coin(rng);
        seqn[static_cast<std::size_t>(pos - 1)] = y ? Y : X;
        cls = 2 * cls + (y ? 1 : 0);
      }
      for (Index t = 0; t < length; ++t) sb.one_hot(e, t, seqn[static_cast<std::size_t>(t)]);
      sb.target(e, cls) = Scalar(1);
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      "temporal_order", Shape{symbols, max_length}, classes, TargetAt::sequence_end,
      seq::all_abs_errors_below(
          0.3, "final absolute error of every output unit below 0.3 (Hochreiter & Schmidhuber 1997, experiment 6" +
                   std::string(classes == 4 ? "a" : "b") + ")"),
      std::move(train_split), std::move(test_split));
}

void register_temporal_order(Registrar& r) {
  r.add_dataset(
      {"temporal_order",
       "Temporal order problem (Hochreiter & Schmidhuber 1997, Long Short-Term Memory, experiments 6a/6b): classify "
       "E...B sequences of 100-110 symbols by the order of 2 (or 3) widely separated X/Y; one-hot targets, solved "
       "when every output's |error| < 0.3",
       seq::with(seq::common_schema(10000, 2560),
                 {ParamSpec::integer("classes", 4)
                      .at_least(4)
                      .at_most(8)
                      .describe("4: two relevant symbols (experiment 6a); 8: three (6b); nothing else")})},
      make);
}

}  // namespace

GRADLAB_PLUGIN("temporal_order", "1.0.0",
               "Temporal order problem (Hochreiter & Schmidhuber 1997, Neural Computation 9(8), experiment 6)",
               register_temporal_order)
