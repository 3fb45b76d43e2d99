#include "exponential.hpp"

#include <fmt/format.h>

namespace tweedie::solvers {

void multistep_update(ExpForm form, int order, std::span<const ModelValue> history,
                      const SchedulePoint& t, MatrixRef x, bool taylor_d2) {
  const ModelValue& m0 = history.back();
  if (t.noiseless()) return terminal_step(form, m0, t, x);
  const ExpStep c = exp_step(form, m0.point, t);
  const double h = t.lambda - m0.point.lambda;
  if (order == 1) {
    x = c.base * x - (c.scale * c.phi1()) * m0.value;
    return;
  }
  const ModelValue& m1 = history[history.size() - 2];
  const double r0 = (m0.point.lambda - m1.point.lambda) / h;
  if (order == 2) {  // one pass over the rows: the difference is not stored first
    x = c.base * x - (c.scale * c.phi1()) * m0.value - (0.5 * c.scale * c.phi1()) * ((m0.value - m1.value) / r0);
    return;
  }
  const Matrix d1_0 = (m0.value - m1.value) / r0;
  const ModelValue& m2 = history[history.size() - 3];
  const double r1 = (m1.point.lambda - m2.point.lambda) / h;
  const Matrix d1_1 = (m1.value - m2.value) / r1;
  const Matrix d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
  const Matrix d2 = ((taylor_d2 ? 2.0 : 1.0) / (r0 + r1)) * (d1_0 - d1_1);
  x = c.base * x - (c.scale * c.phi1()) * m0.value - (c.scale * c.phi2()) * d1 -
      (c.scale * c.phi3()) * d2;
}

void SinglestepRows::Coefficients::set(ExpForm form, std::span<const SchedulePoint> from,
                                       std::span<const SchedulePoint> to) {
  const auto n = static_cast<Eigen::Index>(to.size());
  base.resize(n);
  scale.resize(n);
  hh.resize(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const ExpStep c = exp_step(form, from[static_cast<std::size_t>(i)], to[static_cast<std::size_t>(i)]);
    base(i) = c.base;
    scale(i) = c.scale;
    hh(i) = c.hh;
  }
}

void SinglestepRows::Coefficients::keep(const std::vector<Eigen::Index>& positions) {
  if (base.size() == 0) return;
  base = Eigen::ArrayXd(base(positions));
  scale = Eigen::ArrayXd(scale(positions));
  hh = Eigen::ArrayXd(hh(positions));
}

Matrix SinglestepRows::Coefficients::first_order(const ConstMatrixRef& x, const ConstMatrixRef& m) const {
  const Eigen::ArrayXd phi1 = hh.unaryExpr([](double v) { return std::expm1(v); });
  return (x.array().colwise() * base - m.array().colwise() * (scale * phi1)).matrix();
}

SinglestepRows::SinglestepRows(ExpForm form, double r1, double r2, std::span<const SchedulePoint> s,
                               std::span<const SchedulePoint> t, std::span<const SchedulePoint> s1,
                               std::span<const SchedulePoint> s2)
    : r1_(r1), r2_(r2) {
  full_.set(form, s, t);
  if (!s1.empty()) to_s1_.set(form, s, s1);
  if (!s2.empty()) to_s2_.set(form, s, s2);
}

void SinglestepRows::keep(const std::vector<Eigen::Index>& positions) {
  for (Coefficients* c : {&full_, &to_s1_, &to_s2_}) c->keep(positions);
}

Matrix SinglestepRows::first_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s) const {
  return full_.first_order(x, m_s);
}

Matrix SinglestepRows::at_s1(const ConstMatrixRef& x, const ConstMatrixRef& m_s) const {
  return to_s1_.first_order(x, m_s);
}

