#include "dense_output.hpp"

#include "adaptive_control.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace tweedie::detail {
namespace {

// scipy's RK45.P (Shampine 1986, the optimum c_6): b_i(s) = sum_j P[i][j] s^(j + 1).
constexpr std::array<std::array<double, 4>, 7> kDopri5P{{
    {1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0, -12715105075.0 / 11282082432.0},
    {0.0, 0.0, 0.0, 0.0},
    {0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0, 87487479700.0 / 32700410799.0},
    {0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0, -10690763975.0 / 1880347072.0},
    {0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0, 701980252875.0 / 199316789632.0},
    {0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0, -1453857185.0 / 822651844.0},
    {0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0},
}};

}  // namespace

DenseGridOutput::DenseGridOutput(std::span<const double> grid, Eigen::Index rows, Eigen::Index dim, Emit emit)
    : grid_(grid), last_(grid.size() >= 2 ? grid.size() - 2 : 0), descending_(grid.back() < grid.front()),
      rows_(rows), dim_(dim), emit_(std::move(emit)), row_(static_cast<std::size_t>(rows)) {}

Matrix& DenseGridOutput::states(std::size_t k) {
  while (pending_.size() <= k - first_pending_) pending_.emplace_back(rows_, dim_);
  return pending_[k - first_pending_];
}

template <class Value>
void DenseGridOutput::fill(Eigen::Index r, double t1, const RowRef& x1, Value&& value) {
  Row& row = row_[static_cast<std::size_t>(r)];
  Eigen::RowVectorXd v(dim_);
  while (row.next <= last_ && !before(t1, grid_[row.next])) {
    const double t = grid_[row.next];
    if (t == t1) {
      states(row.next).row(r) = x1;  // a step that lands on a grid point: its state itself
    } else {
      value(t, v);
      states(row.next).row(r) = v;
    }
    ++row.next;
  }
}

void DenseGridOutput::point(Eigen::Index r, double t, const RowRef& x, const RowRef& f) {
  Row& row = row_[static_cast<std::size_t>(r)];
  if (row.has_b && row.tb == t) {
    // Cubic Hermite on [ta, tb] with s = (t - ta) / h.
    const double t0 = row.ta, h = row.tb - row.ta;
    fill(r, row.tb, row.xb, [&](double tk, Eigen::RowVectorXd& out) {
      const double s = (tk - t0) / h, u = 1.0 - s;
      const double h00 = (1.0 + 2.0 * s) * u * u, h10 = s * u * u, h01 = s * s * (3.0 - 2.0 * s),
                   h11 = s * s * (s - 1.0);
      out = h00 * row.xa + (h10 * h) * row.fa + h01 * row.xb + (h11 * h) * f;
    });
    row.has_b = false;
    row.has_p = true;
    row.tp = row.ta;
    row.xp = row.xa;
  } else if (row.has_a) {
    return;  // the same point again (another attempt from it)
  }
  row.has_a = true;
  row.ta = t;
  row.xa = x;
  row.fa = f;
}

bool DenseGridOutput::needs_derivative(Eigen::Index r) const {
  const Row& row = row_[static_cast<std::size_t>(r)];
  return !row.has_a || row.has_b;
}

void DenseGridOutput::accepted(Eigen::Index r, double t1, const RowRef& x1) {
  Row& row = row_[static_cast<std::size_t>(r)];
  row.has_b = true;
  row.tb = t1;
  row.xb = x1;
}

void DenseGridOutput::linear(Eigen::Index r, double t0, const RowRef& x0, double t1, const RowRef& x1) {
  const double h = t1 - t0;
  fill(r, t1, x1, [&](double t, Eigen::RowVectorXd& out) {
    const double s = (t - t0) / h;
    out = (1.0 - s) * x0 + s * x1;
  });
}

void DenseGridOutput::dopri5(Eigen::Index r, double t0, const RowRef& x0, double t1, const RowRef& x1,
                             std::span<const Matrix> k, Eigen::Index i) {
  const double h = t1 - t0;
  fill(r, t1, x1, [&](double t, Eigen::RowVectorXd& out) {
    const double s = (t - t0) / h;
    const std::array<double, 4> p{s, s * s, s * s * s, s * s * s * s};
    out = x0;
    for (std::size_t stage = 0; stage < kDopri5P.size(); ++stage) {
      const auto& c = kDopri5P[stage];
      const double b = c[0] * p[0] + c[1] * p[1] + c[2] * p[2] + c[3] * p[3];
      if (b != 0.0) out += (h * b) * k[stage].row(i);
    }
  });
}

void DenseGridOutput::finish_row(Eigen::Index r, const RowRef& x) {
  Row& row = row_[static_cast<std::size_t>(r)];
  if (row.has_b) {
    // No derivative at the end: x(ta + u) = xa + fa u + c2 u^2 + c3 u^3 with x(tb) = xb and,
    // when there is a previous point, x(tp) = xp (else c3 = 0: the quadratic).
    const double t0 = row.ta, ub = row.tb - row.ta;
    const Eigen::RowVectorXd rb = (row.xb - row.xa - ub * row.fa) / (ub * ub);
    Eigen::RowVectorXd c2 = rb, c3 = Eigen::RowVectorXd::Zero(dim_);
    if (row.has_p) {
      const double up = row.tp - row.ta;
      const Eigen::RowVectorXd rp = (row.xp - row.xa - up * row.fa) / (up * up);
      c3 = (rb - rp) / (ub - up);
      c2 = rb - ub * c3;
    }
    fill(r, row.tb, row.xb, [&](double t, Eigen::RowVectorXd& out) {
      const double u = t - t0;
      out = row.xa + u * row.fa + (u * u) * c2 + (u * u * u) * c3;
    });
    row.has_b = false;
  }
  for (; row.next <= last_; ++row.next) states(row.next).row(r) = x;
}

void DenseGridOutput::flush(const RowFailures& failures) {
  if (dead_ || rows_ == 0) return;
  if (failures.failed()) {
    dead_ = true;
    pending_.clear();
    return;
  }
  std::size_t reached = last_ + 1;
  for (const Row& row : row_) reached = std::min(reached, row.next);
  while (first_pending_ < reached) {
    emit_(first_pending_, states(first_pending_));
    pending_.pop_front();
    ++first_pending_;
  }
}

void DenseGridOutput::finish(const ConstMatrixRef& x, const RowFailures& failures) {
  if (!failures.failed()) {
    for (Eigen::Index r = 0; r < rows_; ++r) {
      const Row& row = row_[static_cast<std::size_t>(r)];
      if (row.has_b || row.next <= last_) finish_row(r, x.row(r));
    }
  }
  flush(failures);
}

}  // namespace tweedie::detail
