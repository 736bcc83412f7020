// orthogonal: W = gain * Q, Q with orthonormal rows (wide W) or columns (tall
// W), from the QR decomposition of a standard Gaussian matrix (Saxe, McClelland
// & Ganguli 2014, "Exact solutions to the nonlinear dynamics of learning in deep
// linear neural networks"). The columns of Q are multiplied by the signs of
// diag(R) so that Q is Haar-distributed (Mezzadri 2007), as
// torch.nn.init.orthogonal_ does; the Gaussian is drawn in the same order
// (row-major [fan_out, fan_in]) and transposed when wide, as torch does.
#include <Eigen/QR>
#include <gradlab/sdk.hpp>

namespace {

using namespace gradlab;

class Orthogonal final : public Initializer {
 public:
  explicit Orthogonal(const Params& p) : gain_(p.real("gain")) {}
  void fill(RowMatrixMap w, Rng& rng, const InitSite&) const override {
    if (w.size() == 0) return;
    const Index rows = w.rows(), cols = w.cols();
    using DMatrix = Eigen::MatrixXd;
    Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> g(rows, cols);
    std::normal_distribution<double> normal(0.0, 1.0);
    for (Index i = 0; i < g.size(); ++i) g.data()[i] = normal(rng);
    const bool wide = rows < cols;
    // The larger-by-smaller orientation: m >= n.
    DMatrix a = wide ? DMatrix(g.transpose()) : DMatrix(g);
    const Index m = a.rows(), n = a.cols();
    Eigen::HouseholderQR<DMatrix> qr(a);
    DMatrix q = qr.householderQ() * DMatrix::Identity(m, n);
    const DMatrix& r = qr.matrixQR();  // R is its upper triangle
    for (Index j = 0; j < n; ++j)
      if (r(j, j) < 0) q.col(j) = -q.col(j);
    q *= gain_;
    if (wide)
      w = q.transpose().cast<Scalar>();
    else
      w = q.cast<Scalar>();
  }

 private:
  double gain_;
};

void register_orthogonal(Registrar& r) {
  r.add_initializer(
      {"orthogonal",
       "W = gain * Q, Q a random orthogonal matrix from QR of a Gaussian (Saxe, McClelland & "
       "Ganguli 2014)",
       {ParamSpec::real("gain", 1.0).positive().describe("multiplies Q, so W W^T (wide) or W^T W (tall) = gain^2 I")}},
      [](const Params& p) { return std::make_unique<Orthogonal>(p); });
}

}  // namespace

GRADLAB_PLUGIN("orthogonal", "1.0.0", "Random orthogonal initialization", register_orthogonal)