Matrix SinglestepRows::at_s2(const ConstMatrixRef& x, const ConstMatrixRef& m_s, const ConstMatrixRef& m_s1) const {
  // The phi2 of the step to s2, written in the whole step's h: (r2 h) phi_2(r2 h).
  const Eigen::ArrayXd phi22 = (r2_ * full_.hh).unaryExpr([](double v) { return v * detail::phi(2, v); });
  return to_s2_.first_order(x, m_s) - ((m_s1 - m_s).array().colwise() * (r2_ / r1_ * to_s2_.scale * phi22)).matrix();
}

Matrix SinglestepRows::second_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s,
                                    const ConstMatrixRef& m_s1) const {
  const Eigen::ArrayXd phi1 = full_.hh.unaryExpr([](double v) { return std::expm1(v); });
  return first_order(x, m_s) - ((m_s1 - m_s).array().colwise() * (0.5 / r1_ * full_.scale * phi1)).matrix();
}

Matrix SinglestepRows::third_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s,
                                   const ConstMatrixRef& m_s2) const {
  const Eigen::ArrayXd phi2 = full_.hh.unaryExpr([](double v) { return v * detail::phi(2, v); });
  return first_order(x, m_s) - ((m_s2 - m_s).array().colwise() * (1.0 / r2_ * full_.scale * phi2)).matrix();
}

void singlestep_update(ExpForm form, int order, double r1, double r2, const ModelValue& m_s,
                       const SchedulePoint& t, ChunkContext& ctx, std::size_t step, MatrixRef x) {
  const SchedulePoint& s = m_s.point;
  if (t.noiseless()) return terminal_step(form, m_s, t, x);
  const auto n = static_cast<std::size_t>(x.rows());
  const std::vector<SchedulePoint> from(n, s), to(n, t);
  if (order == 1) {
    x = SinglestepRows(form, r1, r2, from, to, {}, {}).first_order(x, m_s.value);
    return;
  }
  const Sde& sde = ctx.sde();
  const double h = t.lambda - s.lambda;
  const Prediction want = prediction_of(form);
  auto point_at = [&](double r) { return schedule_point(sde, sde.t_of_lambda(s.lambda + r * h)); };
  const SchedulePoint s1 = point_at(r1);
  const std::vector<SchedulePoint> mid1(n, s1),
      mid2(order == 3 ? n : 0, order == 3 ? point_at(r2) : s1);
  const SinglestepRows update(form, r1, r2, from, to, mid1, mid2);
  Matrix m_s1(x.rows(), x.cols());
  ctx.predict(want, s1.t, update.at_s1(x, m_s.value), m_s1, step + 1);
  if (order == 2) {
    x = update.second_order(x, m_s.value, m_s1);
    return;
  }
  Matrix m_s2(x.rows(), x.cols());
  ctx.predict(want, mid2.front().t, update.at_s2(x, m_s.value, m_s1), m_s2, step + 2);
  x = update.third_order(x, m_s.value, m_s2);
}

std::vector<int> singlestep_orders(std::size_t nfe, int order) {
  const auto n = static_cast<int>(nfe);
  std::vector<int> orders;
  if (order == 3) {
    const int k = n / 3 + 1;
    if (n % 3 == 0) {
      orders.assign(static_cast<std::size_t>(k - 2), 3);
      orders.insert(orders.end(), {2, 1});
    } else {
      orders.assign(static_cast<std::size_t>(k - 1), 3);
      orders.push_back(n % 3 == 1 ? 1 : 2);
    }
  } else if (order == 2) {
    orders.assign(static_cast<std::size_t>(n / 2), 2);
    if (n % 2 == 1) orders.push_back(1);
  } else {
    orders.assign(nfe, 1);
  }
  return orders;
}

OptionSpec order_option(int fallback, int min_order, int max_order) {
  return OptionSpec::integer("order", fallback, min_order, max_order, "order of the update");
}

OptionSpec lower_order_final_option() {
  return OptionSpec::choice("lower_order_final", {"on", "off"},
                            "lower the order of the final steps below 10 steps (the reference's rule)");
}

}  // namespace tweedie::solvers
