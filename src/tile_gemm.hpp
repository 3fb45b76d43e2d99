// C += A B on tiles of a fixed number of rows, through Eigen's GEBP kernel, with B (a network's
// weights) packed once at load.
//
// Why not `c.noalias() += a * b`: for the sizes of a network layer Eigen packs its operands into
// buffers that it allocates on the heap at every product once they exceed its stack limit
// (128 KB), it switches to a coefficient-based product for small sizes, and it packs B again at
// every product: for a tile of 24 rows against 256 x 256 weights, packing B cost a third of the
// product (25 % of a network evaluation's time). Here B is packed once, for the blocking Eigen
// chooses for (m, n, k), and each product runs the loop of Eigen 3.4's
// general_matrix_matrix_product::run with that blocking: the same kernels in the same order, so
// the same bits, and always the GEBP path. The blocking depends only on (m, n, k) and the
// machine's caches, so each row of a tile always goes through the same arithmetic.
#pragma once

#include <Eigen/Core>

#include <vector>

namespace tweedie::detail {

/// Packing buffer for the left operand (one thread's, grown on first use, aligned as GEBP needs).
template <class S>
struct GemmBuffers {
  Eigen::Matrix<S, Eigen::Dynamic, 1> a;
};

/// B (k x n) in GEBP's packed layout, for products with exactly `m` rows: the kc x nc blocks of
/// Eigen's blocking for (m, n, k), k-blocks outer, each starting on a 64-byte boundary.
template <class S>
struct PackedRhs {
  Eigen::Index m = 0, n = 0, k = 0, mc = 0, kc = 0, nc = 0;
  Eigen::Matrix<S, Eigen::Dynamic, 1> data;
  std::vector<Eigen::Index> offsets;  // of block (k2 / kc, j2 / nc), row-major over the blocks
};

namespace gemm {
template <class S>
using Traits = Eigen::internal::gebp_traits<S, S>;
template <class S, int Order>
using Mapper = Eigen::internal::const_blas_data_mapper<S, Eigen::Index, Order>;
inline Eigen::Index aligned(Eigen::Index count, Eigen::Index size) {
  const Eigen::Index per_line = 64 / size;
  return (count + per_line - 1) / per_line * per_line;
}
}  // namespace gemm

/// Packs B for m-row products: B is (k x n) column-major with leading dimension ldb when
/// `transpose_b` is false, and the transpose of a column-major (n x k) matrix with leading
/// dimension ldb when it is true.
template <class S>
PackedRhs<S> pack_rhs(Eigen::Index m, Eigen::Index n, Eigen::Index k, const S* b, Eigen::Index ldb,
                      bool transpose_b) {
  using namespace Eigen::internal;
  PackedRhs<S> p;
  p.m = m;
  p.n = n;
  p.k = k;
  Eigen::Index kc = k, mc = m, nc = n;
  computeProductBlockingSizes<S, S, 1, Eigen::Index>(kc, mc, nc, Eigen::Index(1));
  p.kc = kc;
  p.mc = std::min(m, mc);
  p.nc = std::min(n, nc);
  Eigen::Index size = 0;
  for (Eigen::Index k2 = 0; k2 < k; k2 += p.kc) {
    for (Eigen::Index j2 = 0; j2 < n; j2 += p.nc) {
      p.offsets.push_back(size);
      size += gemm::aligned(std::min(p.kc, k - k2) * std::min(p.nc, n - j2), sizeof(S));
    }
  }
  p.data.setZero(size);
  std::size_t block = 0;
  for (Eigen::Index k2 = 0; k2 < k; k2 += p.kc) {
    const Eigen::Index kk = std::min(p.kc, k - k2);
    for (Eigen::Index j2 = 0; j2 < n; j2 += p.nc, ++block) {
      const Eigen::Index nn = std::min(p.nc, n - j2);
      S* dst = p.data.data() + p.offsets[block];
      if (transpose_b) {
        gemm_pack_rhs<S, Eigen::Index, gemm::Mapper<S, Eigen::RowMajor>, gemm::Traits<S>::nr, Eigen::RowMajor> pack;
        pack(dst, gemm::Mapper<S, Eigen::RowMajor>(b, ldb).getSubMapper(k2, j2), kk, nn);
      } else {
        gemm_pack_rhs<S, Eigen::Index, gemm::Mapper<S, Eigen::ColMajor>, gemm::Traits<S>::nr, Eigen::ColMajor> pack;
        pack(dst, gemm::Mapper<S, Eigen::ColMajor>(b, ldb).getSubMapper(k2, j2), kk, nn);
      }
    }
  }
  return p;
}

/// c (b.m x b.n, column-major, leading dimension ldc) += a (b.m x b.k, column-major, lda) * B.
template <class S>
void tile_gemm(const S* a, Eigen::Index lda, const PackedRhs<S>& b, S* c, Eigen::Index ldc,
               GemmBuffers<S>& buffers) {
  using namespace Eigen::internal;
  using Traits = gemm::Traits<S>;
  using LhsMapper = gemm::Mapper<S, Eigen::ColMajor>;
  using ResMapper = blas_data_mapper<S, Eigen::Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  if (b.m == 0 || b.n == 0 || b.k == 0) return;
  if (buffers.a.size() < b.mc * b.kc) buffers.a.resize(b.mc * b.kc);
  gemm_pack_lhs<S, Eigen::Index, LhsMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing,
                Eigen::ColMajor>
      pack_lhs;
  gebp_kernel<S, S, Eigen::Index, ResMapper, Traits::mr, Traits::nr, false, false> gebp;
  const LhsMapper lhs(a, lda);
  const ResMapper res(c, ldc, 1);
  for (Eigen::Index i2 = 0; i2 < b.m; i2 += b.mc) {
    const Eigen::Index mm = std::min(b.mc, b.m - i2);
    std::size_t block = 0;
    for (Eigen::Index k2 = 0; k2 < b.k; k2 += b.kc) {
      const Eigen::Index kk = std::min(b.kc, b.k - k2);
      pack_lhs(buffers.a.data(), lhs.getSubMapper(i2, k2), kk, mm);
      for (Eigen::Index j2 = 0; j2 < b.n; j2 += b.nc, ++block) {
        const Eigen::Index nn = std::min(b.nc, b.n - j2);
        gebp(res.getSubMapper(i2, j2), buffers.a.data(), b.data.data() + b.offsets[block], mm, kk, nn, S(1));
      }
    }
  }
}

}  // namespace tweedie::detail
