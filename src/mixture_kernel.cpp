#include "mixture_kernel.hpp"

#include "log_poly.hpp"
#include "numeric.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <numbers>
#include <type_traits>
#include <vector>

namespace tweedie::detail {
namespace {

// Rows go through the kernel kLanes at a time, one row per lane of GCC's vector values (lowered to
// whatever vector width the target has). Every operation is elementwise and every sum runs in
// index order inside its lane, so a row's bits are those of the same scalar arithmetic whatever
// its neighbours and their times, and nothing is reduced across lanes: a dimension of 2 fills the
// vectors as well as one of 64, and the tables of eight different times cost what one time's
// cost (a row at its own time still pays for its tables, which a row at a shared time reuses).
// (These values never cross this file's boundary: CMakeLists.txt silences the compiler's note
// that passing them between functions has an ABI that depends on the vector width.)
constexpr int kLanes = 8;
using Lanes = double __attribute__((vector_size(kLanes * sizeof(double))));
using LaneBits = std::uint64_t __attribute__((vector_size(kLanes * sizeof(double))));

Lanes broadcast(double v) { return Lanes{} + v; }

// Component k of p_t is N(alpha mu_k, diag(V_k)) with V_kj = alpha^2 s_kj^2 + sigma^2, so
// log N_k(x) = offset_k - 1/2 sum_j P_kj (x_j - m_kj)^2 with P = 1 / V, m = alpha mu and
// offset_k = log w_k - 1/2 (d log 2 pi + sum_j log V_kj). These helpers are the only places that
// compute them, for a shared time's tables and for rows at their own times alike.
template <class T>
T variance_at(T a2, T s2, double var) { return a2 * var + s2; }

// sum_j log V_j per lane, as the log of the product of the entries' mantissas plus the sum of their
// exponents: one log per component and row instead of one per entry. add() splits each entry; a
// lane with an entry outside [DBL_MIN, DBL_MAX] (zero, subnormal, infinite, NaN, negative: a zero
// variance, an extreme time) is flagged, and its sum is then the plain sum of logs (the caller
// recomputes it). multiply() multiplies the entry itself, for entries known to lie in
// [kLow, kHigh], renormalising after every kGroup of them: no product leaves the normal
// range, so scaling by a power of two is exact and every product has the mantissa add() gives.
class LogSum {
 public:
  static constexpr int kBlock = 512;  // add(): a product of a mantissa and 512 more stays below 2^513
  static constexpr int kGroup = 4;  // multiply(): products of kGroup entries within 2^+-1001
  static constexpr double kLow = 0x1p-250, kHigh = 0x1p+250;

  void add(Lanes v) {
    const LaneBits u = std::bit_cast<LaneBits>(v);
    const LaneBits e = u >> 52;                        // above 2047 when the sign is set
    outside_ |= static_cast<LaneBits>(e - 1 > 2045);  // biased exponent 0 or at least 2047
    exponents_ += e;
    product_ *= std::bit_cast<Lanes>((u & kMantissaBits) | kOneBits);
    ++biased_terms_;
  }
  void multiply(Lanes v) { product_ *= v; }
  // The product back to its mantissa in [1, 2), its exponent into the sum: after every kBlock
  // add()s or kGroup multiply()s, and last.
  void renormalise() {
    const LaneBits u = std::bit_cast<LaneBits>(product_);
    exponents_ += u >> 52;
    product_ = std::bit_cast<Lanes>((u & kMantissaBits) | kOneBits);
    ++biased_terms_;
  }
  bool outside(int lane) const { return outside_[lane] != 0; }
  // Lane l's sum: log_poly(mantissa[l]) + rest[l] (after a last renormalise()).
  void parts(Lanes& mantissa, Lanes& rest) const {
    mantissa = product_;
    for (int l = 0; l < kLanes; ++l) {
      rest[l] = static_cast<double>(static_cast<long long>(exponents_[l]) - 1023LL * biased_terms_) *
                std::numbers::ln2;
    }
  }

