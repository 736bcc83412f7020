// two_sequence: Bengio, Simard & Frasconi's two-sequence problem (IEEE Trans.
// Neural Networks 5(2):157-166, 1994) in the form of Hochreiter & Schmidhuber,
// "Long Short-Term Memory", Neural Computation 9(8):1735-1780, 1997, section
// 5.3 (experiment 3, tasks 3a, 3b, 3c).
//
// One real-valued input. Two classes, equally likely. Only the first N
// elements carry information: 1.0 for class 1, -1.0 for class 2; every later
// element is Gaussian noise with mean 0 and variance 0.2. The length is random
// in [T, T + T/10]. Targets at the sequence end: 1.0 (class 1) and 0.0
// (class 2).
//  3a: as above; correct when the absolute error at the end is below 0.2.
//  3b: Gaussian noise (mean 0, variance 0.2) is added to the N informative
//      elements too; same criterion.
//  3c: like 3b, but the targets are 0.2 (class 1) and 0.8 (class 2) with
//      Gaussian noise (mean 0, variance 0.1) added; correct when the output
//      is within 0.1 of the noise-free target. The training split holds the
//      noisy targets, the test split the noise-free ones, so the criterion
//      (computed on the test split) compares with the noise-free target.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>

namespace {

using namespace gradlab;

constexpr double noise_variance = 0.2;         // every non-informative element; 3b/3c informative ones too
constexpr double target_noise_variance = 0.1;  // 3c training targets

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const std::string variant = p.string("variant");
  const Index T = p.integer("length"), N = p.integer("informative");
  if (N >= T)
    throw std::invalid_argument("'informative' of dataset 'two_sequence' (" + std::to_string(N) +
                                ") must be below 'length' (" + std::to_string(T) + ")");
  const bool noisy_inputs = variant != "3a", noisy_targets = variant == "3c";
  const double target1 = noisy_targets ? 0.2 : 1.0, target2 = noisy_targets ? 0.8 : 0.0;
  const Index steps = T + T / 10;
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("two_sequence", train, test, 1, steps, 1, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  auto split = [&](Index n, Rng& rng, bool noisy_target_split) {
    seq::SplitBuilder sb(n, 1, steps, 1, Task::regression, TargetAt::sequence_end);
    for (Index e = 0; e < n; ++e) {
      const Index length = seq::uniform_int(rng, T, T + T / 10);
      sb.set_length(e, length);
      const bool class1 = seq::coin(rng);
      for (Index t = 0; t < length; ++t) {
        double v = t < N ? (class1 ? 1.0 : -1.0) : 0.0;
        if (t >= N || noisy_inputs) v += seq::gaussian(rng, noise_variance);
        sb.input(e, t, 0) = static_cast<Scalar>(v);
      }
      double target = class1 ? target1 : target2;
      if (noisy_target_split) target += seq::gaussian(rng, target_noise_variance);
      sb.target(e, 0) = static_cast<Scalar>(target);
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train, noisy_targets);
  Split test_split = split(test, streams.test, false);
  return seq::regression_dataset(
      "two_sequence", Shape{1, steps}, 1, TargetAt::sequence_end,
      noisy_targets
          ? seq::all_abs_errors_below(0.1,
                                      "output within 0.1 of the noise-free target (0.2 or 0.8) at the sequence end "
                                      "(Hochreiter & Schmidhuber 1997, task 3c)")
          : seq::all_abs_errors_below(0.2,
                                      "absolute error at the sequence end below 0.2 (Hochreiter & Schmidhuber "
                                      "1997, task " +
                                          variant + ")"),
      std::move(train_split), std::move(test_split));
}

void register_two_sequence(Registrar& r) {
  r.add_dataset(
      {"two_sequence",
       "Two-sequence problem (Bengio, Simard & Frasconi 1994) as in Hochreiter & Schmidhuber 1997, Long Short-Term "
       "Memory, experiment 3 (3a, 3b noisy inputs, 3c noisy targets): class in the first N of T..T+T/10 noisy values",
       seq::with(seq::common_schema(10000, 2560),
                 {ParamSpec::choice("variant", "3a", {"3a", "3b", "3c"})
                      .describe("3a: noise-free informative elements; 3b: noisy ones; 3c: 3b with noisy targets "
                                "0.2/0.8"),
                  ParamSpec::integer("length", 100)
                      .at_least(2)
                      .at_most(100000)
                      .describe("T: lengths uniform in [T, T + T/10] (the paper: 100 and 1000)"),
                  ParamSpec::integer("informative", 3)
                      .at_least(1)
                      .at_most(100000)
                      .describe("N: the first N elements carry the class (the paper: 1 and 3); below 'length'")})},
      make);
}

}  // namespace

GRADLAB_PLUGIN("two_sequence", "1.0.0",
               "Two-sequence problem (Bengio et al. 1994; Hochreiter & Schmidhuber 1997, experiment 3)",
               register_two_sequence)
