// Exponential integrators in lambda (DPM-Solver, DPM-Solver++, DDIM, UniPC): shared machinery.
#pragma once

#include "common.hpp"
#include "numeric.hpp"

#include <tweedie/sampler.hpp>

#include <cmath>
#include <deque>
#include <span>
#include <vector>

namespace tweedie::solvers {

/// Which model output the integrator is written in: noise (DPM-Solver) or data (DPM-Solver++).
enum class ExpForm { noise, data };

inline Prediction prediction_of(ExpForm form) {
  return form == ExpForm::noise ? Prediction::noise : Prediction::data;
}

/// The coefficients of one step from s to t, written once for both forms. With
/// h = lambda_t - lambda_s, the exact solution of the semi-linear ODE is
///   noise: x_t = (alpha_t/alpha_s) x - sigma_t int e^{h'} eps     (hh = h,  scale = sigma_t)
///   data:  x_t = (sigma_t/sigma_s) x - alpha_t int e^{-h'} x0     (hh = -h, scale = alpha_t)
/// and the Taylor coefficients of the integral are hh times the phi functions of hh
/// (detail::phi): phi1 = expm1(hh), phi2 = phi1/hh - 1, phi3 = phi2/hh - 1/2
/// (DPM-Solver's phi_1, phi_2, phi_3 up to the sign conventions of its two branches; summed as
/// series for small hh, where these closed forms cancel).
struct ExpStep {
  double base;   ///< multiplies x
  double scale;  ///< sigma_t (noise form) or alpha_t (data form)
  double hh;     ///< h (noise form) or -h (data form)
  double phi1() const { return std::expm1(hh); }
  double phi2() const { return hh * detail::phi(2, hh); }
  double phi3() const { return hh * detail::phi(3, hh); }
};

inline ExpStep exp_step(ExpForm form, const SchedulePoint& s, const SchedulePoint& t) {
  const double h = t.lambda - s.lambda;
  if (form == ExpForm::noise) return {t.alpha / s.alpha, t.sigma, h};
  return {t.sigma / s.sigma, t.alpha, -h};
}

/// A model output together with the schedule point it was evaluated at.
struct ModelValue {
  SchedulePoint point;
  Matrix value;
};

/// The step onto sigma = 0 (EDM's t = 0), where lambda = +inf: x_t = alpha_t x0_hat(x_s, s),
/// first order, as k-diffusion's DPM-Solver++(2M) and EDM do on their last step.
inline void terminal_step(ExpForm form, const ModelValue& m, const SchedulePoint& t, MatrixRef x) {
  if (form == ExpForm::data) {
    x = t.alpha * m.value;
  } else {
    x = (t.alpha / m.point.alpha) * (x - m.point.sigma * m.value);
  }
}

/// Multistep update of order 1, 2 or 3 from the last `order` model values (newest last) to t:
/// DPM-Solver(++)'s multistep_dpm_solver_{first,second,third}_update, solver_type 'dpmsolver'.
///
/// The reference's third-order update estimates the second derivative as
/// D2 = (D1_0 - D1_1)/(r0 + r1) ~ h^2 m''/2 but multiplies it by phi3, whose Taylor partner is
/// h^2 m'': its local error is O(h^3) and its global order 2 (measured in the tests). With
/// `taylor_d2` the estimate is doubled, which restores order 3.
void multistep_update(ExpForm form, int order, std::span<const ModelValue> history,
                      const SchedulePoint& t, MatrixRef x, bool taylor_d2 = false);

/// DPM-Solver(++)'s singlestep updates (solver_type 'dpmsolver') for rows that each take their
/// own step s_i -> t_i, through intermediate points s1_i (and s2_i) at lambda fractions r1 (r2)
/// of the step, written once for the fixed-step sampler (singlestep_update: every row the same
/// step) and dpm-solver-adaptive (a step per sample, whose lower- and higher-order updates share
/// their model values). The caller evaluates the model at the points the stages give:
///   x_s1 = at_s1(x, m_s), m_s1 = model(x_s1, s1);  x_s2 = at_s2(x, m_s, m_s1), m_s2 = model(...)
///   order 1: first_order(x, m_s); order 2: second_order(x, m_s, m_s1) (r1);
///   order 3: third_order(x, m_s, m_s2) (r2, with m_s2 from at_s2).
/// Row i of every argument is row i of the step (t_i not noiseless: see terminal_step).
class SinglestepRows {
 public:
  /// s1 and s2 may be empty (orders 1 and 2 do not need them).
  SinglestepRows(ExpForm form, double r1, double r2, std::span<const SchedulePoint> s,
                 std::span<const SchedulePoint> t, std::span<const SchedulePoint> s1,
                 std::span<const SchedulePoint> s2);
  Matrix first_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s) const;
  Matrix at_s1(const ConstMatrixRef& x, const ConstMatrixRef& m_s) const;
  Matrix at_s2(const ConstMatrixRef& x, const ConstMatrixRef& m_s, const ConstMatrixRef& m_s1) const;
  Matrix second_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s, const ConstMatrixRef& m_s1) const;
  Matrix third_order(const ConstMatrixRef& x, const ConstMatrixRef& m_s, const ConstMatrixRef& m_s2) const;
  /// The rows at the given positions, in that order (rows leaving an adaptive batch).
  void keep(const std::vector<Eigen::Index>& positions);

 private:
  /// exp_step's coefficients, one per row.
  struct Coefficients {
    Eigen::ArrayXd base, scale, hh;
    void set(ExpForm form, std::span<const SchedulePoint> from, std::span<const SchedulePoint> to);
    void keep(const std::vector<Eigen::Index>& positions);
    /// base x - scale phi1 m, row by row.
    Matrix first_order(const ConstMatrixRef& x, const ConstMatrixRef& m) const;
  };
  double r1_, r2_;
  Coefficients full_, to_s1_, to_s2_;
};

/// Singlestep update of order 1, 2 or 3 from s to t with intermediate points at lambda fractions
/// r1 (and r2) of the step: DPM-Solver(++)'s singlestep updates, solver_type 'dpmsolver'.
/// `m_s` is the model value at s; the intermediate evaluations are made here through ctx, with
/// step indices step + 1, step + 2 (so that errors name the grid position they belong to).
void singlestep_update(ExpForm form, int order, double r1, double r2, const ModelValue& m_s,
                       const SchedulePoint& t, ChunkContext& ctx, std::size_t step, MatrixRef x);

/// Below this many steps, multistep DPM-Solver lowers the order of its final steps
/// (DPM-Solver's code uses 10; its docstring and diffusers say 15: we follow the code).
inline constexpr std::size_t kLowerOrderFinalBelow = 10;

/// DPM-Solver's order schedule of singlestep "DPM-Solver-fast" for a budget of `nfe` model
/// evaluations: the orders of the outer steps, summing to nfe.
std::vector<int> singlestep_orders(std::size_t nfe, int order);

/// The declaration of the integer option "order" in [min_order, max_order].
OptionSpec order_option(int fallback, int min_order, int max_order);
/// The declaration of "lower_order_final" (on | off, on by default) of multistep DPM-Solver and UniPC.
OptionSpec lower_order_final_option();

}  // namespace tweedie::solvers
