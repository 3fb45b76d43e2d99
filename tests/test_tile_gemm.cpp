// tile_gemm with weights packed once gives the bits of Eigen's own product with the same
// blocking (general_matrix_matrix_product::run, what MlpModel called before), for B plain and
// transposed, shapes that are not multiples of the kernel's panels, and depths that take several
// k-blocks; and it is the product (against a plain sum in long double).
#include "tile_gemm.hpp"

#include "test_util.hpp"

#include <doctest/doctest.h>

#include <cmath>

using namespace tweedie;

namespace {

// The reference: Eigen 3.4's product with the blocking it computes for (m, n, k).
template <class S>
void eigen_product(Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, const S* b, Eigen::Index ldb,
                   bool transpose_b, S* c) {
  using namespace Eigen::internal;
  Eigen::Index kc = k, mc = m, nc = n;
  computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index(1));
  struct Blocking : level3_blocking<S, S> {
    Blocking(Eigen::Index mc_, Eigen::Index nc_, Eigen::Index kc_, S* block_a, S* block_b) {
      this->m_mc = mc_;
      this->m_nc = nc_;
      this->m_kc = kc_;
      this->m_blockA = block_a;
      this->m_blockB = block_b;
    }
  };
  Eigen::Matrix<S, Eigen::Dynamic, 1> block_a(mc * kc), block_b(kc * nc);
  Blocking bl(mc, nc, kc, block_a.data(), block_b.data());
  if (transpose_b) {
    general_matrix_matrix_product<Eigen::Index, S, Eigen::ColMajor, false, S, Eigen::RowMajor, false,
                                  Eigen::ColMajor, 1>::run(m, n, k, a, m, b, ldb, c, 1, m, S(1), bl);
  } else {
    general_matrix_matrix_product<Eigen::Index, S, Eigen::ColMajor, false, S, Eigen::ColMajor, false,
                                  Eigen::ColMajor, 1>::run(m, n, k, a, m, b, ldb, c, 1, m, S(1), bl);
  }
}

template <class S>
void check_shapes() {
  using M = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  test::Inputs in(3);
  auto draw = [&](Eigen::Index rows, Eigen::Index cols) -> M {
    return in.uniform(rows, cols, -1.0, 1.0).template cast<S>();
  };
  for (const Eigen::Index m : {1, 7, 24, 48}) {
    for (const auto& [n, k] : {std::pair<Eigen::Index, Eigen::Index>{2, 64}, {64, 2}, {13, 29}, {256, 256},
                              {130, 1500}, {600, 70}}) {
      for (const bool transpose : {false, true}) {
        CAPTURE(m);
        CAPTURE(n);
        CAPTURE(k);
        CAPTURE(transpose);
        const M a = draw(m, k);
        // B as stored: (k x n) plain, or (n x k) read transposed.
        const M stored = transpose ? draw(n, k) : draw(k, n);
        const M c0 = draw(m, n);
        M expected = c0, got = c0;
        eigen_product<S>(m, n, k, a.data(), stored.data(), stored.rows(), transpose, expected.data());
        const auto packed = detail::pack_rhs<S>(m, n, k, stored.data(), stored.rows(), transpose);
        detail::GemmBuffers<S> buffers;
        detail::tile_gemm<S>(a.data(), m, packed, got.data(), m, buffers);
        CHECK(test::bitwise_equal(got.template cast<double>(), expected.template cast<double>()));
        const M b = transpose ? M(stored.transpose()) : stored;
        double worst = 0.0;
        for (Eigen::Index i = 0; i < m; ++i) {
          for (Eigen::Index j = 0; j < n; ++j) {
            long double sum = c0(i, j), scale = std::fabs(static_cast<long double>(c0(i, j)));
            for (Eigen::Index l = 0; l < k; ++l) {
              sum += static_cast<long double>(a(i, l)) * b(l, j);
              scale += std::fabs(static_cast<long double>(a(i, l)) * b(l, j));
            }
            worst = std::max(worst, static_cast<double>(std::fabs(got(i, j) - sum) / scale));
          }
        }
        CHECK(worst < (sizeof(S) == 8 ? 1e-14 : 1e-5));
      }
    }
  }
}

}  // namespace

TEST_CASE("tile_gemm with packed weights: Eigen's bits (float64)") { check_shapes<double>(); }
TEST_CASE("tile_gemm with packed weights: Eigen's bits (float32)") { check_shapes<float>(); }
