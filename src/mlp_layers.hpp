// The layers of an MlpModel on one tile of rows (column-major, one row per sample): dense,
// activations and their derivatives, LayerNorm with its tangent and adjoint.
//
// Every reduction over a row runs over the columns in order, one vector operation per column,
// so a row's arithmetic does not depend on where it sits in the tile (bitwise batch invariance).
#pragma once

#include <tweedie/mlp_model.hpp>

#include "tile_gemm.hpp"

#include <cmath>
#include <numbers>

namespace tweedie::detail {

template <class S>
using TileMatrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;  // column-major
template <class S>
using TileVector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
template <class S>
using RowVec = Eigen::Matrix<S, 1, Eigen::Dynamic>;

/// y = x W^T + b, stored as wt = W^T (in x out, column-major: the bytes of torch's [out, in]),
/// and packed once for tiles of `tile_rows` rows: wt for the forward product, W for the adjoint.
template <class S>
struct Dense {
  TileMatrix<S> wt;
  RowVec<S> b;
  PackedRhs<S> forward, adjoint;
  Eigen::Index in() const { return wt.rows(); }
  Eigen::Index out() const { return wt.cols(); }
  void pack(Eigen::Index tile_rows) {
    forward = pack_rhs<S>(tile_rows, out(), in(), wt.data(), in(), false);
    adjoint = pack_rhs<S>(tile_rows, in(), out(), wt.data(), in(), true);
  }
};

/// y += x W^T (no bias): the forward product and the tangent's.
template <class S>
void add_product(const TileMatrix<S>& x, const Dense<S>& d, TileMatrix<S>& y, GemmBuffers<S>& buf) {
  eigen_assert(x.rows() == d.forward.m && y.rows() == d.forward.m);
  tile_gemm<S>(x.data(), x.rows(), d.forward, y.data(), y.rows(), buf);
}
/// g_x += g_y W: the adjoint of add_product.
template <class S>
void add_adjoint(const TileMatrix<S>& gy, const Dense<S>& d, TileMatrix<S>& gx, GemmBuffers<S>& buf) {
  eigen_assert(gy.rows() == d.adjoint.m && gx.rows() == d.adjoint.m);
  tile_gemm<S>(gy.data(), gy.rows(), d.adjoint, gx.data(), gx.rows(), buf);
}
/// y = x W^T + b.
template <class S>
void dense(const TileMatrix<S>& x, const Dense<S>& d, TileMatrix<S>& y, GemmBuffers<S>& buf) {
  y.rowwise() = d.b;
  add_product(x, d, y, buf);
}

/// out = act(in), elementwise (out may be in).
template <class S>
void activate(Activation act, const TileMatrix<S>& in, TileMatrix<S>& out) {
  switch (act) {
    case Activation::silu: out.array() = in.array() / (S(1) + (-in.array()).exp()); return;
    case Activation::gelu:
      out = in.unaryExpr([](S v) { return S(0.5) * v * (S(1) + std::erf(v * S(std::numbers::sqrt2 / 2))); });
      return;
    case Activation::relu: out.array() = in.array().max(S(0)); return;
    case Activation::tanh: out.array() = in.array().tanh(); return;
    case Activation::none: out = in; return;
  }
}

/// act'(x) (relu'(0) = 0, as torch).
template <class S>
S activation_derivative(Activation act, S x) {
  switch (act) {
    case Activation::silu: {
      const S s = S(1) / (S(1) + std::exp(-x));
      return s * (S(1) + x * (S(1) - s));
    }
    case Activation::gelu:
      return S(0.5) * (S(1) + std::erf(x * S(std::numbers::sqrt2 / 2))) +
             x * std::exp(S(-0.5) * x * x) * S(0.5 * std::numbers::inv_sqrtpi * std::numbers::sqrt2);
    case Activation::relu: return x > S(0) ? S(1) : S(0);
    case Activation::tanh: {
      const S y = std::tanh(x);
      return S(1) - y * y;
    }
    case Activation::none: return S(1);
  }
  return S(1);
}

/// g *= act'(pre), elementwise: the chain rule through an activation (tangent and adjoint alike).
template <class S>
void times_derivative(Activation act, const TileMatrix<S>& pre, TileMatrix<S>& g) {
  if (act == Activation::none) return;
  g = g.binaryExpr(pre, [act](S gi, S x) { return gi * activation_derivative(act, x); });
}

/// out(i) = mean_j m(i, j), summed column by column.
template <class S>
void row_mean(const TileMatrix<S>& m, TileVector<S>& out) {
  out.setZero();
  for (Eigen::Index j = 0; j < m.cols(); ++j) out += m.col(j);
  out *= S(1) / S(m.cols());
}
/// out(i) = mean_j a(i, j) b(i, j).
template <class S>
void row_mean_product(const TileMatrix<S>& a, const TileMatrix<S>& b, TileVector<S>& out) {
  out.setZero();
  for (Eigen::Index j = 0; j < a.cols(); ++j) out += a.col(j).cwiseProduct(b.col(j));
  out *= S(1) / S(a.cols());
}

template <class S>
struct LayerNorm {
  RowVec<S> w, b;
  S eps = S(1e-5);
};

/// What LayerNorm keeps of its forward pass for the tangent and the adjoint.
template <class S>
struct NormState {
  TileMatrix<S> n;  // (h - mean) r
  TileVector<S> r;  // 1 / sqrt(var + eps), biased variance as torch
};

/// y = n w + b with n = (h - mean(h)) / sqrt(var(h) + eps) per row.
template <class S>
void layer_norm(const LayerNorm<S>& ln, const TileMatrix<S>& h, NormState<S>& st, TileMatrix<S>& y,
                TileVector<S>& tmp) {
  row_mean(h, tmp);
  st.n = h;
  st.n.colwise() -= tmp;
  row_mean_product(st.n, st.n, tmp);
  st.r = (tmp.array() + ln.eps).rsqrt();
  st.n.array().colwise() *= st.r.array();
  y.array() = st.n.array().rowwise() * ln.w.array();
  y.rowwise() += ln.b;
}

/// The normalisation's linear map, out = r (g - mean(g) - n mean(n g)) w-scaled on the way:
/// the tangent takes g = dh and multiplies by w after; the adjoint multiplies g by w before.
/// The map itself is symmetric, so the tangent and the adjoint are each other's transpose.
template <class S>
void normalisation_map(const NormState<S>& st, TileMatrix<S>& g, TileVector<S>& mean, TileVector<S>& mean_ng) {
  row_mean(g, mean);
  row_mean_product(st.n, g, mean_ng);
  g.colwise() -= mean;
  g -= (st.n.array().colwise() * mean_ng.array()).matrix();
  g.array().colwise() *= st.r.array();
}

}  // namespace tweedie::detail
