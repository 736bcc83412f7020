// Matrix products that never allocate: C += alpha * A * B with the packing
// buffers held by the caller (a layer sizes them in reserve()).
//
// Why: Eigen's `c.noalias() += a * b` packs both operands into buffers it
// obtains per call, on the stack when they are under EIGEN_STACK_ALLOCATION_LIMIT
// and on the heap otherwise. Their size follows the CPU's cache sizes (queried
// at run time), so whether a product allocates, or puts megabytes on a thread's
// stack, depends on the machine. GemmWorkspace runs the same Eigen kernel
// (internal::general_matrix_matrix_product, the one behind Eigen's operator*)
// with the blocking sizes Eigen would pick for the shape, on buffers it owns:
// the result is the one Eigen computes, and nothing is allocated once
// reserve() has seen the largest shapes.
//
//   GemmWorkspace gemm;
//   gemm.reserve(units, max_batch, inputs);          // in Layer::reserve
//   out.colwise() = bias;
//   gemm.add_product(out, gemm_operand(W), gemm_operand(in));           // out += W in
//   gemm.add_product(gW, gemm_operand(grad_out), gemm_operand(in).t()); // gW += g in^T
//
// Operands are views with unit inner stride (Matrix, RowMatrix, their Maps and
// contiguous blocks); `.t()` transposes a view without copying. On an Eigen
// version whose internals this header does not know, add_product falls back to
// Eigen's operator* (same results; then products may allocate again, which
// tests/allocation_test.cpp would report).
//
// BLAS backend. Built with GRADLAB_GEMM_BLAS=1 (CMake: GRADLAB_GEMM_BACKEND=openblas,
// the default where Debian's libopenblas-pthread-dev is installed), products of
// at least kBlasMinVolume multiply-adds go to cblas_sgemm of OpenBLAS run on one
// thread (faster there, see bench/gemm_bench.cpp), smaller ones to the Eigen
// kernel above. Which kernel runs depends on the shape and the machine only, so
// a run is bit-identical on one machine and backend however many runs execute
// at once. That needs an OpenBLAS that locks the packing-buffer table it hands
// each call: the pthread build does; Debian 12's serial build does not (built
// without USE_LOCKING, it returns wrong products when two threads call it at
// once), hence the pthread build at one thread (tests/gemm_test.cpp checks
// concurrent products). OpenBLAS packs into buffers it maps on its first call
// and keeps, so products still allocate nothing after the first step. The
// backend is part of the ABI tag.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <memory>
#include <type_traits>

#include "gradlab/abi.hpp"
#include "gradlab/types.hpp"

#if EIGEN_WORLD_VERSION == 3 && EIGEN_MAJOR_VERSION == 4
#define GRADLAB_GEMM_DIRECT 1
#else
#define GRADLAB_GEMM_DIRECT 0
#endif

#ifndef GRADLAB_GEMM_BLAS
#define GRADLAB_GEMM_BLAS 0
#endif
#if GRADLAB_GEMM_BLAS
#include <cblas.h>
#endif

namespace gradlab {

// A read-only matrix view: `rows` x `cols`, consecutive elements of a column
// (column-major) or of a row (row-major), `stride` apart between columns (rows).
struct GemmOperand {
  const Scalar* data = nullptr;
  Index rows = 0, cols = 0, stride = 0;
  bool row_major = false;
  // The transpose, as a view of the same memory.
  GemmOperand t() const { return {data, cols, rows, stride, !row_major}; }
};

template <typename Derived>
GemmOperand gemm_operand(const Eigen::DenseBase<Derived>& m) {
  static_assert(Derived::InnerStrideAtCompileTime == 1, "gemm_operand needs a unit inner stride");
  const Derived& d = m.derived();
  return {d.data(), d.rows(), d.cols(), d.outerStride(), bool(Derived::IsRowMajor)};
}

// The backend this translation unit was built with: "eigen" or "openblas".
inline constexpr const char* gemm_backend = GRADLAB_ABI_GEMM;

#if GRADLAB_GEMM_BLAS
namespace detail {
// OpenBLAS's pthread build would spread one product over every core (and a
// study runs one run per core): its threads are set to one, once, before the
// first product, so each product runs on the thread that calls it. The setting
// is the library's, so a host that uses the same OpenBLAS for its own threaded
// products gets one thread there too (documented in docs/writing_plugins.md).
inline bool blas_single_threaded() {
  static const bool once = [] {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
    return true;
  }();
  return once;
}
}  // namespace detail
#endif

class GemmWorkspace {
 public:
  // Products of at least this many multiply-adds (m * n * depth) go to BLAS
  // when built with it. Measured with bench/gemm_bench.cpp on this project's
  // machine (AMD EPYC, AVX2): OpenBLAS's kernel is 1.3-1.6x Eigen's from
  // 100x32x64 up to 1024x256x1024; on 10x32x100 they are even and Eigen's call
  // is cheaper.
  static constexpr Index kBlasMinVolume = Index(1) << 16;
  // Whether a product of m x depth by depth x n runs on BLAS (never in an Eigen build).
  static constexpr bool uses_blas(Index m, Index n, Index depth) {
    return GRADLAB_GEMM_BLAS && m * n * depth >= kBlasMinVolume;
  }

