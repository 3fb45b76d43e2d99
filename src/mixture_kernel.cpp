#include "mixture_kernel.hpp"

#include "log_poly.hpp"
#include "numeric.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>

namespace tweedie::detail {
namespace {

// Every sum over the dimensions is accumulated in kLanes partial sums in a fixed order and then
// combined in a fixed order: the compiler vectorises these loops without reassociating anything,
// so the bits depend neither on the vector width nor on the row's neighbours.
constexpr Eigen::Index kLanes = 8;

Eigen::Index padded(Eigen::Index n) { return (n + kLanes - 1) / kLanes * kLanes; }

double lane_sum(const double (&acc)[kLanes]) {
  static_assert(kLanes == 8);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

double lane_dot(const double* a, const double* b, Eigen::Index n) {
  double acc[kLanes] = {};
  for (Eigen::Index j0 = 0; j0 < n; j0 += kLanes) {
    for (Eigen::Index l = 0; l < kLanes; ++l) acc[l] += a[j0 + l] * b[j0 + l];
  }
  return lane_sum(acc);
}

// Splits a positive normal double into its biased exponent and its mantissa in [1, 2).
inline std::uint64_t split(double v, double& mantissa) {
  constexpr std::uint64_t mantissa_bits = (std::uint64_t{1} << 52) - 1;
  constexpr std::uint64_t one_bits = std::uint64_t{0x3FF} << 52;
  const auto u = std::bit_cast<std::uint64_t>(v);
  mantissa = std::bit_cast<double>((u & mantissa_bits) | one_bits);
  return u >> 52;
}

// kLanes doubles or 64-bit integers as one value (GCC's vector extension, lowered to whatever
// vector width the target has): the compiler does not vectorise sum_log's mixed integer and
// floating-point lane loops on its own.
// Passing such a value between functions would change the ABI with the vector width; these all
// stay inside this file's inlined code, so GCC's note about it does not apply.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
using LaneDoubles = double __attribute__((vector_size(kLanes * sizeof(double))));
using LaneBits = std::uint64_t __attribute__((vector_size(kLanes * sizeof(double))));

// sum_j log v_j = log(mantissa) + rest.
struct LogSum {
  double mantissa;  // in [1, 2)
  double rest;
};

// sum_j log v_j over n (a multiple of kLanes) numbers in [DBL_MIN, DBL_MAX], as the log of the
// product of their mantissas plus the sum of their exponents: one log per component instead of
// one per entry, left to the caller (TimeTables::build takes all of them in one loop). Any other
// entry (zero, subnormal, infinite, NaN, negative: a zero variance, an extreme time) falls back
// to the plain sum of logs, as rest.
LogSum sum_log(const double* v, Eigen::Index n) {
  constexpr std::uint64_t mantissa_bits = (std::uint64_t{1} << 52) - 1;
  constexpr std::uint64_t one_bits = std::uint64_t{0x3FF} << 52;
  LaneDoubles product = LaneDoubles{} + 1.0;
  LaneBits exponents = {}, outside = {};  // sums of biased exponents, and the entries' range flags
  long long biased_terms = n;               // how many biased exponents `exponents` holds
  // Each lane's product back to its mantissa in [1, 2), its exponent into the lane's sum.
  auto renormalise = [&] {
    const LaneBits u = std::bit_cast<LaneBits>(product);
    exponents += u >> 52;
    product = std::bit_cast<LaneDoubles>((u & mantissa_bits) | one_bits);
    biased_terms += kLanes;
  };
  // A lane's product of a mantissa and up to 512 more stays below 2^513.
  constexpr Eigen::Index block = 512 * kLanes;
  for (Eigen::Index b0 = 0; b0 < n; b0 += block) {
    const Eigen::Index b1 = std::min(n, b0 + block);
    for (Eigen::Index j0 = b0; j0 < b1; j0 += kLanes) {
      LaneBits u;
      std::memcpy(&u, v + j0, sizeof u);
      const LaneBits e = u >> 52;  // above 2047 when the sign is set
      outside |= static_cast<LaneBits>(e - 1 > 2045);  // biased exponent 0 or at least 2047
      exponents += e;
      product *= std::bit_cast<LaneDoubles>((u & mantissa_bits) | one_bits);
    }
    renormalise();
  }
  std::uint64_t any_outside = 0;
  for (Eigen::Index l = 0; l < kLanes; ++l) any_outside |= outside[l];
  if (any_outside != 0) {
    double sum = 0.0;
    for (Eigen::Index j = 0; j < n; ++j) sum += std::log(v[j]);
    return {1.0, sum};
  }
  static_assert(kLanes == 8);  // the lanes' mantissas multiplied in a fixed tree, in [1, 256)
  const double lanes = ((product[0] * product[1]) * (product[2] * product[3])) *
                       ((product[4] * product[5]) * (product[6] * product[7]));
  double scale = 0.0;
  long long exponent = static_cast<long long>(split(lanes, scale)) - 1023;
  for (Eigen::Index l = 0; l < kLanes; ++l) exponent += static_cast<long long>(exponents[l]);
  exponent -= 1023 * biased_terms;
  return {scale, static_cast<double>(exponent) * std::numbers::ln2};
}

// Row-major K x dp: component k's dp = padded(d) entries are contiguous and start on a multiple of
// kLanes doubles (Eigen aligns the allocation); the padding is zero.
using Table = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The mixture's tables that do not depend on time.
struct Layout {
  Eigen::Index k, d, dp, kp;
  Table variance, mean;  // s_kj^2 and mu_kj
  Eigen::ArrayXd log_weight;

  explicit Layout(const GaussianMixture& g)
      : k(g.components()), d(g.dim()), dp(padded(d)), kp(padded(k)),
        variance(Table::Zero(k, dp)), mean(Table::Zero(k, dp)), log_weight(g.weights().array().log()) {
    variance.leftCols(d) = g.stds().array().square();
    mean.leftCols(d) = g.means().array();
  }
};

// The marginal's tables at one time: component k is N(alpha mu_k, diag(V_k)) with
// V_k = alpha^2 s_k^2 + sigma^2, so log N_k(x) = offset_k - 1/2 sum_j P_kj (x_j - m_kj)^2 with
// P = 1 / V, m = alpha mu and offset_k = log w_k - 1/2 (d log 2 pi + sum_j log V_kj).
struct TimeTables {
  double t = std::numeric_limits<double>::quiet_NaN();
  bool built = false;
  Table precision, mean;   // P and m, zero in the padding
  Eigen::ArrayXd offset;   // offset_k
  Eigen::ArrayXd trace;    // sum_j P_kj (for the divergence)
  Eigen::ArrayXd variance;  // one component's V, 1 in the padding (scratch)
  Eigen::ArrayXd mantissa, rest;  // each component's sum_log parts (scratch)

  TimeTables(const Layout& L)
      : precision(L.k, L.dp), mean(L.k, L.dp),
        offset(L.k), trace(L.k), variance(L.dp), mantissa(L.k), rest(L.k) {}

  void build(const Layout& L, double a, double s, bool want_trace) {
    const double a2 = a * a, s2 = s * s;
    double* v = variance.data();
    for (Eigen::Index c = 0; c < L.k; ++c) {
      const double* var0 = &L.variance(c, 0);
      const double* mu = &L.mean(c, 0);
      double* p = &precision(c, 0);
      double* m = &mean(c, 0);
      for (Eigen::Index j = 0; j < L.dp; ++j) v[j] = a2 * var0[j] + s2;
      for (Eigen::Index j = L.d; j < L.dp; ++j) v[j] = 1.0;
      for (Eigen::Index j = 0; j < L.dp; ++j) {
        p[j] = 1.0 / v[j];
        m[j] = a * mu[j];
      }
      for (Eigen::Index j = L.d; j < L.dp; ++j) p[j] = 0.0;
      const LogSum parts = sum_log(v, L.dp);
      mantissa(c) = parts.mantissa;
      rest(c) = parts.rest;
      if (want_trace) {
        double acc[kLanes] = {};
        for (Eigen::Index j0 = 0; j0 < L.dp; j0 += kLanes) {
          for (Eigen::Index l = 0; l < kLanes; ++l) acc[l] += p[j0 + l];
        }
        trace(c) = lane_sum(acc);
      }
    }
    const double log_two_pi_d = static_cast<double>(L.d) * log_two_pi;
    for (Eigen::Index c = 0; c < L.k; ++c) {  // a loop of polynomial logs vectorises
      offset(c) = L.log_weight(c) - 0.5 * (log_two_pi_d + (log_poly(mantissa(c)) + rest(c)));
    }
  }
};

// One row's working storage.
struct RowScratch {
  Eigen::ArrayXd x, direction, score, sum_rp, sum_ru;  // dp entries, zero in the padding
  Table u;               // K x dp: the component scores s_k = P_k (m_k - x)
  Eigen::ArrayXd logit;  // kp entries (whole packets), then the unnormalised responsibilities
  Eigen::ArrayXd norm2;  // |s_k|^2

  explicit RowScratch(const Layout& L)
      : x(Eigen::ArrayXd::Zero(L.dp)), direction(Eigen::ArrayXd::Zero(L.dp)), score(L.dp), sum_rp(L.dp),
        sum_ru(L.dp), u(L.k, L.dp), logit(Eigen::ArrayXd::Zero(L.kp)), norm2(L.k) {}
};

// The component scores u_k and log-densities of the row in `sc.x` (the norms |u_k|^2 too when
// Norms).
template <bool Norms>
void component_terms(const Layout& L, const TimeTables& tab, RowScratch& sc) {
  const double* x = sc.x.data();
  for (Eigen::Index c = 0; c < L.k; ++c) {
    const double* p = &tab.precision(c, 0);
    const double* m = &tab.mean(c, 0);
    double* u = &sc.u(c, 0);
    double quad[kLanes] = {}, norm[kLanes] = {};
    for (Eigen::Index j0 = 0; j0 < L.dp; j0 += kLanes) {
      for (Eigen::Index l = 0; l < kLanes; ++l) {
        const double diff = m[j0 + l] - x[j0 + l];
        const double uj = p[j0 + l] * diff;
        u[j0 + l] = uj;
        quad[l] += uj * diff;
        if constexpr (Norms) norm[l] += uj * uj;
      }
    }
    sc.logit(c) = tab.offset(c) - 0.5 * lane_sum(quad);
    if constexpr (Norms) sc.norm2(c) = lane_sum(norm);
  }
}

// sum_k w_k rows_k (K x dp) into out (dp entries).
void weighted_rows(const Table& rows, const double* w, Eigen::Index k, Eigen::Index dp, double* out) {
  std::fill(out, out + dp, 0.0);
  for (Eigen::Index c = 0; c < k; ++c) {
    const double* r = &rows(c, 0);
    const double wc = w[c];
    for (Eigen::Index j = 0; j < dp; ++j) out[j] += wc * r[j];
  }
}

void evaluate_row(const Layout& L, const TimeTables& tab, const MixtureOutputs& out, Eigen::Index i,
                  RowScratch& sc) {
  const bool want_div = out.divergence != nullptr;
  if (want_div) {
    component_terms<true>(L, tab, sc);
  } else {
    component_terms<false>(L, tab, sc);
  }
  const double top = sc.logit.head(L.k).maxCoeff();
  sc.logit.head(L.k) -= top;
  sc.logit = sc.logit.exp();  // kp entries: whole packets, so every row takes the same path
  double total = 0.0;
  for (Eigen::Index c = 0; c < L.k; ++c) total += sc.logit(c);
  if (out.log_density) (*out.log_density)(i) = top + std::log(total);
  if (!out.score && !want_div && !out.jvp) return;
  Eigen::ArrayXd& r = sc.logit;
  r.head(L.k) /= total;
  double* s = sc.score.data();
  weighted_rows(sc.u, r.data(), L.k, L.dp, s);
  if (out.score) out.score->row(i) = sc.score.head(L.d).matrix().transpose();
  if (want_div) {
    // div s = sum_k r_k (|s_k|^2 - sum_j P_kj) - |s|^2.
    double sum = 0.0;
    for (Eigen::Index c = 0; c < L.k; ++c) sum += r(c) * (sc.norm2(c) - tab.trace(c));
    (*out.divergence)(i) = sum - lane_dot(s, s, L.dp);
  }
  if (out.jvp) {
    // H v = sum_k r_k (s_k (s_k . v) - P_k v) - s (s . v).
    sc.direction.head(L.d) = out.direction->row(i).transpose().array();
    const double* v = sc.direction.data();
    Eigen::ArrayXd& rv = sc.norm2;  // r_k (s_k . v), reusing the norms' storage
    for (Eigen::Index c = 0; c < L.k; ++c) rv(c) = r(c) * lane_dot(&sc.u(c, 0), v, L.dp);
    weighted_rows(sc.u, rv.data(), L.k, L.dp, sc.sum_ru.data());
    weighted_rows(tab.precision, r.data(), L.k, L.dp, sc.sum_rp.data());
    const double sv = lane_dot(s, v, L.dp);
    for (Eigen::Index j = 0; j < L.d; ++j) {
      (*out.jvp)(i, j) = sc.sum_ru(j) - v[j] * sc.sum_rp(j) - s[j] * sv;
    }
  }
}

}  // namespace

void evaluate_mixture(const GaussianMixture& g, const Sde& sde, const ConstVectorRef& t,
                      const ConstMatrixRef& x, const MixtureOutputs& out) {
  if (x.cols() != g.dim()) {
    throw InvalidArgument(
        fmt::format("Gaussian mixture of dimension {} given rows of {} numbers", g.dim(), x.cols()));
  }
  if (t.size() != x.rows()) {
    throw InvalidArgument(fmt::format("{} times given for {} rows", t.size(), x.rows()));
  }
  const Layout L(g);
  TimeTables tab(L);
  RowScratch sc(L);
  for (Eigen::Index i = 0; i < x.rows(); ++i) {
    if (!tab.built || !(t(i) == tab.t)) {
      tab.build(L, sde.alpha(t(i)), sde.sigma(t(i)), out.divergence != nullptr);
      tab.t = t(i);
      tab.built = true;
    }
    sc.x.head(L.d) = x.row(i).transpose().array();
    evaluate_row(L, tab, out, i, sc);
  }
}

}  // namespace tweedie::detail
