// parity: the parity problem (Bengio, Simard & Frasconi 1994) in the form used
// by Schmidhuber, Hochreiter & Bengio, "Evaluating benchmark problems by random
// guessing", in Kolen & Kremer (eds.), A Field Guide to Dynamical Recurrent
// Networks, IEEE Press, 2001.
//
// One input; each element is 1.0 or -1.0. The target at the sequence end is
// 1.0 if the number of 1's is odd and 0.0 if it is even. Bengio et al. (1994)
// also add uniform noise in [-0.2, 0.2] to the elements (`noise: true`; the
// parity is that of the noise-free bits). Lengths are random in [500, 600];
// training and test sets hold 100 sequences, half of each class. A sequence is
// classified correctly when the absolute error at its end is below 0.1.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const auto range = seq::checked_length_range(p, "parity");
  const Index lo = range.first, hi = range.second;
  const bool noise = p.boolean("noise");
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("parity", train, test, 1, hi, 1, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng) {
    seq::SplitBuilder sb(n, 1, hi, 1, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) {
      const bool odd = e % 2 == 1;  // half of each class
      const Index length = seq::uniform_int(rng, lo, hi);
      sb.set_length(e, length);
      // Uniform over the bit strings of this length and parity: random bits,
      // the last one chosen to give the class's parity.
      bool parity = false;
      for (Index t = 0; t < length; ++t) {
        const bool one = t + 1 < length ? seq::coin(rng) : parity != odd;
        parity = parity != one;
        double v = one ? 1.0 : -1.0;
        if (noise) v += seq::uniform_real(rng, -0.2, 0.2);
        sb.input(e, t, 0) = static_cast<Scalar>(v);
      }
      sb.target(e, 0) = Scalar(odd ? 1 : 0);
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train);
  Split test_split = split(test, streams.test);
  return seq::regression_dataset(
      "parity", Shape{1, hi}, 1, TargetAt::sequence_end,
      seq::all_abs_errors_below(
          0.1, "absolute error at the sequence end below 0.1 (Schmidhuber, Hochreiter & Bengio 2001, random guessing)"),
      std::move(train_split), std::move(test_split));
}

void register_parity(Registrar& r) {
  r.add_dataset(
      {"parity",
       "Parity problem (Bengio et al. 1994) as in Schmidhuber, Hochreiter & Bengio 2001, Evaluating benchmark problems "
       "by random guessing: +-1 sequences of 500-600 steps, target 1 for an odd number of 1's, else 0",
       seq::with(seq::common_schema(100, 100),
                 seq::with(seq::length_range_schema(500, 600),
                           {ParamSpec::boolean("noise", false)
                                .describe("add uniform noise in [-0.2, 0.2] to every element (Bengio et al. 1994)")}))},
      make);
}

}  // namespace

GRADLAB_PLUGIN("parity", "1.0.0",
               "Parity problem (Bengio et al. 1994; Schmidhuber, Hochreiter & Bengio 2001, random guessing)",
               register_parity)