  // Makes room for products with a result of up to rows x cols (either
  // orientation) and an inner dimension of up to depth. Call it for each shape
  // the caller will use; the buffers grow to the largest. May allocate.
  void reserve(Index rows, Index cols, Index depth) {
#if GRADLAB_GEMM_DIRECT
    if (rows <= 0 || cols <= 0 || depth <= 0) return;
    Index need_a = 0, need_b = 0;
    for (int orientation = 0; orientation < 2; ++orientation) {
      Index k = depth, m = orientation ? cols : rows, n = orientation ? rows : cols;
      blocking_sizes(k, m, n);
      need_a = std::max(need_a, k * m);
      need_b = std::max(need_b, k * n);
    }
    // Room for at least one register panel (mr x kc, kc x nr) at any depth up to
    // `depth`, so a smaller product never has to shrink kc (see add_product).
    const Index kc_bound = std::min<Index>(depth, kMaxKc);
    need_a = std::max(need_a, kc_bound * Traits::mr);
    need_b = std::max(need_b, kc_bound * Traits::nr);
    grow(a_, capacity_a_, need_a);
    grow(b_, capacity_b_, need_b);
    reserved_depth_ = std::max(reserved_depth_, depth);
#else
    (void)rows;
    (void)cols;
    (void)depth;
#endif
  }

  // c += alpha * a * b. `c` is a column- or row-major matrix or Map with unit
  // inner stride; it must not overlap a or b. Allocates nothing when the shape
  // fits what reserve() was told.
  template <typename Dst>
  void add_product(Dst&& c, const GemmOperand& a, const GemmOperand& b, Scalar alpha = Scalar(1)) {
    using D = std::remove_cv_t<std::remove_reference_t<Dst>>;
    static_assert(D::InnerStrideAtCompileTime == 1, "add_product needs a destination with unit inner stride");
    eigen_assert(a.cols == b.rows && c.rows() == a.rows && c.cols() == b.cols);
    if (a.rows == 0 || b.cols == 0 || a.cols == 0) return;
#if GRADLAB_GEMM_BLAS
    if (uses_blas(a.rows, b.cols, a.cols)) return add_product_blas(c, a, b, alpha);
#endif
    add_product_eigen(c, a, b, alpha);
  }

#if GRADLAB_GEMM_BLAS
  // c += alpha * a * b on BLAS whatever the shape (tests, benchmarks).
  template <typename Dst>
  static void add_product_blas(Dst&& c, const GemmOperand& a, const GemmOperand& b, Scalar alpha = Scalar(1)) {
    using D = std::remove_cv_t<std::remove_reference_t<Dst>>;
    static_assert(D::InnerStrideAtCompileTime == 1, "add_product needs a destination with unit inner stride");
    if (a.rows == 0 || b.cols == 0 || a.cols == 0) return;
    if (D::IsRowMajor)  // C^T = B^T A^T, with C^T column-major
      blas(c.data(), c.outerStride(), b.t(), a.t(), alpha);
    else
      blas(c.data(), c.outerStride(), a, b, alpha);
  }
#endif

  // c += alpha * a * b with Eigen's kernel whatever the shape (tests, benchmarks).
  template <typename Dst>
  void add_product_eigen(Dst&& c, const GemmOperand& a, const GemmOperand& b, Scalar alpha = Scalar(1)) {
    using D = std::remove_cv_t<std::remove_reference_t<Dst>>;
    static_assert(D::InnerStrideAtCompileTime == 1, "add_product needs a destination with unit inner stride");
    if (a.rows == 0 || b.cols == 0 || a.cols == 0) return;
#if GRADLAB_GEMM_DIRECT
    if (D::IsRowMajor)  // C^T = B^T A^T, with C^T column-major
      run(c.data(), c.outerStride(), b.t(), a.t(), alpha);
    else
      run(c.data(), c.outerStride(), a, b, alpha);
#else
    using ConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
    using ConstRowMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
    auto with = [&](auto&& lhs) {
      if (b.row_major)
        c.noalias() += alpha * lhs * ConstRowMap(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.stride));
      else
        c.noalias() += alpha * lhs * ConstMap(b.data, b.rows, b.cols, Eigen::OuterStride<>(b.stride));
    };
    if (a.row_major)
      with(ConstRowMap(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.stride)));
    else
      with(ConstMap(a.data, a.rows, a.cols, Eigen::OuterStride<>(a.stride)));
#endif
  }

 private:
