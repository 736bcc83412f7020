// embedded_reber: next-symbol prediction on the embedded Reber grammar,
// Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation
// 9(8):1735-1780, 1997, section 5.1 (experiment 1), after Cleeremans,
// Servan-Schreiber & McClelland (1989) and Smith & Zipser (1989).
//
// Seven symbols B, T, P, S, X, V, E, locally coded. An embedded string is
// B, then T or P, then a Reber string (B ... E), then the same T or P, then E.
// The net reads a string one symbol at a time and predicts the next symbol at
// every step: the target at step t has a 1 for each symbol that may follow
// the prefix s_0..s_t (so the inputs are every symbol but the final E). A
// string is processed correctly when at every step the output units of the
// possible next symbols are the most active ones. Training strings are drawn
// at random; test strings are drawn at random too, skipping any string that is
// in the training set. Strings longer than `max_length` are redrawn.
#include <gradlab/sdk.hpp>
#include <gradlab/sequence_tasks.hpp>
#include <set>
#include <string>

namespace {

using namespace gradlab;

constexpr const char* alphabet = "BTPSXVE";
constexpr Index symbols = 7;
Index unit(char c) { return static_cast<Index>(std::string(alphabet).find(c)); }

// The Reber automaton: from state q, the two (symbol, next state) choices,
// each taken with probability 1/2. State 6 emits E and ends.
struct Edge {
  char symbol;
  int next;
};
constexpr Edge reber[6][2] = {
    {{'T', 1}, {'P', 2}},  // after the leading B
    {{'S', 1}, {'X', 3}},  // 1
    {{'T', 2}, {'V', 4}},  // 2
    {{'X', 2}, {'S', 5}},  // 3
    {{'P', 3}, {'V', 5}},  // 4
    {{'E', -1}, {'E', -1}},
};

// One embedded Reber string, and the set of possible next symbols (a bit per
// alphabet unit) after each of its prefixes.
struct Drawn {
  std::string text;
  std::vector<unsigned> next;  // next[t]: possible symbols after text[0..t]
};

Drawn draw(Rng& rng) {
  Drawn d;
  auto bit = [](char c) { return 1u << unit(c); };
  const char outer = seq::coin(rng) ? 'T' : 'P';
  d.text = "B";
  d.next.push_back(bit('T') | bit('P'));
  d.text += outer;
  d.next.push_back(bit('B'));
  d.text += 'B';
  d.next.push_back(bit('T') | bit('P'));
  for (int q = 0; q != 5;) {
    const Edge& e = reber[q][seq::coin(rng) ? 1 : 0];
    d.text += e.symbol;
    q = e.next;
    d.next.push_back(q == 5 ? bit('E') : bit(reber[q][0].symbol) | bit(reber[q][1].symbol));
  }
  d.text += 'E';  // inner end
  d.next.push_back(bit(outer));
  d.text += outer;
  d.next.push_back(bit('E'));
  d.text += 'E';
  d.next.push_back(0);  // nothing follows the final E
  return d;
}

std::shared_ptr<const Dataset> make(const Params& p, const DataContext& ctx) {
  const Index max_length = p.integer("max_length");
  const Index steps = max_length - 1;  // the final E is never an input
  const Index train = p.integer("train"), test = p.integer("test");
  seq::check_size("embedded_reber", train, test, symbols, steps, symbols * steps, ctx);
  auto streams = seq::split_streams(p.integer("seed"), ctx.seed);
  std::set<std::string> training_strings;
  auto split = [&](Index n, Rng& rng, bool is_train) {
    seq::SplitBuilder sb(n, symbols, steps, symbols, Task::regression, TargetAt::every_step);
    for (Index e = 0; e < n; ++e) {
      Drawn d;
      for (std::int64_t tries = 0;; ++tries) {
        if (tries > 1000000)
          throw std::invalid_argument(
              "embedded_reber: cannot draw enough test strings outside the training set "
              "within 'max_length' " +
              std::to_string(max_length) + "; raise it or lower 'train'");
        d = draw(rng);
        if (static_cast<Index>(d.text.size()) > max_length) continue;
        if (!is_train && training_strings.count(d.text)) continue;
        break;
      }
      if (is_train) training_strings.insert(d.text);
      const Index length = static_cast<Index>(d.text.size()) - 1;
      sb.set_length(e, length);
      for (Index t = 0; t < length; ++t) {
        sb.one_hot(e, t, unit(d.text[static_cast<std::size_t>(t)]));
        for (Index k = 0; k < symbols; ++k)
          if (d.next[static_cast<std::size_t>(t)] & (1u << k)) sb.target(e, k, t) = Scalar(1);
      }
    }
    return std::move(sb).finish();
  };
  // The training split first: a generator may keep test sequences out of it.
  Split train_split = split(train, streams.train, true);
  Split test_split = split(test, streams.test, false);
  return seq::regression_dataset(
      "embedded_reber", Shape{symbols, steps}, symbols, TargetAt::every_step,
      seq::possible_symbols_most_active(
          "at every step the output units of the possible next symbols are the most active ones (Hochreiter & "
          "Schmidhuber 1997, experiment 1)"),
      std::move(train_split), std::move(test_split));
}

void register_embedded_reber(Registrar& r) {
  r.add_dataset(
      {"embedded_reber",
       "Embedded Reber grammar (Hochreiter & Schmidhuber 1997, Long Short-Term Memory, experiment 1; Cleeremans et "
       "al. 1989): 7 symbols, next-symbol targets (every possible next symbol 1) at every step",
       seq::with(seq::common_schema(256, 256),
                 {ParamSpec::integer("max_length", 50)
                      .at_least(9)
                      .at_most(100000)
                      .describe("longest string kept, in symbols (the shortest is 9, BTBTXSETE); longer ones are "
                                "redrawn")})},
      make);
}

}  // namespace

GRADLAB_PLUGIN("embedded_reber", "1.0.0",
               "Embedded Reber grammar (Hochreiter & Schmidhuber 1997, Neural Computation 9(8), experiment 1)",
               register_embedded_reber)
