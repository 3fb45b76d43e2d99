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
  const Matrix d1_0 = (m0.value - m1.value) / r0;
  if (order == 2) {
    x = c.base * x - (c.scale * c.phi1()) * m0.value - (0.5 * c.scale * c.phi1()) * d1_0;
    return;
  }
  const ModelValue& m2 = history[history.size() - 3];
  const double r1 = (m1.point.lambda - m2.point.lambda) / h;
  const Matrix d1_1 = (m1.value - m2.value) / r1;
  const Matrix d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1);
  const Matrix d2 = ((taylor_d2 ? 2.0 : 1.0) / (r0 + r1)) * (d1_0 - d1_1);
  x = c.base * x - (c.scale * c.phi1()) * m0.value - (c.scale * c.phi2()) * d1 -
      (c.scale * c.phi3()) * d2;
}

void singlestep_update(ExpForm form, int order, double r1, double r2, const ModelValue& m_s,
                       const SchedulePoint& t, ChunkContext& ctx, std::size_t step, MatrixRef x) {
  const SchedulePoint& s = m_s.point;
  if (t.noiseless()) return terminal_step(form, m_s, t, x);
  const ExpStep c = exp_step(form, s, t);
  if (order == 1) {
    x = c.base * x - (c.scale * c.phi1()) * m_s.value;
    return;
  }
  const Sde& sde = ctx.sde();
  const double h = t.lambda - s.lambda;
  const Prediction want = prediction_of(form);
  auto point_at = [&](double r) { return schedule_point(sde, sde.t_of_lambda(s.lambda + r * h)); };
  // First intermediate point: a first-order step to s1.
  const SchedulePoint s1 = point_at(r1);
  const ExpStep c1 = exp_step(form, s, s1);
  Matrix x_mid = c1.base * x - (c1.scale * c1.phi1()) * m_s.value;
  Matrix m_s1(x.rows(), x.cols());
  ctx.predict(want, s1.t, x_mid, m_s1, step + 1);
  if (order == 2) {
    x = c.base * x - (c.scale * c.phi1()) * m_s.value -
        (0.5 / r1 * c.scale * c.phi1()) * (m_s1 - m_s.value);
    return;
  }
  const SchedulePoint s2 = point_at(r2);
  const ExpStep c2 = exp_step(form, s, s2);
  const double phi22 = std::expm1(r2 * c.hh) / (r2 * c.hh) - 1.0;
  x_mid = c2.base * x - (c2.scale * c2.phi1()) * m_s.value -
          (r2 / r1 * c2.scale * phi22) * (m_s1 - m_s.value);
  Matrix m_s2(x.rows(), x.cols());
  ctx.predict(want, s2.t, x_mid, m_s2, step + 2);
  x = c.base * x - (c.scale * c.phi1()) * m_s.value -
      (1.0 / r2 * c.scale * c.phi2()) * (m_s2 - m_s.value);
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

int read_order(const SamplerOptions& options, int fallback, int max_order, const char* sampler) {
  const int order = options.integer("order", fallback);
  if (order < 1 || order > max_order) {
    throw InvalidArgument(
        fmt::format("{}: --order = {} must be between 1 and {}", sampler, order, max_order));
  }
  return order;
}

}  // namespace tweedie::solvers
