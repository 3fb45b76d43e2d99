// C += A B on fixed-shape tiles through Eigen's GEBP kernel with caller-owned packing buffers.
//
// Why not `c.noalias() += a * b`: for the sizes of a network layer Eigen packs its operands into
// buffers that it allocates on the heap at every product once they exceed its stack limit
// (128 KB), and it switches to a coefficient-based product for small sizes. Calling its
// general_matrix_matrix_product (Eigen 3.4) with our own blocking object keeps the same kernels,
// always the GEBP path, and buffers that belong to the calling thread's scratch, allocated once.
// The blocking sizes depend only on (m, n, k) and the machine's caches, so each row of a tile
// always goes through the same arithmetic.
#pragma once

#include <Eigen/Core>

namespace tweedie::detail {

/// Packing buffers for tile_gemm, grown on first use (aligned, as GEBP requires).
template <class S>
struct GemmBuffers {
  Eigen::Matrix<S, Eigen::Dynamic, 1> a, b;
};

/// c (m x n, column-major, leading dimension ldc) += a (m x k, column-major, lda) * B, where
/// B is (k x n) column-major with leading dimension ldb when `transpose_b` is false, and the
/// transpose of a column-major (n x k) matrix with leading dimension ldb when it is true.
template <class S>
void tile_gemm(Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* a, Eigen::Index lda, const S* b,
               Eigen::Index ldb, bool transpose_b, S* c, Eigen::Index ldc, GemmBuffers<S>& buffers) {
  using namespace Eigen::internal;
  struct Blocking : level3_blocking<S, S> {
    Blocking(Eigen::Index mc, Eigen::Index nc, Eigen::Index kc, S* block_a, S* block_b) {
      this->m_mc = mc;
      this->m_nc = nc;
      this->m_kc = kc;
      this->m_blockA = block_a;
      this->m_blockB = block_b;
    }
  };
  if (m == 0 || n == 0 || k == 0) return;
  Eigen::Index kc = k, mc = m, nc = n;
  computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index(1));
  if (buffers.a.size() < mc * kc) buffers.a.resize(mc * kc);
  if (buffers.b.size() < kc * nc) buffers.b.resize(kc * nc);
  Blocking blocking(mc, nc, kc, buffers.a.data(), buffers.b.data());
  if (transpose_b) {
    general_matrix_matrix_product<Eigen::Index, S, Eigen::ColMajor, false, S, Eigen::RowMajor, false,
                                  Eigen::ColMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, S(1), blocking);
  } else {
    general_matrix_matrix_product<Eigen::Index, S, Eigen::ColMajor, false, S, Eigen::ColMajor, false,
                                  Eigen::ColMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, S(1), blocking);
  }
}

}  // namespace tweedie::detail
