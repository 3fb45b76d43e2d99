// DPM-Solver(++) and UniPC update rules term by term against a second, independent
// transcription of FORMULAS b4 / b7 (the references' own branch-by-branch form) on random inputs.
#include "dpm_solver.hpp"
#include "unipc.hpp"

#include "sampling_util.hpp"

#include <doctest/doctest.h>

#include <Eigen/LU>

using namespace tweedie;
using namespace tweedie::solvers;

namespace {

Matrix random_matrix(std::uint32_t stream_step, Eigen::Index rows = 3, Eigen::Index cols = 4) {
  Matrix m(rows, cols);
  PhiloxNoise(99).normal(0, stream_step, 0, NoiseStream::marginal, m);
  return m;
}

double max_relative(const Matrix& a, const Matrix& b) {
  return (a - b).cwiseAbs().maxCoeff() / (1.0 + b.cwiseAbs().maxCoeff());
}

struct Setup {
  VpSde sde;
  // Decreasing times, unevenly spaced: three history points and a target.
  std::vector<double> times{0.83, 0.61, 0.47, 0.29};
  std::vector<SchedulePoint> p;
  Matrix x = random_matrix(1), m2 = random_matrix(2), m1 = random_matrix(3), m0 = random_matrix(4);
  Setup() {
    for (double t : times) p.push_back(schedule_point(sde, t));
  }
  std::vector<ModelValue> history() const { return {{p[0], m2}, {p[1], m1}, {p[2], m0}}; }
};

}  // namespace

TEST_CASE("multistep DPM-Solver and DPM-Solver++ updates match b4 written branch by branch") {
  const Setup s;
  const SchedulePoint &p2 = s.p[0], &p1 = s.p[1], &p0 = s.p[2], &t = s.p[3];
  const double h = t.lambda - p0.lambda, h0 = p0.lambda - p1.lambda, h1 = p1.lambda - p2.lambda;
  const double r0 = h0 / h, r1 = h1 / h;
  const Matrix d1_0 = (s.m0 - s.m1) / r0, d1_1 = (s.m1 - s.m2) / r1;
  const Matrix d1 = d1_0 + (r0 / (r0 + r1)) * (d1_0 - d1_1), d2 = (d1_0 - d1_1) / (r0 + r1);
  const auto history = s.history();
  for (int order : {1, 2, 3}) {
    CAPTURE(order);
    // data prediction (DPM-Solver++): phi_1 = expm1(-h), phi_2 = phi_1/h + 1, phi_3 = phi_2/h - 1/2
    {
      const double phi1 = std::expm1(-h), phi2 = phi1 / h + 1.0, phi3 = phi2 / h - 0.5;
      Matrix expected = (t.sigma / p0.sigma) * s.x - t.alpha * phi1 * s.m0;
      if (order == 2) expected -= 0.5 * t.alpha * phi1 * d1_0;
      if (order == 3) expected += t.alpha * phi2 * d1 - t.alpha * phi3 * d2;
      Matrix x = s.x;
      multistep_update(ExpForm::data, order, history, t, x);
      CHECK(max_relative(x, expected) < 1e-13);
    }
    // noise prediction (DPM-Solver): phi_1 = expm1(h), phi_2 = phi_1/h - 1, phi_3 = phi_2/h - 1/2
    {
      const double phi1 = std::expm1(h), phi2 = phi1 / h - 1.0, phi3 = phi2 / h - 0.5;
      Matrix expected = std::exp(std::log(t.alpha) - std::log(p0.alpha)) * s.x - t.sigma * phi1 * s.m0;
      if (order == 2) expected -= 0.5 * t.sigma * phi1 * d1_0;
      if (order == 3) expected -= t.sigma * phi2 * d1 + t.sigma * phi3 * d2;
      Matrix x = s.x;
      multistep_update(ExpForm::noise, order, history, t, x);
      CHECK(max_relative(x, expected) < 1e-13);
    }
  }
  // --variant taylor doubles D2 and nothing else.
  Matrix ref = s.x, taylor = s.x;
  multistep_update(ExpForm::data, 3, history, t, ref);
  multistep_update(ExpForm::data, 3, history, t, taylor, true);
  const double phi3 = (std::expm1(-h) / h + 1.0) / h - 0.5;
  CHECK(max_relative(taylor - ref, -t.alpha * phi3 * d2) < 1e-12);
}

