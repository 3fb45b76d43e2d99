#include "unipc.hpp"

#include <Eigen/LU>
#include <fmt/format.h>

namespace tweedie::solvers {

UniPcCoefficients unipc_coefficients(int order, bool bh2, std::span<const ModelValue> history,
                                     const SchedulePoint& t) {
  UniPcCoefficients c;
  c.order = order;
  const SchedulePoint& p0 = history.back().point;
  const double h = t.lambda - p0.lambda, hh = -h;  // data prediction
  for (int i = 1; i < order; ++i) {
    c.rks[static_cast<std::size_t>(i - 1)] =
        (history[history.size() - 1 - static_cast<std::size_t>(i)].point.lambda - p0.lambda) / h;
  }
  c.rks[static_cast<std::size_t>(order - 1)] = 1.0;
  c.h_phi_1 = std::expm1(hh);
  c.b_h = bh2 ? std::expm1(hh) : hh;
  Eigen::Matrix3d r = Eigen::Matrix3d::Zero();
  Eigen::Vector3d b = Eigen::Vector3d::Zero();
  double factorial = 1.0;  // i!
  for (int i = 1; i <= order; ++i) {
    for (int k = 0; k < order; ++k) r(i - 1, k) = std::pow(c.rks[static_cast<std::size_t>(k)], i - 1);
    factorial *= i;
    b(i - 1) = hh * detail::phi(i + 1, hh) * factorial / c.b_h;  // UniPC's h_phi_{i+1} i! / B(h)
  }
  const auto n = static_cast<Eigen::Index>(order);
  if (order == 2) {
    c.rho_p[0] = 0.5;
  } else if (order == 3) {
    const Eigen::Vector2d rho = r.topLeftCorner<2, 2>().partialPivLu().solve(b.head<2>());
    c.rho_p = {rho(0), rho(1), 0.0};
  }
  if (order == 1) {
    c.rho_c[0] = 0.5;
  } else {
    const Eigen::VectorXd rho = r.topLeftCorner(n, n).partialPivLu().solve(b.head(n));
    for (Eigen::Index k = 0; k < n; ++k) c.rho_c[static_cast<std::size_t>(k)] = rho(k);
  }
  return c;
}

UniPc::UniPc(Options options) : options_(options) {
  traits_.name = "unipc";
  traits_.summary = fmt::format("UniPC-{} ({}) predictor + UniC corrector, data prediction",
                                options.order, options.bh2 ? "bh2" : "bh1");
  // UniC raises UniP-p to p + 1; the first step (order 1 with UniC, local error O(h^3)) caps
  // the global order at 3 (measured in tests/test_exponential.cpp).
  traits_.order = std::min(options.order + 1, 3);
  traits_.nfe_per_step = 1;
  traits_.consumes = Prediction::data;
}

void UniPc::run(ChunkContext& ctx, MatrixRef x) const {
  const auto points = schedule_points(ctx.sde(), ctx.grid());
  const std::size_t n = points.size() - 1;
  const auto order = static_cast<std::size_t>(options_.order);
  std::vector<ModelValue> history;  // newest last
  history.push_back({points[0], Matrix(x.rows(), x.cols())});
  ctx.predict(Prediction::data, points[0].t, x, history.back().value, 0);
  Matrix model_t(x.rows(), x.cols());
  for (std::size_t step = 1; step <= n; ++step) {
    const SchedulePoint& t = points[step];
    std::size_t p = std::min(order, step);  // warm-up: orders 1, 2, ...
    if (step >= order && options_.lower_order_final) p = std::min(order, n + 1 - step);
    const bool corrector = step < n;  // UniC is skipped on the last step
    const ModelValue& m0 = history.back();
    if (t.noiseless()) {
      terminal_step(ExpForm::data, m0, t, x);
    } else {
      const UniPcCoefficients c = unipc_coefficients(static_cast<int>(p), options_.bh2, history, t);
      const double scale = t.alpha * c.b_h;
      // D1s_k = (m_k - m0) / rk_k for the p - 1 older values, newest first.
      std::vector<Matrix> d1s;
      for (std::size_t k = 1; k < p; ++k) {
        d1s.push_back((history[history.size() - 1 - k].value - m0.value) / c.rks[k - 1]);
      }
      const Matrix x_lin = (t.sigma / m0.point.sigma) * x - (t.alpha * c.h_phi_1) * m0.value;
      x = x_lin;
      for (std::size_t k = 0; k < d1s.size(); ++k) x -= (scale * c.rho_p[k]) * d1s[k];
      if (corrector) {
        ctx.predict(Prediction::data, t.t, x, model_t, step);
        Matrix correction = c.rho_c[p - 1] * (model_t - m0.value);
        for (std::size_t k = 0; k < d1s.size(); ++k) correction += c.rho_c[k] * d1s[k];
        x = x_lin - scale * correction;
      }
    }
    ctx.check_state(x, step - 1, t.t);
    if (step == n) break;
    if (history.size() == order) history.erase(history.begin());
    // The model value at the predicted point serves as the next step's history (UniPC's trick:
    // the corrector costs no extra evaluation).
    history.push_back({t, model_t});
  }
}

}  // namespace tweedie::solvers

namespace tweedie::detail {
void register_unipc() {
  auto make = [](const OptionValues& o) {
    solvers::UniPc::Options options;
    options.order = o.integer("order");
    options.bh2 = o.text("variant") == "bh2";
    options.lower_order_final = o.text("lower_order_final") == "on";
    return std::make_unique<solvers::UniPc>(options);
  };
  // UniPC's sample() defaults: order 3, skip_type 'time_uniform'.
  register_sampler({solvers::order_option(3, 1, 3),
                    OptionSpec::choice("variant", {"bh1", "bh2"}, "the B(h) of UniPC's update"),
                    solvers::lower_order_final_option()},
                   GridSpacing::time_uniform, make);
}
}  // namespace tweedie::detail
