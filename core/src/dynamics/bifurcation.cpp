// The one-neuron recurrent net x_t = w s(x_{t-1}) + b swept over b (Doya 1993;
// docs/bifurcation.md).
#include "gradlab/core/bifurcation.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "gradlab/core/error.hpp"

namespace gradlab::dynamics {

namespace {

// Limits that keep a sweep to minutes and its output to memory.
constexpr std::int64_t max_b_steps = 10'000'000;
constexpr std::int64_t max_iterations = 10'000'000;
constexpr std::size_t max_starts = 1000;
constexpr double max_work = 1e10;  // b_steps * starts * iterations: map steps in all

double sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

bool same(double x, double y, double tolerance) { return std::abs(x - y) <= tolerance * (1.0 + std::abs(x)); }

std::string number_text(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.17g", v);
  return text;
}

void require_finite(double v, const char* option) {
  if (!std::isfinite(v)) throw InputError(option, "must be a finite number, got " + number_text(v));
}

}  // namespace

void validate(const BifurcationOptions& o) {
  require_finite(o.w, "--w");
  require_finite(o.b_min, "--b-min");
  require_finite(o.b_max, "--b-max");
  if (!(o.b_min < o.b_max))
    throw InputError("--b-min",
                     "must be less than --b-max (got " + number_text(o.b_min) + " and " + number_text(o.b_max) + ")");
  if (o.b_steps < 2 || o.b_steps > max_b_steps)
    throw InputError("--steps",
                     "must be in [2, " + std::to_string(max_b_steps) + "], got " + std::to_string(o.b_steps));
  if (o.iterations < 1 || o.iterations > max_iterations)
    throw InputError("--iterations",
                     "must be in [1, " + std::to_string(max_iterations) + "], got " + std::to_string(o.iterations));
  if (o.tail < 1 || o.tail > o.iterations)
    throw InputError(
        "--tail", "must be in [1, --iterations = " + std::to_string(o.iterations) + "], got " + std::to_string(o.tail));
  if (!(o.tolerance > 0) || !std::isfinite(o.tolerance))
    throw InputError("--tolerance", "must be a positive finite number, got " + number_text(o.tolerance));
  if (o.x0.empty()) throw InputError("--x0", "needs at least one starting point");
  if (o.x0.size() > max_starts)
    throw InputError("--x0",
                     "at most " + std::to_string(max_starts) + " starting points, got " + std::to_string(o.x0.size()));
  for (double x : o.x0) require_finite(x, "--x0");
  const double work = double(o.b_steps) * double(o.x0.size()) * double(o.iterations);
  if (work > max_work)
    throw InputError("--steps", "steps x starting points x iterations = " + number_text(work) +
                                    " map steps, more than the limit of " + number_text(max_work));
}

std::vector<double> bias_grid(const BifurcationOptions& o) {
  std::vector<double> grid(static_cast<std::size_t>(std::max<std::int64_t>(o.b_steps, 0)));
  const double step = (o.b_max - o.b_min) / double(o.b_steps - 1);
  for (std::size_t i = 0; i < grid.size(); ++i) grid[i] = o.b_min + double(i) * step;
  if (!grid.empty()) grid.back() = o.b_max;
  return grid;
}

Trajectory run_map(double w, double b, double x0, std::int64_t iterations, std::vector<double>* trajectory) {
  std::vector<double> local;
  std::vector<double>& x = trajectory ? *trajectory : local;
  const auto T = static_cast<std::size_t>(iterations);
  x.resize(T + 1);
  x[0] = x0;
  for (std::size_t t = 1; t <= T; ++t) x[t] = w * sigmoid(x[t - 1]) + b;
  // Reverse mode: a_t = dx_T/dx_t. x_t = w s(x_{t-1}) + b gives
  // a_{t-1} = a_t * w * s'(x_{t-1}) with s' = s (1 - s), and b's own
  // contribution at step t is a_t * 1, so dx_T/db = sum_{t=1..T} a_t.
  double adjoint = 1.0, db = 0.0;
  for (std::size_t t = T; t >= 1; --t) {
    db += adjoint;
    const double s = sigmoid(x[t - 1]);
    adjoint *= w * s * (1.0 - s);
  }
  return {x[T], db};
}

BifurcationPoint bifurcation_point(const BifurcationOptions& o, double b, double x0) {
  std::vector<double> x;
  const Trajectory result = run_map(o.w, b, x0, o.iterations, &x);
  BifurcationPoint p;
  p.b = b;
  p.x0 = x0;
  p.x_T = result.x_T;
  p.dxT_db = result.dxT_db;
  // The last `tail` steps: x_{T-tail+1} ... x_T.
  const auto T = static_cast<std::size_t>(o.iterations);
  const auto tail = static_cast<std::size_t>(std::clamp<std::int64_t>(o.tail, 1, o.iterations));
  const std::size_t first = T + 1 - tail;
  for (std::size_t period = 1; period <= tail / 2; ++period) {
    bool repeats = true;
    for (std::size_t t = first + period; t <= T && repeats; ++t) repeats = same(x[t], x[t - period], o.tolerance);
    if (repeats) {
      p.period = static_cast<std::int64_t>(period);
      p.attractor.assign(x.begin() + static_cast<std::ptrdiff_t>(T + 1 - period), x.end());
      std::sort(p.attractor.begin(), p.attractor.end());
      return p;
    }
  }
  std::vector<double> values(x.begin() + static_cast<std::ptrdiff_t>(first), x.end());
  std::sort(values.begin(), values.end());
  for (double v : values)
    if (p.attractor.empty() || !same(v, p.attractor.back(), o.tolerance)) p.attractor.push_back(v);
  return p;
}

std::vector<BifurcationPoint> sweep_bias(const BifurcationOptions& o) {
  validate(o);
  const auto grid = bias_grid(o);
  std::vector<BifurcationPoint> points;
  points.reserve(grid.size() * o.x0.size());
  for (double x0 : o.x0)
    for (double b : grid) points.push_back(bifurcation_point(o, b, x0));
  return points;
}

// A fixed point x* = w s(x*) + b has the multiplier
//     lambda = d/dx [w s(x) + b] at x* = w s'(x*) = w s(x*) (1 - s(x*)),
// and is stable while |lambda| < 1. It loses stability where lambda = +1 (a
// fold, or saddle-node: two fixed points meet and vanish; w > 0) or lambda = -1
// (a flip, or period doubling: a 2-cycle is born; w < 0). Both ask for
//     s(x*) (1 - s(x*)) = 1 / |w|,
// a quadratic in s = s(x*): s = (1 +- sqrt(1 - 4/|w|)) / 2, real for |w| >= 4
// (s(1-s) <= 1/4). Then x* = log(s / (1 - s)) (the logit; the two roots give
// x* = +-log((1 + r) / (1 - r)), r = sqrt(1 - 4/|w|)), and the bias follows
// from the fixed-point equation: b = x* - w s(x*).
// Along the branch of fixed points b(x) = x - w s(x), so db/dx = 1 - w s'(x)
// and dx*/db = 1 / (1 - w s'(x*)): at a fold it diverges, and so does the
// gradient dx_T/db for large T (the explosion of Doya 1993 and Pascanu et al.
// 2013, Fig. 6). For w = 5: r = sqrt(0.2), s = 0.7236 and 0.2764, x* = +-0.9624,
// b = -2.6556 and -2.3444; between them both a low and a high fixed point are
// stable (hysteresis).
std::vector<CriticalPoint> critical_points(double w) {
  std::vector<CriticalPoint> points;
  const double aw = std::abs(w);
  if (!std::isfinite(w) || aw < 4.0) return points;
  const char* kind = w > 0 ? "fold" : "flip";
  const double r = std::sqrt(std::max(0.0, 1.0 - 4.0 / aw));
  const double x = std::log1p(r) - std::log1p(-r);  // logit((1 + r) / 2)
  for (double xs : r == 0.0 ? std::vector<double>{0.0} : std::vector<double>{x, -x})
    points.push_back({kind, xs, xs - w * sigmoid(xs)});
  std::sort(points.begin(), points.end(), [](const CriticalPoint& a, const CriticalPoint& c) { return a.b < c.b; });
  return points;
}

std::vector<SensitivityPeak> sensitivity_peaks(const std::vector<BifurcationPoint>& points) {
  std::vector<SensitivityPeak> peaks;
  for (const auto& p : points) {
    const double value = std::abs(p.dxT_db);
    auto it = std::find_if(peaks.begin(), peaks.end(), [&](const SensitivityPeak& k) {
      return k.x0 == p.x0 || (std::isnan(k.x0) && std::isnan(p.x0));
    });
    if (it == peaks.end()) {
      peaks.push_back({p.x0, p.b, value});
      continue;
    }
    if (value > it->abs_dxT_db || (std::isnan(it->abs_dxT_db) && !std::isnan(value))) {
      it->b = p.b;
      it->abs_dxT_db = value;
    }
  }
  return peaks;
}

}  // namespace gradlab::dynamics