TEST_CASE("singlestep DPM-Solver++ order 3 matches b4 with a model evaluated at s1 and s2") {
  const VpSde sde;
  // A nonlinear "model": its data prediction is tanh(x) + t (any smooth function will do).
  const auto model = make_model(Prediction::data, 4, [](const auto& t, const auto& x, auto out) {
    out = x.array().tanh().matrix();
    out.colwise() += t;
  });
  const Matrix x0 = random_matrix(7, 2, 4);
  const std::vector<double> grid{0.7, 0.3};
  const PhiloxNoise noise(1);
  ChunkContext ctx(sde, *model, noise, grid, 0, x0.rows());
  const SchedulePoint s = schedule_point(sde, 0.7), t = schedule_point(sde, 0.3);
  Matrix m_s(2, 4);
  ctx.predict(Prediction::data, s.t, x0, m_s, 0);
  const double r1 = 1.0 / 3.0, r2 = 2.0 / 3.0, h = t.lambda - s.lambda;
  auto data_at = [&](const SchedulePoint& p, const Matrix& x) {
    return Matrix((x.array().tanh() + p.t).matrix());
  };
  const SchedulePoint s1 = schedule_point(sde, sde.t_of_lambda(s.lambda + r1 * h));
  const SchedulePoint s2 = schedule_point(sde, sde.t_of_lambda(s.lambda + r2 * h));
  const double phi_11 = std::expm1(-r1 * h), phi_12 = std::expm1(-r2 * h), phi_1 = std::expm1(-h);
  const double phi_22 = std::expm1(-r2 * h) / (r2 * h) + 1.0, phi_2 = phi_1 / h + 1.0;
  const Matrix x_s1 = (s1.sigma / s.sigma) * x0 - s1.alpha * phi_11 * m_s;
  const Matrix m_s1 = data_at(s1, x_s1);
  const Matrix x_s2 = (s2.sigma / s.sigma) * x0 - s2.alpha * phi_12 * m_s + r2 / r1 * s2.alpha * phi_22 * (m_s1 - m_s);
  const Matrix m_s2 = data_at(s2, x_s2);
  const Matrix expected = (t.sigma / s.sigma) * x0 - t.alpha * phi_1 * m_s + (1.0 / r2) * t.alpha * phi_2 * (m_s2 - m_s);
  Matrix x = x0;
  singlestep_update(ExpForm::data, 3, r1, r2, {s, m_s}, t, ctx, 0, x);
  CHECK(max_relative(x, expected) < 1e-13);
  CHECK(ctx.row_evaluations() == 3 * 2);  // model at s, s1, s2
}

TEST_CASE("UniPC coefficients match b7 transcribed with an explicit linear solve") {
  const Setup s;
  const auto history = s.history();
  const SchedulePoint &p0 = s.p[2], &t = s.p[3];
  for (bool bh2 : {false, true}) {
    for (int order : {1, 2, 3}) {
      CAPTURE(bh2);
      CAPTURE(order);
      const double h = t.lambda - p0.lambda, hh = -h;
      std::vector<double> rks;
      for (int i = 1; i < order; ++i) rks.push_back((s.p[static_cast<std::size_t>(2 - i)].lambda - p0.lambda) / h);
      rks.push_back(1.0);
      const double b_h = bh2 ? std::expm1(hh) : hh;
      Eigen::MatrixXd r(order, order);
      Eigen::VectorXd b(order);
      double h_phi_k = std::expm1(hh) / hh - 1.0, fact = 1.0;
      for (int i = 1; i <= order; ++i) {
        for (int k = 0; k < order; ++k) r(i - 1, k) = std::pow(rks[static_cast<std::size_t>(k)], i - 1);
        b(i - 1) = h_phi_k * fact / b_h;
        fact *= i + 1;
        h_phi_k = h_phi_k / hh - 1.0 / fact;
      }
      const auto c = unipc_coefficients(order, bh2, std::span(history).last(static_cast<std::size_t>(order)), t);
      CHECK(c.b_h == doctest::Approx(b_h).epsilon(1e-15));
      CHECK(c.h_phi_1 == doctest::Approx(std::expm1(hh)).epsilon(1e-15));
      if (order == 1) {
        CHECK(c.rho_c[0] == 0.5);
      } else {
        const Eigen::VectorXd rho_c = r.fullPivLu().solve(b);
        for (int k = 0; k < order; ++k) CHECK(c.rho_c[static_cast<std::size_t>(k)] == doctest::Approx(rho_c(k)).epsilon(1e-12));
      }
      if (order == 2) CHECK(c.rho_p[0] == 0.5);
      if (order == 3) {
        const Eigen::VectorXd rho_p = r.topLeftCorner(2, 2).fullPivLu().solve(b.head(2));
        for (int k = 0; k < 2; ++k) CHECK(c.rho_p[static_cast<std::size_t>(k)] == doctest::Approx(rho_p(k)).epsilon(1e-12));
      }
    }
  }
}
