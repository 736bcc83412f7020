// Scalar and matrix vocabulary shared by the core and every plugin.
//
// Layout: a batch is a column-major [features, steps * batch] matrix, time-major
// (column t * batch + b is step t of example b); a Split stores each example's
// steps together, example-major (column e * steps + t); a sequence shorter than
// `steps` is padded at its end, and its length says how many steps are valid.
// Weights are stored as PyTorch stores them, row-major [out, in], so a weights
// file is a straight copy of the flat parameter vector.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <random>

namespace gradlab {

#ifdef GRADLAB_SCALAR_DOUBLE
using Scalar = double;
#define GRADLAB_SCALAR_NAME "f64"
#else
using Scalar = float;
#define GRADLAB_SCALAR_NAME "f32"
#endif

using Index = Eigen::Index;

using Matrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic>;
using RowMatrix = Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vector = Eigen::Matrix<Scalar, Eigen::Dynamic, 1>;

// Views into storage owned elsewhere (the network's flat vectors, its
// activation workspace). Sub-views start at arbitrary offsets, hence Unaligned.
using MatrixMap = Eigen::Map<Matrix>;
using ConstMatrixMap = Eigen::Map<const Matrix>;
using RowMatrixMap = Eigen::Map<RowMatrix>;
using ConstRowMatrixMap = Eigen::Map<const RowMatrix>;
using VectorMap = Eigen::Map<Vector>;
using ConstVectorMap = Eigen::Map<const Vector>;

// Every random draw of a run comes from the run's own engine, seeded from the
// run spec (or, in a study, from the study seed and the run key). Never a
// global engine: runs execute concurrently.
using Rng = std::mt19937_64;

// Per-example shape of a tensor flowing between layers: `features` rows,
// `steps` time steps (1 for feed-forward data).
struct Shape {
  Index features = 0;
  Index steps = 1;
  friend bool operator==(const Shape&, const Shape&) = default;
};

}  // namespace gradlab
