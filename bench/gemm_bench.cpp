// gemm_bench: the matrix products of gradlab_bench's two networks, one thread,
// on each backend this build can reach: Eigen's kernel (GemmWorkspace), the
// single-threaded OpenBLAS (a GRADLAB_GEMM_BACKEND=openblas build) and oneDNN's
// dnnl_sgemm (when libdnnl-dev is installed; measured only, run it with
// OMP_NUM_THREADS=1). It is how GemmWorkspace::kBlasMinDim and the default
// backend were chosen: `build/bin/gemm_bench --benchmark_min_time=0.5`.
//
// Shapes (m x n x depth, as a dense layer calls them): forward out = W in,
// weight gradient gW += g in^T (row-major gW), input gradient gin = W^T g.
#include <benchmark/benchmark.h>

#include <gradlab/gemm.hpp>
#include <random>
#include <string>
#include <vector>

#if GRADLAB_BENCH_DNNL
#include <dnnl.h>
#endif

namespace {

using namespace gradlab;

enum class Product { forward, weight_grad, input_grad };

struct Layer {
  Index units, inputs, batch;
};

template <typename M>
M random_matrix(Index rows, Index cols, std::mt19937& rng) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  M m(rows, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

enum class Backend { eigen, openblas, dnnl };

#if GRADLAB_BENCH_DNNL
// Column-major C (m x n) += A B is row-major C^T = B^T A^T: dnnl_sgemm is row-major.
template <typename Dst>
void dnnl_product(Dst& c, const GemmOperand& a, const GemmOperand& b) {
  using D = std::remove_cv_t<std::remove_reference_t<Dst>>;
  GemmOperand x = a, y = b;
  if (D::IsRowMajor) {
    x = b.t();
    y = a.t();
  }
  // Row-major problem: C^T (n x m) = Y^T X^T. A column-major operand is its own
  // transpose in row-major storage.
  const char ty = y.row_major ? 'T' : 'N';
  const char tx = x.row_major ? 'T' : 'N';
  dnnl_sgemm(ty, tx, y.cols, x.rows, x.cols, 1.0f, y.data, y.stride, x.data, x.stride, 1.0f, c.data(), c.outerStride());
}
#endif

void product(benchmark::State& state, Layer l, Product p, Backend backend) {
  std::mt19937 rng(1);
  const RowMatrix w = random_matrix<RowMatrix>(l.units, l.inputs, rng);
  const Matrix in = random_matrix<Matrix>(l.inputs, l.batch, rng);
  const Matrix g = random_matrix<Matrix>(l.units, l.batch, rng);
  Matrix out = Matrix::Zero(l.units, l.batch);
  RowMatrix gw = RowMatrix::Zero(l.units, l.inputs);
  Matrix gin = Matrix::Zero(l.inputs, l.batch);
  GemmWorkspace gemm;
  gemm.reserve(l.units, l.batch, l.inputs);
  gemm.reserve(l.units, l.inputs, l.batch);
  gemm.reserve(l.inputs, l.batch, l.units);
  auto run = [&](auto& c, const GemmOperand& a, const GemmOperand& b) {
    switch (backend) {
      case Backend::eigen: gemm.add_product_eigen(c, a, b); break;
      case Backend::openblas:
#if GRADLAB_GEMM_BLAS
        GemmWorkspace::add_product_blas(c, a, b);
#endif
        break;
      case Backend::dnnl:
#if GRADLAB_BENCH_DNNL
        dnnl_product(c, a, b);
#endif
        break;
    }
  };
  Index m = 0, n = 0, k = 0;
  for (auto _ : state) {
    switch (p) {
      case Product::forward:
        run(out, gemm_operand(w), gemm_operand(in));
        m = l.units, n = l.batch, k = l.inputs;
        break;
      case Product::weight_grad:
        run(gw, gemm_operand(g), gemm_operand(in).t());
        m = l.units, n = l.inputs, k = l.batch;
        break;
      case Product::input_grad:
        run(gin, gemm_operand(w).t(), gemm_operand(g));
        m = l.inputs, n = l.batch, k = l.units;
        break;
    }
    benchmark::ClobberMemory();
  }
  state.counters["GFLOPs"] = benchmark::Counter(
      2.0 * double(m) * double(n) * double(k) * double(state.iterations()) * 1e-9, benchmark::Counter::kIsRate);
  state.SetLabel(std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                 (GemmWorkspace::uses_blas(m, n, k) ? " (blas)" : " (eigen)"));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  std::vector<std::pair<std::string, Backend>> backends{{"eigen", Backend::eigen}};
#if GRADLAB_GEMM_BLAS
  backends.push_back({"openblas", Backend::openblas});
#endif
#if GRADLAB_BENCH_DNNL
  backends.push_back({"dnnl", Backend::dnnl});
#endif
  const std::vector<std::pair<std::string, Layer>> layers{
      {"64-100/b32", {100, 64, 32}},       {"100-100/b32", {100, 100, 32}},       {"100-10/b32", {10, 100, 32}},
      {"784-1024/b256", {1024, 784, 256}}, {"1024-1024/b256", {1024, 1024, 256}}, {"1024-10/b256", {10, 1024, 256}},
      {"100-100/b256", {100, 100, 256}},   {"256-256/b128", {256, 256, 128}},     {"128-128/b128", {128, 128, 128}},
  };
  const std::vector<std::pair<std::string, Product>> products{
      {"forward", Product::forward}, {"weight_grad", Product::weight_grad}, {"input_grad", Product::input_grad}};
  for (const auto& [lname, layer] : layers)
    for (const auto& [pname, p] : products)
      for (const auto& [bname, backend] : backends)
        benchmark::RegisterBenchmark((lname + "/" + pname + "/" + bname).c_str(), product, layer, p, backend)
            ->UseRealTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