 private:
  static constexpr std::uint64_t kMantissaBits = (std::uint64_t{1} << 52) - 1;
  static constexpr std::uint64_t kOneBits = std::uint64_t{0x3FF} << 52;
  Lanes product_ = broadcast(1.0);
  LaneBits exponents_ = {}, outside_ = {};
  long long biased_terms_ = 0;
};

using Table = Eigen::Array<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The mixture's parameters, row-major K x d, and its log-weights.
struct Layout {
  Eigen::Index k, d;
  Table variance, mean;  // s_kj^2 and mu_kj
  Eigen::ArrayXd log_weight, min_variance, max_variance;  // per component
  double log_two_pi_d;

  explicit Layout(const GaussianMixture& g)
      : k(g.components()), d(g.dim()), variance(g.stds().array().square()), mean(g.means().array()),
        log_weight(g.weights().array().log()), min_variance(variance.rowwise().minCoeff()),
        max_variance(variance.rowwise().maxCoeff()), log_two_pi_d(static_cast<double>(g.dim()) * log_two_pi) {}
};

// offset_k per lane from its log-weight and the lanes' sums of log V_kj (lane l's V at
// alpha^2 = a2[l], sigma^2 = s2[l]); a flagged lane's sum is recomputed entry by entry.
Lanes offsets(const Layout& L, Eigen::Index c, const LogSum& logs, Lanes a2, Lanes s2) {
  Lanes mantissa, rest, out;
  logs.parts(mantissa, rest);
  for (int l = 0; l < kLanes; ++l) {  // a loop of polynomial logs vectorises
    out[l] = L.log_weight(c) - 0.5 * (L.log_two_pi_d + (log_poly(mantissa[l]) + rest[l]));
  }
  for (int l = 0; l < kLanes; ++l) {
    if (!logs.outside(l)) continue;
    double sum = 0.0;
    for (Eigen::Index j = 0; j < L.d; ++j) sum += std::log(variance_at(a2[l], s2[l], L.variance(c, j)));
    out[l] = L.log_weight(c) - 0.5 * (L.log_two_pi_d + sum);
  }
  return out;
}

// The tables of one time, shared by every block whose rows are all at that time.
struct TimeTables {
  double t = std::numeric_limits<double>::quiet_NaN();  // no time yet: NaN equals nothing
  Table precision, mean;  // P and m
  Eigen::ArrayXd offset, trace;  // offset_k and sum_j P_kj

  explicit TimeTables(const Layout& L) : precision(L.k, L.d), mean(L.k, L.d), offset(L.k), trace(L.k) {}

  void build(const Layout& L, double time, double a, double s) {
    const Lanes a2 = broadcast(a * a), s2 = broadcast(s * s);
    for (Eigen::Index c = 0; c < L.k; ++c) {
      LogSum logs;
      double tr = 0.0;
      for (Eigen::Index j0 = 0; j0 < L.d; j0 += LogSum::kBlock) {
        for (Eigen::Index j = j0; j < std::min(L.d, j0 + LogSum::kBlock); ++j) {
          const Lanes v = variance_at(a2, s2, L.variance(c, j));
          const double p = (1.0 / v)[0];
          precision(c, j) = p;
          mean(c, j) = a * L.mean(c, j);
          tr += p;
          logs.add(v);
        }
        logs.renormalise();
      }
      trace(c) = tr;
      offset(c) = offsets(L, c, logs, a2, s2)[0];
    }
    t = time;
  }
};

// One block's rows, transposed: entry j of every lane's row, and everything computed per lane.
struct Block {
  int rows = 0;                            // lanes holding rows of the input (the rest repeat the last)
  Lanes a, s;                              // alpha and sigma of each lane's time
  std::vector<Lanes> x, direction, score;  // d entries
  std::vector<Lanes> u;                    // d x K: the component scores u_k = P_k (m_k - x)
  std::vector<Lanes> precision;            // d x K: P, for H v at the lanes' own times
  std::vector<Lanes> logit, norm2, trace;  // K entries: log N_k + log w_k, |u_k|^2, sum_j P_kj
  std::vector<Lanes> sum_ru, sum_rp;       // d entries, for H v
  std::vector<double> spill;               // d entries: where the lanes past the input write

