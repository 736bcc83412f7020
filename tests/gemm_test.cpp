// GemmWorkspace (sdk/include/gradlab/gemm.hpp): the products Eigen's operator*
// computes, in every storage order, without allocating after reserve(); in a
// BLAS build, large products on OpenBLAS at one thread, bit-identical
// whatever the number of threads calling it at once.
#include <gtest/gtest.h>

#include <cstring>
#include <gradlab/gemm.hpp>
#include <random>
#include <thread>
#include <vector>

namespace {

using namespace gradlab;

template <typename M>
M random_matrix(Index rows, Index cols, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  M m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

struct Shape3 {
  Index m, n, k;
};

// Every combination of operand and destination storage order, for shapes that
// block on one, two or all three dimensions.
TEST(GemmWorkspace, MatchesEigenProductInEveryStorageOrder) {
  std::mt19937 rng(3);
  for (Shape3 s : {Shape3{100, 32, 100}, Shape3{10, 256, 1024}, Shape3{1024, 256, 784}, Shape3{97, 61, 1500}}) {
    SCOPED_TRACE("m=" + std::to_string(s.m) + " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k));
    const Matrix a = random_matrix<Matrix>(s.m, s.k, rng);
    const RowMatrix a_row = a;
    const Matrix b = random_matrix<Matrix>(s.k, s.n, rng);
    const RowMatrix b_row = b;
    const Matrix start = random_matrix<Matrix>(s.m, s.n, rng);
    Matrix expected = start;
    expected.noalias() += a * b;
    GemmWorkspace gemm;
    gemm.reserve(s.m, s.n, s.k);
    for (const auto& lhs : {gemm_operand(a), gemm_operand(a_row)})
      for (const auto& rhs : {gemm_operand(b), gemm_operand(b_row)}) {
        Matrix c = start;
        gemm.add_product_eigen(c, lhs, rhs);
        EXPECT_EQ(c, expected) << "not the same rounding as Eigen's operator*";
        // The dispatching product: Eigen's or BLAS's rounding, the same value.
        c = start;
        gemm.add_product(c, lhs, rhs);
        EXPECT_TRUE(c.isApprox(expected, 1e-5f));
        if (!GemmWorkspace::uses_blas(s.m, s.n, s.k))
          EXPECT_EQ(c, expected) << "a product below the BLAS threshold must run Eigen's kernel";
        RowMatrix c_row = start;
        gemm.add_product(c_row, lhs, rhs);
        EXPECT_TRUE(Matrix(c_row).isApprox(expected, 1e-5f));
      }
  }
}

TEST(GemmWorkspace, TransposedViewsAndScale) {
  std::mt19937 rng(4);
  const RowMatrix w = random_matrix<RowMatrix>(64, 48, rng);  // [out, in] as a dense layer holds it
  const Matrix g = random_matrix<Matrix>(64, 40, rng);
  const Matrix x = random_matrix<Matrix>(48, 40, rng);
  GemmWorkspace gemm;
  Matrix gin = Matrix::Zero(48, 40);
  gemm.add_product(gin, gemm_operand(w).t(), gemm_operand(g));  // grows on first use
  EXPECT_TRUE(gin.isApprox(w.transpose() * g, 1e-5f));
  RowMatrix gw = RowMatrix::Ones(64, 48);
  gemm.add_product(gw, gemm_operand(g), gemm_operand(x).t(), Scalar(-0.5));
  EXPECT_TRUE(Matrix(gw).isApprox(Matrix::Ones(64, 48) - 0.5f * g * x.transpose(), 1e-5f));
  // Views into a larger matrix (outer stride > rows).
  const Matrix big = random_matrix<Matrix>(80, 50, rng);
  Matrix c = Matrix::Zero(30, 20);
  gemm.add_product(c, gemm_operand(big.block(5, 0, 30, 50)), gemm_operand(big.block(0, 30, 50, 20)));
  EXPECT_TRUE(c.isApprox(big.block(5, 0, 30, 50) * big.block(0, 30, 50, 20), 1e-5f));
}

// Products smaller than the reserved shape (a short last batch) and larger
// ones (grown on demand) both give Eigen's result.
TEST(GemmWorkspace, SmallerAndLargerShapesThanReserved) {
  std::mt19937 rng(5);
  GemmWorkspace gemm;
  gemm.reserve(1024, 256, 1024);
  for (Shape3 s : {Shape3{1024, 7, 1024}, Shape3{1024, 256, 900}, Shape3{3, 256, 1024}, Shape3{1500, 300, 3000}}) {
    const Matrix a = random_matrix<Matrix>(s.m, s.k, rng);
    const Matrix b = random_matrix<Matrix>(s.k, s.n, rng);
    Matrix c = Matrix::Zero(s.m, s.n);
    gemm.add_product(c, gemm_operand(a), gemm_operand(b));
    EXPECT_TRUE(c.isApprox(a * b, 1e-5f)) << s.m << "x" << s.n << "x" << s.k;
  }
}

// Which kernel runs depends on the shape alone, so a run is reproducible.
TEST(GemmWorkspace, BackendChoiceFollowsTheShape) {
  EXPECT_STREQ(gemm_backend, GRADLAB_GEMM_BLAS ? "openblas" : "eigen");
  EXPECT_NE(std::strstr(abi_tag, (std::string(";gemm-") + gemm_backend).c_str()), nullptr) << abi_tag;
  EXPECT_FALSE(GemmWorkspace::uses_blas(10, 32, 100));  // the last layer of the small benchmark net
  EXPECT_EQ(GemmWorkspace::uses_blas(1024, 256, 1024), bool(GRADLAB_GEMM_BLAS));
  EXPECT_EQ(GemmWorkspace::uses_blas(100, 32, 100), bool(GRADLAB_GEMM_BLAS));
}

#if GRADLAB_GEMM_BLAS
// OpenBLAS at one thread, whatever libopenblas.so.0 the machine's
// alternatives point at or OPENBLAS_NUM_THREADS says.
TEST(GemmWorkspace, BlasRunsOnOneThread) {
  std::mt19937 rng(6);
  const Matrix a = random_matrix<Matrix>(200, 200, rng);
  Matrix c = Matrix::Zero(200, 200);
  GemmWorkspace gemm;
  gemm.add_product(c, gemm_operand(a), gemm_operand(a));
  EXPECT_TRUE(c.isApprox(a * a, 1e-4f));
  EXPECT_EQ(openblas_get_num_threads(), 1) << openblas_get_config();
}

// OpenBLAS hands each call a packing buffer from a shared table; only a build
// that locks it (the pthread build, or one with USE_LOCKING) is safe to call
// from several threads at once. Debian 12's serial build is not: there this
// test sees wrong products within a few hundred calls (mostly at the smallest
// shapes that go to BLAS, 64x32x64 and 256x64x256; measured 108 and 13 of
// 4000). Products computed on four threads at once must equal, bit for bit,
// the same ones computed alone.
TEST(GemmWorkspace, ConcurrentBlasProductsAreBitIdentical) {
  struct Problem {
    RowMatrix w;
    Matrix x, expected;
  };
  std::mt19937 rng(7);
  // m x n x depth, each at least kBlasMinVolume: the first layers of small and
  // mid-sized nets at batch 32 and 64, and a larger one.
  const Index shapes[][3] = {{64, 32, 64}, {256, 64, 256}, {100, 32, 100}, {187, 80, 250}};
  const int threads = 4, rounds = 1000;
  std::vector<Problem> problems;
  for (const auto& s : shapes) {
    ASSERT_TRUE(GemmWorkspace::uses_blas(s[0], s[1], s[2]));
    Problem p{random_matrix<RowMatrix>(s[0], s[2], rng), random_matrix<Matrix>(s[2], s[1], rng),
              Matrix::Zero(s[0], s[1])};
    GemmWorkspace::add_product_blas(p.expected, gemm_operand(p.w), gemm_operand(p.x));
    problems.push_back(std::move(p));
  }
  std::vector<int> mismatches(threads, 0);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      GemmWorkspace gemm;
      for (int r = 0; r < rounds; ++r)
        for (std::size_t i = 0; i < problems.size(); ++i) {
          const Problem& p = problems[(i + t) % problems.size()];
          Matrix c = Matrix::Zero(p.expected.rows(), p.expected.cols());
          gemm.add_product(c, gemm_operand(p.w), gemm_operand(p.x));
          if (c != p.expected) ++mismatches[t];
        }
    });
  for (auto& th : pool) th.join();
  for (int t = 0; t < threads; ++t)
    EXPECT_EQ(mismatches[t], 0) << "thread " << t << " of " << threads << ": wrong products on "
                                << openblas_get_config();
}
#endif

}  // namespace
