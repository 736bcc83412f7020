#include <gtest/gtest.h>

#include <map>
#include <set>

#include "../dataset_test_support.hpp"

using namespace gradlab;
using namespace gradlab::test;

namespace {

const std::string alphabet = "BTPSXVE";

// The Reber grammar of Cleeremans et al. (1989), numbered as in their figure:
// state -> {symbol -> state}; 0 is the start, 6 the end.
const std::map<int, std::map<char, int>> grammar = {{0, {{'B', 1}}},
                                                    {1, {{'T', 2}, {'P', 3}}},
                                                    {2, {{'S', 2}, {'X', 4}}},
                                                    {3, {{'T', 3}, {'V', 5}}},
                                                    {4, {{'X', 3}, {'S', 6}}},
                                                    {5, {{'P', 4}, {'V', 6}}},
                                                    {6, {{'E', 7}}}};

// Accepts an embedded Reber string, returning the possible next symbols after
// every prefix; empty when the string is not in the language.
std::vector<std::set<char>> accept(const std::string& s) {
  std::vector<std::set<char>> next;
  if (s.size() < 9 || s[0] != 'B' || (s[1] != 'T' && s[1] != 'P') || s[s.size() - 2] != s[1] || s.back() != 'E')
    return {};
  next.push_back({'T', 'P'});
  next.push_back({'B'});
  int q = 0;
  for (std::size_t i = 2; i + 2 < s.size(); ++i) {
    auto it = grammar.at(q).find(s[i]);
    if (it == grammar.at(q).end()) return {};
    q = it->second;
    std::set<char> n;
    if (q == 7)
      n = {s[1]};
    else
      for (auto& [c, to] : grammar.at(q)) n.insert(c);
    next.push_back(n);
  }
  if (q != 7) return {};
  next.push_back({'E'});
  return next;
}

std::string decode(const Split& sp, Index e, Index steps, Index length) {
  std::string s;
  for (Index t = 0; t < length; ++t) {
    Index hot = -1;
    for (Index k = 0; k < 7; ++k)
      if (sp.inputs(k, e * steps + t) == 1) hot = k;
    EXPECT_EQ(sp.inputs.col(e * steps + t).sum(), 1);
    s += hot < 0 ? '?' : alphabet[static_cast<std::size_t>(hot)];
  }
  return s;
}

}  // namespace

TEST(EmbeddedReberDataset, StringsAreInTheGrammarAndTargetsAreThePossibleNextSymbols) {
  auto d = make_data("{name: embedded_reber, train: 256, test: 256}");
  EXPECT_EQ(d->input, (Shape{7, 49}));
  EXPECT_EQ(d->target_at, TargetAt::every_step);
  const Index steps = d->input.steps;
  std::set<std::string> train_strings;
  std::set<char> outer_seen;
  for (const Split* sp : {&d->train, &d->test}) {
    for (Index e = 0; e < sp->examples; ++e) {
      const Index L = sp->length(e, steps);
      // The inputs are the string without its final E; the last target is E.
      std::string s = decode(*sp, e, steps, L) + "E";
      auto next = accept(s);
      ASSERT_EQ(next.size(), static_cast<std::size_t>(L)) << s;
      for (Index t = 0; t < L; ++t)
        for (Index k = 0; k < 7; ++k)
          EXPECT_EQ(sp->targets(k, e * steps + t), next[static_cast<std::size_t>(t)].count(alphabet[k]) ? 1 : 0)
              << s << " step " << t << " symbol " << alphabet[k];
      for (Index t = L; t < steps; ++t) {
        EXPECT_EQ(sp->inputs.col(e * steps + t).sum(), 0);
        EXPECT_EQ(sp->targets.col(e * steps + t).sum(), 0);
      }
      if (sp == &d->train)
        train_strings.insert(s);
      else
        EXPECT_EQ(train_strings.count(s), 0u) << "test string " << s << " is in the training set";
      outer_seen.insert(s[1]);
    }
  }
  EXPECT_EQ(outer_seen.size(), 2u);
  EXPECT_GT(train_strings.size(), 50u);
}

TEST(EmbeddedReberDataset, MaxLengthBoundsTheStrings) {
  auto d = make_data("{name: embedded_reber, max_length: 12, train: 100, test: 20}");
  EXPECT_EQ(d->input.steps, 11);
  for (auto l : d->train.lengths) EXPECT_LE(l, 11);
  // Only a few strings are this short: the test set must still avoid them.
  EXPECT_NE(make_error("{name: embedded_reber, max_length: 9, train: 100, test: 20}").find("max_length"),
            std::string::npos);
}

TEST(EmbeddedReberDataset, Deterministic) {
  expect_deterministic("{name: embedded_reber, train: 64, test: 64}",
                       "{name: embedded_reber, train: 64, test: 64, seed: 5}");
}

TEST(EmbeddedReberDataset, SuccessNeedsThePossibleSymbolsToBeTheMostActive) {
  auto d = make_data("{name: embedded_reber, train: 1, test: 1}");
  Matrix target = Matrix::Zero(7, 2);
  target(1, 0) = target(2, 0) = 1;  // T or P
  target(0, 1) = 1;                 // B
  Matrix out = Matrix::Constant(7, 2, 0.1f);
  out(1, 0) = 0.3f;
  out(2, 0) = 0.2f;  // both possible ones above every other unit
  out(0, 1) = 0.9f;
  EXPECT_TRUE(solved(*d, out, target));
  out(5, 0) = 0.25f;  // an impossible symbol above one possible one
  EXPECT_FALSE(solved(*d, out, target));
  out(5, 0) = 0.2f;  // a tie is not "most active"
  EXPECT_FALSE(solved(*d, out, target));
  out(5, 0) = 0.1f;
  out(3, 1) = 0.95f;  // wrong at the second step
  EXPECT_FALSE(solved(*d, out, target));
}

TEST(EmbeddedReberDataset, RefusesImpossibleParameters) {
  EXPECT_NE(make_error("{name: embedded_reber, max_length: 8}").find("'max_length'"), std::string::npos);
  EXPECT_NE(make_error("{name: embedded_reber, test: 0}").find("'test'"), std::string::npos);
}