  explicit Block(const Layout& L, bool want_jvp)
      : x(L.d), direction(want_jvp ? L.d : 0), score(L.d), u(L.k * L.d), precision(want_jvp ? L.k * L.d : 0),
        logit(L.k), norm2(L.k), trace(L.k), sum_ru(want_jvp ? L.d : 0), sum_rp(want_jvp ? L.d : 0), spill(L.d) {}
};

// Calls body(group, c0) for the components in groups (group: std::integral_constant<int, G>,
// components c0 .. c0 + G - 1): a group's accumulators are independent chains that overlap in the
// pipeline, where one component's sum over j is a chain of dependent additions.
template <class Body>
void by_component_groups(Eigen::Index k, Body&& body) {
  Eigen::Index c = 0;
  for (; c + 4 <= k; c += 4) body(std::integral_constant<int, 4>{}, c);
  for (; c < k; ++c) body(std::integral_constant<int, 1>{}, c);
}

// u_k, the logits and (Norms) |u_k|^2 of the block's rows at the shared time of `tab`.
template <bool Norms>
void terms_shared(const Layout& L, const TimeTables& tab, Block& b) {
  by_component_groups(L.k, [&](auto group, Eigen::Index c0) {
    constexpr int G = decltype(group)::value;
    Lanes quad[G] = {}, norm[G] = {};
    for (Eigen::Index j = 0; j < L.d; ++j) {
      const Lanes xj = b.x[static_cast<std::size_t>(j)];
      for (int g = 0; g < G; ++g) {
        const Eigen::Index c = c0 + g;
        const Lanes diff = tab.mean(c, j) - xj;
        const Lanes uj = tab.precision(c, j) * diff;
        b.u[static_cast<std::size_t>(j * L.k + c)] = uj;
        quad[g] += uj * diff;
        if constexpr (Norms) norm[g] += uj * uj;
      }
    }
    for (int g = 0; g < G; ++g) {
      const auto c = static_cast<std::size_t>(c0 + g);
      b.logit[c] = tab.offset(c0 + g) - 0.5 * quad[g];
      if constexpr (Norms) {
        b.norm2[c] = norm[g];
        b.trace[c] = broadcast(tab.trace(c0 + g));
      }
    }
  });
}

// The same for rows each at its own time, building each lane's tables as it goes (the same
// arithmetic as TimeTables::build, entry for entry); KeepPrecision stores P for H v.
template <bool Norms, bool KeepPrecision>
void terms_own_times(const Layout& L, Block& b) {
  const Lanes a2 = b.a * b.a, s2 = b.s * b.s;
  by_component_groups(L.k, [&](auto group, Eigen::Index c0) {
    constexpr int G = decltype(group)::value;
    Lanes quad[G] = {}, norm[G] = {}, tr[G] = {};
    LogSum logs[G];
    // V_kj is monotone in s_kj^2: a component's extreme variances bound every entry of a lane.
    bool in_range = true;
    for (int g = 0; g < G; ++g) {
      const Lanes low = variance_at(a2, s2, L.min_variance(c0 + g));
      const Lanes high = variance_at(a2, s2, L.max_variance(c0 + g));
      for (int l = 0; l < kLanes; ++l) in_range = in_range && low[l] >= LogSum::kLow && high[l] <= LogSum::kHigh;
    }
    auto entries = [&](Eigen::Index j, auto&& log_of) {
      const Lanes xj = b.x[static_cast<std::size_t>(j)];
      for (int g = 0; g < G; ++g) {
        const Eigen::Index c = c0 + g;
        const Lanes v = variance_at(a2, s2, L.variance(c, j));
        const Lanes p = 1.0 / v;
        const Lanes diff = b.a * L.mean(c, j) - xj;
        const Lanes uj = p * diff;
        const auto at = static_cast<std::size_t>(j * L.k + c);
        b.u[at] = uj;
        quad[g] += uj * diff;
        if constexpr (Norms) {
          norm[g] += uj * uj;
          tr[g] += p;
        }
        if constexpr (KeepPrecision) b.precision[at] = p;
        log_of(logs[g], v);
      }
    };
    const Eigen::Index run = in_range ? LogSum::kGroup : LogSum::kBlock;
    for (Eigen::Index j0 = 0; j0 < L.d; j0 += run) {
      const Eigen::Index j1 = std::min(L.d, j0 + run);
      if (in_range) {
        for (Eigen::Index j = j0; j < j1; ++j) entries(j, [](LogSum& s, Lanes v) { s.multiply(v); });
      } else {
        for (Eigen::Index j = j0; j < j1; ++j) entries(j, [](LogSum& s, Lanes v) { s.add(v); });
      }
      for (LogSum& s : logs) s.renormalise();
    }
    for (int g = 0; g < G; ++g) {
      const Eigen::Index c = c0 + g;
      b.logit[static_cast<std::size_t>(c)] = offsets(L, c, logs[g], a2, s2) - 0.5 * quad[g];
      if constexpr (Norms) {
        b.norm2[static_cast<std::size_t>(c)] = norm[g];
        b.trace[static_cast<std::size_t>(c)] = tr[g];
      }
    }
  });
}

// out[j] = sum_k w_k entry(j, k) for the d entries, in component order.
template <class Entry>
void weighted_sum(Entry&& entry, const std::vector<Lanes>& w, Eigen::Index k, Eigen::Index d, std::vector<Lanes>& out) {
  // Four entries at a time: their sums are independent chains.
  Eigen::Index j = 0;
  for (; j + 4 <= d; j += 4) {
    Lanes acc[4] = {};
    for (Eigen::Index c = 0; c < k; ++c) {
      const Lanes wc = w[static_cast<std::size_t>(c)];
      for (int i = 0; i < 4; ++i) acc[i] += wc * entry(j + i, c);
    }
    std::copy(acc, acc + 4, out.begin() + j);
  }
  for (; j < d; ++j) {
    Lanes acc = {};
    for (Eigen::Index c = 0; c < k; ++c) acc += w[static_cast<std::size_t>(c)] * entry(j, c);
    out[static_cast<std::size_t>(j)] = acc;
  }
}

// sum_j a_j entry(j), in index order.
template <class Entry>
Lanes dot(const std::vector<Lanes>& a, Entry&& entry, Eigen::Index d) {
  Lanes acc = {};
  for (Eigen::Index j = 0; j < d; ++j) acc += a[static_cast<std::size_t>(j)] * entry(j);
  return acc;
}

// The 8 x 8 transpose of t in place: t[j][l] becomes t[l][j].
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 12
#error "the mixture kernel needs GCC 12 or later (__builtin_shufflevector), or clang"
#endif
void transpose(Lanes (&t)[kLanes]) {
  static_assert(kLanes == 8);
  Lanes u[kLanes], v[kLanes];
  for (int i = 0; i < kLanes; i += 2) {  // pairs of rows interleaved by entry
    u[i] = __builtin_shufflevector(t[i], t[i + 1], 0, 8, 2, 10, 4, 12, 6, 14);
    u[i + 1] = __builtin_shufflevector(t[i], t[i + 1], 1, 9, 3, 11, 5, 13, 7, 15);
  }
  for (int i = 0; i < kLanes; i += 4) {  // then by pairs of entries
    v[i] = __builtin_shufflevector(u[i], u[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    v[i + 1] = __builtin_shufflevector(u[i], u[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    v[i + 2] = __builtin_shufflevector(u[i + 1], u[i + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    v[i + 3] = __builtin_shufflevector(u[i + 1], u[i + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
  // v[0] holds entries 0 and 4 of rows 0-3, v[1] entries 2 and 6, v[2] 1 and 5, v[3] 3 and 7
  // (v[4 + i] the same of rows 4-7); then by quadruples.
  constexpr int first[4] = {0, 2, 1, 3};
  for (int i = 0; i < 4; ++i) {
    t[first[i]] = __builtin_shufflevector(v[i], v[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    t[first[i] + 4] = __builtin_shufflevector(v[i], v[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
}

// Rows into lanes: entries[j][l] = rows[l][j], by 8 x 8 tiles (the last one zero-padded).
void gather(const std::array<const double*, kLanes>& rows, Eigen::Index d, std::vector<Lanes>& entries) {
  for (Eigen::Index j0 = 0; j0 < d; j0 += kLanes) {
    const auto n = static_cast<std::size_t>(std::min<Eigen::Index>(kLanes, d - j0));
    Lanes tile[kLanes] = {};
    for (int l = 0; l < kLanes; ++l) {
      const double* from = rows[static_cast<std::size_t>(l)] + j0;
      if (n == kLanes) {
        std::memcpy(&tile[l], from, sizeof(Lanes));  // one vector load
      } else {
        std::memcpy(&tile[l], from, n * sizeof(double));
      }
    }
    transpose(tile);
    std::copy(tile, tile + n, entries.begin() + j0);
  }
}

// Lanes into rows: rows[l][j] = entries[j][l].
void scatter(const std::vector<Lanes>& entries, const std::array<double*, kLanes>& rows, Eigen::Index d) {
  for (Eigen::Index j0 = 0; j0 < d; j0 += kLanes) {
    const auto n = static_cast<std::size_t>(std::min<Eigen::Index>(kLanes, d - j0));
    Lanes tile[kLanes] = {};
    std::copy(entries.begin() + j0, entries.begin() + j0 + static_cast<Eigen::Index>(n), tile);
    transpose(tile);
    for (int l = 0; l < kLanes; ++l) {
      double* to = rows[static_cast<std::size_t>(l)] + j0;
      if (n == kLanes) {
        std::memcpy(to, &tile[l], sizeof(Lanes));
      } else {
        for (std::size_t j = 0; j < n; ++j) to[j] = tile[l][j];
      }
    }
  }
}

// The requested outputs of the block's rows i0 .. i0 + b.rows - 1 from its logits, its u_k and
// P_kj = precision(j, k).
template <class P>
void finish_block(const Layout& L, const MixtureOutputs& out, Eigen::Index i0, Block& b, P&& precision) {
  auto u = [&](Eigen::Index j, Eigen::Index c) { return b.u[static_cast<std::size_t>(j * L.k + c)]; };
  const auto k = static_cast<std::size_t>(L.k);
  Lanes top = b.logit[0];
  for (std::size_t c = 1; c < k; ++c) {
    for (int l = 0; l < kLanes; ++l) top[l] = b.logit[c][l] > top[l] ? b.logit[c][l] : top[l];
  }
  for (std::size_t c = 0; c < k; ++c) b.logit[c] -= top;
  // Eigen's vectorised exp: K x 8 doubles, 64-byte aligned, are whole packets of 2, 4 or 8, so
  // every row takes the same path (no scalar head or tail).
  auto e = Eigen::Map<Eigen::ArrayXd, Eigen::Aligned64>(reinterpret_cast<double*>(b.logit.data()), L.k * kLanes);
  e = e.exp();
  Lanes total = {};
  for (std::size_t c = 0; c < k; ++c) total += b.logit[c];
  if (out.log_density) {
    for (int l = 0; l < b.rows; ++l) (*out.log_density)(i0 + l) = top[l] + std::log(total[l]);
  }
  const bool want_div = out.divergence != nullptr;
  if (!out.score && !want_div && !out.jvp) return;
  std::vector<Lanes>& r = b.logit;  // the responsibilities
  for (std::size_t c = 0; c < k; ++c) r[c] /= total;
  weighted_sum(u, r, L.k, L.d, b.score);
  // Output rows of the block; the lanes past the input write to scratch.
  auto rows_of = [&](MatrixRef& m) {
    std::array<double*, kLanes> rows;
    for (int l = 0; l < kLanes; ++l) rows[static_cast<std::size_t>(l)] = l < b.rows ? m.row(i0 + l).data() : b.spill.data();
    return rows;
  };
  if (out.score) scatter(b.score, rows_of(*out.score), L.d);
  if (want_div) {
    // div s = sum_k r_k (|u_k|^2 - sum_j P_kj) - |s|^2.
    Lanes sum = {};
    for (std::size_t c = 0; c < k; ++c) sum += r[c] * (b.norm2[c] - b.trace[c]);
    const Lanes div = sum - dot(b.score, [&](Eigen::Index j) { return b.score[static_cast<std::size_t>(j)]; }, L.d);
    for (int l = 0; l < b.rows; ++l) (*out.divergence)(i0 + l) = div[l];
  }
  if (out.jvp) {
    // H v = sum_k r_k (u_k (u_k . v) - P_k v) - s (s . v).
    std::vector<Lanes>& rv = b.norm2;  // r_k (u_k . v), reusing the norms' storage
    for (std::size_t c = 0; c < k; ++c) {
      rv[c] = r[c] * dot(b.direction, [&](Eigen::Index j) { return u(j, static_cast<Eigen::Index>(c)); }, L.d);
    }
    std::vector<Lanes>& sum_ru = b.sum_ru;
    std::vector<Lanes>& sum_rp = b.sum_rp;
    weighted_sum(u, rv, L.k, L.d, sum_ru);
    weighted_sum(precision, r, L.k, L.d, sum_rp);
    const Lanes sv = dot(b.score, [&](Eigen::Index j) { return b.direction[static_cast<std::size_t>(j)]; }, L.d);
    for (Eigen::Index j = 0; j < L.d; ++j) {
      const auto js = static_cast<std::size_t>(j);
      sum_ru[js] = sum_ru[js] - b.direction[js] * sum_rp[js] - b.score[js] * sv;  // H v, in place
    }
    scatter(sum_ru, rows_of(*out.jvp), L.d);
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
  const bool want_norms = out.divergence != nullptr, want_jvp = out.jvp != nullptr;
  TimeTables tab(L);
  Block b(L, want_jvp);
  double last_t = std::numeric_limits<double>::quiet_NaN(), last_a = 0.0, last_s = 0.0;
  for (Eigen::Index i0 = 0; i0 < x.rows(); i0 += kLanes) {
    b.rows = static_cast<int>(std::min<Eigen::Index>(kLanes, x.rows() - i0));
    bool one_time = true;
    std::array<const double*, kLanes> rows, directions;
    for (int l = 0; l < kLanes; ++l) {  // the lanes past the input repeat its last row
      const Eigen::Index i = i0 + std::min(l, b.rows - 1);
      if (!(t(i) == last_t)) {
        last_t = t(i);
        last_a = sde.alpha(last_t);
        last_s = sde.sigma(last_t);
      }
      b.a[l] = last_a;
      b.s[l] = last_s;
      one_time = one_time && t(i) == t(i0);
      rows[static_cast<std::size_t>(l)] = x.row(i).data();
      if (want_jvp) directions[static_cast<std::size_t>(l)] = out.direction->row(i).data();
    }
    gather(rows, L.d, b.x);
    if (want_jvp) gather(directions, L.d, b.direction);
    if (one_time) {
      if (!(tab.t == t(i0))) tab.build(L, t(i0), b.a[0], b.s[0]);
      if (want_norms) {
        terms_shared<true>(L, tab, b);
      } else {
        terms_shared<false>(L, tab, b);
      }
      finish_block(L, out, i0, b, [&](Eigen::Index j, Eigen::Index c) { return broadcast(tab.precision(c, j)); });
      continue;
    }
    if (want_jvp) {
      want_norms ? terms_own_times<true, true>(L, b) : terms_own_times<false, true>(L, b);
    } else {
      want_norms ? terms_own_times<true, false>(L, b) : terms_own_times<false, false>(L, b);
    }
    finish_block(L, out, i0, b,
                 [&](Eigen::Index j, Eigen::Index c) { return b.precision[static_cast<std::size_t>(j * L.k + c)]; });
  }
}

}  // namespace tweedie::detail
