// latch: the latch problem (Bengio, Simard & Frasconi 1994) in the form used by
// Schmidhuber, Hochreiter & Bengio, "Evaluating benchmark problems by random
// guessing", in Kolen & Kremer (eds.), A Field Guide to Dynamical Recurrent
// Networks, IEEE Press, 2001 (latch variant II).
//
// One input. Sequences of class 1 start with 1.0, those of class 2 with -1.0;
// every later element is Gaussian noise with mean 0 and variance 0.2. The
// target at the sequence end is 1.0 (class 1) or -1.0 (class 2): the net must
// latch the first input's sign across the whole sequence. Lengths are random
// in [500, 600]; training and test sets hold 100 sequences, half of each class.
// A sequence is classified correctly when the absolute error at its end is
// below 0.1.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const auto range = seq::checked_length_range(p, "latch");
  const Index lo = range.first, hi = range.second;
  const double variance = p.real("noise_variance");
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("latch", train, test, 1, hi, 1, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder sb(n, 1, hi, 1, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) {
      const bool class1 = e % 2 == 0;  // half of each class
      const Index length = seq::uniform_int(rng, lo, hi);
      sb.set_length(e, length);
      sb.input(e, 0, 0) = Scalar(class1 ? 1 : -1);
      for (Index t = 1; t < length; ++t) sb.input(e, t, 0) = static_cast<Scalar>(seq::gaussian(rng, variance));
      sb.target(e, 0) = Scalar(class1 ? 1 : -1);
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      "latch", Shape{1, hi}, 1, TargetAt::sequence_end,
      seq::all_abs_errors_below(
          0.1, "absolute error at the sequence end below 0.1 (Schmidhuber, Hochreiter & Bengio 2001, random guessing)"),
      std::move(train_split), std::move(test_split));
}

void register_latch(Registrar& r) {
  r.add_dataset(
      {"latch",
       "Latch problem (Bengio et al. 1994), variant II of Schmidhuber, Hochreiter & Bengio 2001, Evaluating benchmark "
       "problems by random guessing: first input +-1, then Gaussian noise; target +-1 at the end of 500-600 steps",
       seq::with(seq::common_schema(100, 100),
                 seq::with(seq::length_range_schema(500, 600),
                           {ParamSpec::real("noise_variance", 0.2)
                                .at_least(0)
                                .at_most(100)
                                .describe("variance of the Gaussian noise on every element but the first")}))},
      make);
}

}  // namespace

GRADLAB_PLUGIN("latch", "1.0.0",
               "Latch problem (Bengio et al. 1994; Schmidhuber, Hochreiter & Bengio 2001, random guessing)",
               register_latch)
