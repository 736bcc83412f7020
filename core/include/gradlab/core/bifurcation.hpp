// Bifurcations of the one-neuron recurrent net (Doya 1993; the example of
// Pascanu, Mikolov & Bengio 2013, Fig. 6, with w = 5):
//
//     x_t = w * s(x_{t-1}) + b,      s(z) = 1 / (1 + exp(-z)),
//
// swept over the bias b (docs/bifurcation.md). For each b and each starting
// point x_0 the map runs T steps; the last iterates give the attractor (a
// fixed point, or a cycle), and backpropagation through the T steps gives
// dx_T/db, the gradient that explodes where the attractor bifurcates.
// Pure functions over plain data, in double precision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gradlab::dynamics {

struct BifurcationOptions {
  double w = 5.0;       // the recurrent weight
  double b_min = -3.0;  // the bias grid: b_steps points from b_min to b_max, both included
  double b_max = -2.0;
  std::int64_t b_steps = 1001;
  std::vector<double> x0{0.0};    // starting points; each is swept over the whole grid
  std::int64_t iterations = 200;  // T: steps of the map, and of backpropagation
  std::int64_t tail = 16;         // the last `tail` steps define the attractor (period detection)
  double tolerance = 1e-8;        // two iterates are the same when |x - y| <= tolerance * (1 + |x|)
};

// Throws InputError naming the command-line option (--b-min, --steps, ...)
// of the first value that is out of range: non-finite numbers, b_min >= b_max,
// b_steps < 2, iterations < 1, tail outside [1, iterations], tolerance <= 0,
// no starting point, or a grid larger than the limits in the .cpp.
void validate(const BifurcationOptions& options);

// The bias grid: b_min + i * (b_max - b_min) / (b_steps - 1), the last point exactly b_max.
std::vector<double> bias_grid(const BifurcationOptions& options);

// One (b, x0) of the sweep.
struct BifurcationPoint {
  double b = 0.0;
  double x0 = 0.0;
  double x_T = 0.0;
  double dxT_db = 0.0;  // by backpropagation through the T steps; may be +-inf if it overflows
  // The smallest p <= tail / 2 with x_t == x_{t-p} (within the tolerance) over
  // the last `tail` steps; 0 when there is none (not yet converged, or chaos).
  std::int64_t period = 0;
  // Sorted: the p values of the cycle (one for a fixed point); when period is 0,
  // the distinct values of the last `tail` iterates.
  std::vector<double> attractor;
};

// x_T and dx_T/db for one (w, b, x0, T): forward T steps, then the adjoint
// a_T = 1, a_{t-1} = a_t * w * s'(x_{t-1}), and dx_T/db = a_1 + ... + a_T
// (b enters every step with coefficient 1). `trajectory`, when given, receives
// x_0 ... x_T.
struct Trajectory {
  double x_T = 0.0;
  double dxT_db = 0.0;
};
Trajectory run_map(double w, double b, double x0, std::int64_t iterations, std::vector<double>* trajectory = nullptr);

// One point of the sweep (options are not validated here).
BifurcationPoint bifurcation_point(const BifurcationOptions& options, double b, double x0);

// Every (b, x0) of the grid: for each starting point in order, every b in
// grid order. Validates the options first.
std::vector<BifurcationPoint> sweep_bias(const BifurcationOptions& options);

// Where a fixed point x* = w s(x*) + b loses stability (see the .cpp for the
// derivation): a fold (saddle-node, w s'(x*) = 1, for w >= 4: the two ends of
// the hysteresis) or a flip (period doubling, w s'(x*) = -1, for w <= -4).
struct CriticalPoint {
  std::string kind;  // "fold" or "flip"
  double x = 0.0;    // the fixed point x*
  double b = 0.0;    // the bias at which it happens
};
// Sorted by b. Empty for |w| < 4; one point (x* = 0) for |w| == 4, the cusp.
std::vector<CriticalPoint> critical_points(double w);

// Per starting point (in the order of options.x0): the b where |dx_T/db| is
// largest on the grid.
struct SensitivityPeak {
  double x0 = 0.0;
  double b = 0.0;
  double abs_dxT_db = 0.0;
};
std::vector<SensitivityPeak> sensitivity_peaks(const std::vector<BifurcationPoint>& points);

}  // namespace gradlab::dynamics