#if GRADLAB_GEMM_BLAS
  // C (column-major, m x n, leading dimension ldc) += alpha * A * B on BLAS. A
  // row-major operand is the transpose of a column-major one with the same stride.
  static void blas(Scalar* c, Index ldc, const GemmOperand& a, const GemmOperand& b, Scalar alpha) {
    detail::blas_single_threaded();
    const auto ta = a.row_major ? CblasTrans : CblasNoTrans;
    const auto tb = b.row_major ? CblasTrans : CblasNoTrans;
    const auto m = static_cast<blasint>(a.rows), n = static_cast<blasint>(b.cols), k = static_cast<blasint>(a.cols);
#ifdef GRADLAB_SCALAR_DOUBLE
    cblas_dgemm(CblasColMajor, ta, tb, m, n, k, alpha, a.data, static_cast<blasint>(a.stride), b.data,
                static_cast<blasint>(b.stride), 1.0, c, static_cast<blasint>(ldc));
#else
    cblas_sgemm(CblasColMajor, ta, tb, m, n, k, alpha, a.data, static_cast<blasint>(a.stride), b.data,
                static_cast<blasint>(b.stride), 1.0f, c, static_cast<blasint>(ldc));
#endif
  }
#endif
#if GRADLAB_GEMM_DIRECT
  using Traits = Eigen::internal::gebp_traits<Scalar, Scalar>;
  static constexpr Index kMaxKc = 2048;

  struct Blocking : Eigen::internal::level3_blocking<Scalar, Scalar> {
    Blocking(Scalar* a, Scalar* b, Index mc, Index nc, Index kc) {
      this->m_blockA = a;
      this->m_blockB = b;
      this->m_mc = mc;
      this->m_nc = nc;
      this->m_kc = kc;
    }
  };

  struct Free {
    void operator()(Scalar* p) const { Eigen::internal::aligned_free(p); }
  };
  using Buffer = std::unique_ptr<Scalar[], Free>;

  static void blocking_sizes(Index& k, Index& m, Index& n) {
    Eigen::internal::computeProductBlockingSizes<Scalar, Scalar, 1>(k, m, n, Index(1));
  }

  static void grow(Buffer& buffer, Index& capacity, Index need) {
    if (need <= capacity) return;
    buffer.reset(static_cast<Scalar*>(Eigen::internal::aligned_malloc(sizeof(Scalar) * std::size_t(need))));
    capacity = need;
  }

  // C (column-major, m x n, leading dimension ldc) += alpha * A * B.
  void run(Scalar* c, Index ldc, const GemmOperand& a, const GemmOperand& b, Scalar alpha) {
    const Index m = a.rows, n = b.cols, depth = a.cols;
    Index kc = depth, mc = m, nc = n;
    blocking_sizes(kc, mc, nc);  // what Eigen's operator* would use
    // A product larger than reserve() was told about: grow (allocates) rather
    // than fail. Shapes within the reserved ones only ever shrink mc / nc here,
    // which changes the traversal, not the arithmetic of any element.
    if (depth > reserved_depth_) reserve(m, n, depth);
    kc = std::min(kc, std::min(capacity_a_ / Traits::mr, capacity_b_ / Traits::nr));
    if (kc * mc > capacity_a_) mc = std::max<Index>(Traits::mr, (capacity_a_ / kc) / Traits::mr * Traits::mr);
    if (kc * nc > capacity_b_) nc = std::max<Index>(Traits::nr, (capacity_b_ / kc) / Traits::nr * Traits::nr);
    Blocking blocking(a_.get(), b_.get(), mc, nc, kc);
    using namespace Eigen;
    if (a.row_major && b.row_major)
      internal::general_matrix_matrix_product<Index, Scalar, RowMajor, false, Scalar, RowMajor, false, ColMajor,
                                              1>::run(m, n, depth, a.data, a.stride, b.data, b.stride, c, 1, ldc, alpha,
                                                      blocking);
    else if (a.row_major)
      internal::general_matrix_matrix_product<Index, Scalar, RowMajor, false, Scalar, ColMajor, false, ColMajor,
                                              1>::run(m, n, depth, a.data, a.stride, b.data, b.stride, c, 1, ldc, alpha,
                                                      blocking);
    else if (b.row_major)
      internal::general_matrix_matrix_product<Index, Scalar, ColMajor, false, Scalar, RowMajor, false, ColMajor,
                                              1>::run(m, n, depth, a.data, a.stride, b.data, b.stride, c, 1, ldc, alpha,
                                                      blocking);
    else
      internal::general_matrix_matrix_product<Index, Scalar, ColMajor, false, Scalar, ColMajor, false, ColMajor,
                                              1>::run(m, n, depth, a.data, a.stride, b.data, b.stride, c, 1, ldc, alpha,
                                                      blocking);
  }

  Buffer a_, b_;
  Index capacity_a_ = 0, capacity_b_ = 0;
  Index reserved_depth_ = 0;
#endif
};

}  // namespace gradlab
