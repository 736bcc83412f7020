// `gradlab bifurcation` (docs/bifurcation.md): the one-neuron recurrent net
// x_t = w s(x_{t-1}) + b of Doya 1993 and Pascanu et al. 2013, Fig. 6. The
// analytic fold points against root finding that does not use their formula,
// the backpropagated dx_T/db against forward-mode and finite differences, its
// peaks against the folds, the hysteresis, and the CLI.
#include "gradlab/core/bifurcation.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gradlab/core/error.hpp"
#include "test_support.hpp"

namespace gradlab {
namespace {

namespace fs = std::filesystem;
using dynamics::BifurcationOptions;
using dynamics::BifurcationPoint;
using test::lines_of;
using test::run_cli;
using test::TempDir;

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

// Bisection for a sign change of f on [lo, hi].
double bisect(const std::function<double(double)>& f, double lo, double hi) {
  const bool lo_negative = f(lo) < 0;
  EXPECT_NE(lo_negative, f(hi) < 0) << "no sign change on [" << lo << ", " << hi << "]";
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if ((f(mid) < 0) == lo_negative)
      lo = mid;
    else
      hi = mid;
  }
  return 0.5 * (lo + hi);
}

// Fixed points of x = w s(x) + b: sign changes of w s(x) + b - x on a fine grid.
int count_fixed_points(double w, double b) {
  int count = 0;
  double previous = w * sigmoid(-30.0) + b + 30.0;
  for (int i = 1; i <= 600000; ++i) {
    const double x = -30.0 + i * 1e-4;
    const double value = w * sigmoid(x) + b - x;
    if ((value < 0) != (previous < 0)) ++count;
    previous = value;
  }
  return count;
}

TEST(Bifurcation, FoldPointsOfW5MatchRootFinding) {
  const double w = 5.0;
  const auto folds = dynamics::critical_points(w);
  ASSERT_EQ(folds.size(), 2u);
  // The fixed points where the map's slope w s'(x) is 1, by bisection.
  auto slope_minus_one = [&](double x) { return w * sigmoid(x) * (1 - sigmoid(x)) - 1.0; };
  const double x_high = bisect(slope_minus_one, 0.0, 20.0), x_low = bisect(slope_minus_one, -20.0, 0.0);
  EXPECT_EQ(folds[0].kind, "fold");
  EXPECT_NEAR(folds[0].x, x_high, 1e-12);  // sorted by b: the high branch ends at the lower b
  EXPECT_NEAR(folds[1].x, x_low, 1e-12);
  // Independently of the slope: the b where the number of fixed points drops
  // from three (bistable) to one, by bisection on b.
  ASSERT_EQ(count_fixed_points(w, -2.5), 3);
  ASSERT_EQ(count_fixed_points(w, -3.0), 1);
  ASSERT_EQ(count_fixed_points(w, -2.0), 1);
  auto three_minus_half = [&](double b) { return count_fixed_points(w, b) == 3 ? 1.0 : -1.0; };
  double lo = -3.0, hi = -2.5;  // lower fold
  for (int i = 0; i < 30; ++i) ((three_minus_half(0.5 * (lo + hi)) > 0) ? hi : lo) = 0.5 * (lo + hi);
  EXPECT_NEAR(folds[0].b, 0.5 * (lo + hi), 1e-6);
  lo = -2.5, hi = -2.0;  // upper fold
  for (int i = 0; i < 30; ++i) ((three_minus_half(0.5 * (lo + hi)) > 0) ? lo : hi) = 0.5 * (lo + hi);
  EXPECT_NEAR(folds[1].b, 0.5 * (lo + hi), 1e-6);
  // The values of docs/bifurcation.md.
  EXPECT_NEAR(folds[0].b, -2.655610338630688, 1e-12);
  EXPECT_NEAR(folds[1].b, -2.344389661369312, 1e-12);
  EXPECT_NEAR(folds[0].x, 0.9624236501192069, 1e-12);
  for (const auto& f : folds) EXPECT_NEAR(f.x, w * sigmoid(f.x) + f.b, 1e-12) << "a fixed point";
}

TEST(Bifurcation, FlipPointsAndTheCusp) {
  // w < 0: the map is decreasing, its fixed point is unique and loses
  // stability by period doubling where w s'(x*) = -1.
  const auto flips = dynamics::critical_points(-5.0);
  ASSERT_EQ(flips.size(), 2u);
  for (const auto& f : flips) {
    EXPECT_EQ(f.kind, "flip");
    EXPECT_NEAR(-5.0 * sigmoid(f.x) * (1 - sigmoid(f.x)), -1.0, 1e-12);
    EXPECT_NEAR(f.x, -5.0 * sigmoid(f.x) + f.b, 1e-12);
  }
  const auto cusp = dynamics::critical_points(4.0);
  ASSERT_EQ(cusp.size(), 1u);
  EXPECT_NEAR(cusp[0].x, 0.0, 1e-12);
  EXPECT_NEAR(cusp[0].b, -2.0, 1e-12);
  EXPECT_TRUE(dynamics::critical_points(3.9).empty());
  EXPECT_TRUE(dynamics::critical_points(-3.9).empty());
}

// dx_T/db by forward mode: d_t = w s'(x_{t-1}) d_{t-1} + 1, d_0 = 0.
double forward_mode(double w, double b, double x0, std::int64_t T) {
  double x = x0, d = 0.0;
  for (std::int64_t t = 0; t < T; ++t) {
    const double s = sigmoid(x);
    d = w * s * (1 - s) * d + 1.0;
    x = w * s + b;
  }
  return d;
}

TEST(Bifurcation, SensitivityPeaksAtTheFolds) {
  BifurcationOptions o;  // w = 5, b in [-3, -2]
  o.b_steps = 1001;      // grid step 0.001
  o.x0 = {-10.0, 10.0};
  for (std::int64_t T : {200, 1000}) {
    o.iterations = T;
    const auto points = dynamics::sweep_bias(o);
    ASSERT_EQ(points.size(), 2002u);
    // The backpropagated derivative is the forward-mode one, everywhere.
    for (const auto& p : points)
      ASSERT_NEAR(p.dxT_db, forward_mode(o.w, p.b, p.x0, T), 1e-10 * (1 + std::abs(p.dxT_db)))
          << "b " << p.b << " x0 " << p.x0;
    const auto folds = dynamics::critical_points(o.w);
    const double grid_step = 0.001;
    // From below the low branch ends at the upper fold; from above the high branch at the lower fold.
    const double expected[] = {folds[1].b, folds[0].b};
    for (int branch = 0; branch < 2; ++branch) {
      std::vector<const BifurcationPoint*> curve;
      for (const auto& p : points)
        if (p.x0 == o.x0[branch]) curve.push_back(&p);
      ASSERT_EQ(curve.size(), 1001u);
      // Local maxima of |dx_T/db|: the largest is at the fold; any other is far smaller.
      std::vector<std::size_t> maxima;
      for (std::size_t i = 1; i + 1 < curve.size(); ++i) {
        const double v = std::abs(curve[i]->dxT_db);
        if (v > std::abs(curve[i - 1]->dxT_db) && v >= std::abs(curve[i + 1]->dxT_db)) maxima.push_back(i);
      }
      ASSERT_FALSE(maxima.empty());
      const auto top = *std::max_element(maxima.begin(), maxima.end(), [&](std::size_t a, std::size_t c) {
        return std::abs(curve[a]->dxT_db) < std::abs(curve[c]->dxT_db);
      });
      EXPECT_NEAR(curve[top]->b, expected[branch], 3 * grid_step) << "T " << T << " x0 " << o.x0[branch];
      const double peak = std::abs(curve[top]->dxT_db);
      EXPECT_GT(peak, 30.0);
      for (std::size_t i : maxima)
        if (std::abs(curve[i]->b - expected[branch]) > 5 * grid_step)
          EXPECT_LT(std::abs(curve[i]->dxT_db), peak / 10) << "another peak at b " << curve[i]->b;
      // The peak the library reports is the same.
      const auto peaks = dynamics::sensitivity_peaks(points);
      ASSERT_EQ(peaks.size(), 2u);
      EXPECT_EQ(peaks[branch].x0, o.x0[branch]);
      EXPECT_EQ(peaks[branch].b, curve[top]->b);
      EXPECT_EQ(peaks[branch].abs_dxT_db, peak);
      // Away from the folds, x_T has converged and dx_T/db = dx*/db = 1 / (1 - w s'(x*)).
      for (const auto* p : curve)
        if (std::abs(p->b - folds[0].b) > 0.05 && std::abs(p->b - folds[1].b) > 0.05) {
          const double s = sigmoid(p->x_T);
          EXPECT_NEAR(p->dxT_db, 1.0 / (1.0 - o.w * s * (1 - s)), 1e-6) << "b " << p->b;
        }
    }
  }
}

TEST(Bifurcation, BackpropEqualsFiniteDifferences) {
  const double h = 1e-6;
  struct Case {
    double w, b, x0;
  };
  for (const Case& c : {Case{5, -2.9, -10}, Case{5, -2.5, -10}, Case{5, -2.5, 10}, Case{5, -2.1, 10},
                        Case{5, -2.45, 0.3}, Case{-5, 2.0, 0.0}, Case{-8, 3.0, 1.0}, Case{2, 0.5, -1.0}})
    for (std::int64_t T : {1, 2, 10, 200}) {
      const auto at = dynamics::run_map(c.w, c.b, c.x0, T);
      const double fd =
          (dynamics::run_map(c.w, c.b + h, c.x0, T).x_T - dynamics::run_map(c.w, c.b - h, c.x0, T).x_T) / (2 * h);
      EXPECT_NEAR(at.dxT_db, fd, 1e-6 * (1 + std::abs(fd)))
          << "w " << c.w << " b " << c.b << " x0 " << c.x0 << " T " << T;
    }
  // T = 1: x_1 = w s(x_0) + b, so dx_1/db = 1.
  EXPECT_EQ(dynamics::run_map(5, -2.5, 0.0, 1).dxT_db, 1.0);
}

TEST(Bifurcation, HysteresisBetweenTheFolds) {
  BifurcationOptions o;
  o.x0 = {-10.0, 10.0};
  o.iterations = 500;
  auto at = [&](double b, double x0) { return dynamics::bifurcation_point(o, b, x0); };
  const auto folds = dynamics::critical_points(o.w);
  for (double b : {folds[0].b + 0.02, -2.6, -2.5, -2.4, folds[1].b - 0.02}) {
    const auto low = at(b, -10.0), high = at(b, 10.0);
    ASSERT_EQ(low.period, 1) << b;
    ASSERT_EQ(high.period, 1) << b;
    ASSERT_EQ(low.attractor.size(), 1u);
    ASSERT_EQ(high.attractor.size(), 1u);
    EXPECT_LT(low.attractor[0], -0.96) << "the low fixed point, b " << b;
    EXPECT_GT(high.attractor[0], 0.96) << "the high fixed point, b " << b;
  }
  for (double b : {-3.0, -2.8, folds[0].b - 0.02, folds[1].b + 0.02, -2.2, -2.0}) {
    const auto low = at(b, -10.0), high = at(b, 10.0);
    ASSERT_EQ(low.period, 1) << b;
    ASSERT_EQ(high.period, 1) << b;
    EXPECT_NEAR(low.attractor.at(0), high.attractor.at(0), 1e-9) << "one attractor outside the folds, b " << b;
    EXPECT_EQ(low.attractor[0] < 0, b < folds[0].b) << b;
  }
}

TEST(Bifurcation, PeriodTwoForNegativeWeight) {
  BifurcationOptions o;
  o.w = -5.0;
  o.iterations = 1000;
  const auto flips = dynamics::critical_points(o.w);
  ASSERT_EQ(flips.size(), 2u);
  const auto inside = dynamics::bifurcation_point(o, 0.5 * (flips[0].b + flips[1].b), 0.3);
  EXPECT_EQ(inside.period, 2);
  ASSERT_EQ(inside.attractor.size(), 2u);
  EXPECT_GT(inside.attractor[1] - inside.attractor[0], 0.1);
  const auto outside = dynamics::bifurcation_point(o, flips[1].b + 1.0, 0.3);
  EXPECT_EQ(outside.period, 1);
  EXPECT_EQ(outside.attractor.size(), 1u);
}

TEST(Bifurcation, ValidatesOptions) {
  auto where = [](const std::function<void(BifurcationOptions&)>& change) {
    BifurcationOptions o;
    change(o);
    try {
      dynamics::validate(o);
    } catch (const InputError& e) {
      return e.where();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(where([](auto&) {}), "(accepted)");
  EXPECT_EQ(where([](auto& o) { o.b_min = o.b_max; }), "--b-min");
  EXPECT_EQ(where([](auto& o) { o.b_max = NAN; }), "--b-max");
  EXPECT_EQ(where([](auto& o) { o.w = INFINITY; }), "--w");
  EXPECT_EQ(where([](auto& o) { o.b_steps = 1; }), "--steps");
  EXPECT_EQ(where([](auto& o) { o.iterations = 0; }), "--iterations");
  EXPECT_EQ(where([](auto& o) { o.tail = o.iterations + 1; }), "--tail");
  EXPECT_EQ(where([](auto& o) { o.tolerance = 0; }), "--tolerance");
  EXPECT_EQ(where([](auto& o) { o.x0 = {0.0, NAN}; }), "--x0");
  EXPECT_EQ(where([](auto& o) { o.x0.clear(); }), "--x0");
  EXPECT_EQ(where([](auto& o) { o.b_steps = 10'000'000, o.iterations = 10'000'000; }), "--steps");
}

TEST(BifurcationCli, WritesCsvAndJson) {
  TempDir dir;
  auto r = run_cli({"bifurcation", "--x0", "-10", "--x0", "10", "--steps", "11", "-o", (dir / "b.csv").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  auto lines = lines_of(test::read_text(dir / "b.csv"));
  ASSERT_EQ(lines.size(), 1u + 22u);
  EXPECT_EQ(lines[0], "b,x0,x_T,dxT_db,abs_dxT_db,period,attractor");
  EXPECT_EQ(lines[1].rfind("-3.0,-10.0,", 0), 0u) << lines[1];
  EXPECT_EQ(lines[22].rfind("-2.0,10.0,", 0), 0u) << lines[22];
  EXPECT_NE(r.err.find("fold points (analytic, w = 5): b = -2.65561 (x* = 0.962424), b = -2.34439 (x* = -0.962424)"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("sensitivity peak: x0 = -10: b = -2.4,"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sensitivity peak: x0 = 10: b = -2.6,"), std::string::npos) << r.err;

  // Without -o: CSV on stdout, a comma list for --x0; --quiet: nothing on stderr.
  r = run_cli({"bifurcation", "--x0", "-10,10", "--steps", "5", "-T", "50", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_EQ(lines_of(r.out).size(), 11u);

  // JSON, by the file's extension.
  r = run_cli({"bifurcation", "--w=-5", "--b-min", "0", "--b-max", "5", "--steps", "3", "--x0", "0.3", "-o",
               (dir / "b.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(test::read_text(dir / "b.json"));
  EXPECT_EQ(j["points"].size(), 3u);
  ASSERT_EQ(j["critical_points"].size(), 2u);
  EXPECT_EQ(j["critical_points"][0]["kind"], "flip");
  EXPECT_EQ(j["sensitivity_peaks"].size(), 1u);
  EXPECT_EQ(j["points"][1]["b"], 2.5);
  EXPECT_EQ(j["points"][1]["period"], 2);
  EXPECT_EQ(j["points"][1]["attractor"].size(), 2u);
}

TEST(BifurcationCli, BadInputIsOneLineAndExitTwo) {
  TempDir dir;
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  for (const Case& c :
       {Case{{"--b-min", "-2", "--b-max", "-3"}, "--b-min"}, Case{{"--steps", "1"}, "--steps"},
        Case{{"-T", "0"}, "--iterations"}, Case{{"--x0", "nan"}, "--x0"}, Case{{"--x0", "1,,2"}, "--x0"},
        Case{{"--w", "inf"}, "--w"}, Case{{"--format", "xml"}, "--format"}, Case{{"--w", "five"}, "--w"}}) {
    std::vector<std::string> args{"bifurcation", "-o", (dir / "out.csv").string()};
    args.insert(args.end(), c.args.begin(), c.args.end());
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << c.needle << ": " << r.err;
    const auto lines = lines_of(r.err);
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_EQ(lines[0].rfind("gradlab: error: ", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(c.needle), std::string::npos) << lines[0];
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_TRUE(fs::is_empty(dir.path())) << "no output file for bad input";
  }
}

}  // namespace
}  // namespace gradlab
