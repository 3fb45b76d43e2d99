// DPM-Solver, DPM-Solver++, DDIM and UniPC: measured orders and term-by-term update rules.
#include "sampling_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

using namespace tweedie;
using tweedie::test::convergence_order;

namespace {

struct Case {
  std::string sampler;
  SamplerOptions options;
  std::string label;
};

// Global error on the probability-flow ODE of one Gaussian, from the exact p_T to t_end,
// against the closed-form flow map: the RMS over samples and components.
double flow_error(const Sde& sde, const Case& c, int steps, GridSpacing spacing, double t_end) {
  const auto target = test::single_gaussian({1.0, -0.5}, {0.5, 0.2});
  const auto model = exact_model(target, sde);
  const Matrix start = target.sample(sde, sde.T(), 64, PhiloxNoise(5));
  const Matrix exact = test::exact_flow(target, sde, sde.T(), t_end, start);
  SampleOptions o;
  o.init = &start;
  const auto grid = make_grid(sde, {.spacing = spacing, .steps = steps, .t_end = t_end});
  const Matrix x = sample(sde, *model, *make_sampler(c.sampler, c.options), grid, o).samples;
  return std::sqrt((x - exact).squaredNorm() / static_cast<double>(x.size()));
}

double measured_order(const Sde& sde, const Case& c, const std::vector<int>& steps,
                      GridSpacing spacing = GridSpacing::log_snr, double t_end = 1e-3) {
  std::vector<double> errors;
  for (int n : steps) errors.push_back(flow_error(sde, c, n, spacing, t_end));
  const double order = convergence_order(steps, errors);
  MESSAGE(fmt::format("{} {} on {}: N {} errors {::.3e} order {:.2f}", c.sampler, c.label,
                      sde.name(), steps, errors, order));
  return order;
}

}  // namespace

TEST_CASE("multistep DPM-Solver and DPM-Solver++ orders 1 and 2 converge with their order") {
  const VpSde vp;
  for (const char* name : {"dpm-solver", "dpm-solver++"}) {
    for (int order : {1, 2}) {
      const Case c{name, {{"order", std::to_string(order)}}, fmt::format("order {}", order)};
      CHECK(measured_order(vp, c, {10, 20, 40, 80}) == doctest::Approx(order).epsilon(0.3 / order));
    }
  }
}

TEST_CASE("multistep order 3: the reference update is second order, the Taylor variant third") {
  // DPM-Solver's 3M estimates h^2 m''/2 where its phi3 term needs h^2 m'' (see multistep_update):
  // its global order is 2, whatever the warm-up. Doubling the estimate (--variant taylor) gives
  // order 3. The warm-up steps are shrunk to h^1.5 here so that their O(h^2) local errors cannot
  // be what limits the order; the reference warm-up is measured too.
  const VpSde vp;
  const auto target = test::single_gaussian({1.0, -0.5}, {0.5, 0.2});
  const auto model = exact_model(target, vp);
  const Matrix start = target.sample(vp, 1.0, 64, PhiloxNoise(5));
  const double t_end = 1e-3;
  const Matrix exact = test::exact_flow(target, vp, 1.0, t_end, start);
  const double l0 = vp.lambda(1.0), l1 = vp.lambda(t_end);
  for (const char* name : {"dpm-solver", "dpm-solver++"}) {
    std::vector<int> steps{10, 20, 40, 80};
    std::vector<double> errors;
    for (int n : steps) {
      const double h = (l1 - l0) / n, warm = h * std::sqrt(h / (l1 - l0));
      std::vector<double> lambdas{l0, l0 + warm, l0 + 2 * warm};
      for (int i = 1; i <= n; ++i) lambdas.push_back(l0 + 2 * warm + (l1 - l0 - 2 * warm) * i / n);
      std::vector<double> grid;
      for (double l : lambdas) grid.push_back(vp.t_of_lambda(l));
      grid.front() = 1.0;
      grid.back() = t_end;
      SampleOptions o;
      o.init = &start;
      for (const char* variant : {"reference", "taylor"}) {
        const auto solver = make_sampler(name, {{"order", "3"}, {"variant", variant}});
        const Matrix x = sample(vp, *model, *solver, grid, o).samples;
        errors.push_back(std::sqrt((x - exact).squaredNorm() / static_cast<double>(x.size())));
      }
    }
    std::vector<double> reference, taylor;
    for (std::size_t i = 0; i < errors.size(); i += 2) {
      reference.push_back(errors[i]);
      taylor.push_back(errors[i + 1]);
    }
    const double p_ref = convergence_order(steps, reference), p_taylor = convergence_order(steps, taylor);
    MESSAGE(fmt::format("{} 3M short warm-up: reference {::.3e} order {:.2f}; taylor {::.3e} order {:.2f}",
                        name, reference, p_ref, taylor, p_taylor));
    CHECK(p_ref == doctest::Approx(2.0).epsilon(0.15));
    CHECK(p_taylor >= 2.7);
    const Case ref{name, {{"order", "3"}}, "order 3, reference warm-up"};
    CHECK(measured_order(vp, ref, {40, 80, 160, 320}) == doctest::Approx(2.0).epsilon(0.15));
    const Case tay{name, {{"order", "3"}, {"variant", "taylor"}}, "order 3 taylor, reference warm-up"};
    CHECK(measured_order(vp, tay, {40, 80, 160, 320}) >= 2.7);
    CHECK(make_sampler(name, {{"order", "3"}})->traits().order == 2);
    CHECK(make_sampler(name, {{"order", "3"}, {"variant", "taylor"}})->traits().order == 3);
  }
}

TEST_CASE("singlestep DPM-Solver and DPM-Solver++ converge with their order") {
  const VpSde vp;
  for (const char* name : {"dpm-solver", "dpm-solver++"}) {
    for (int order : {1, 2, 3}) {
      const Case c{name, {{"order", std::to_string(order)}, {"method", "singlestep"}},
                   fmt::format("singlestep order {}", order)};
      // NFE budgets = 2 mod 3 end the order-3 schedule with a step of order 2 (a budget = 0 mod 3
      // ends with order 1, whose O(h^2) local error would cap the global order at 2).
      const std::vector<int> steps = order == 3 ? std::vector<int>{20, 41, 80, 161}
                                                : std::vector<int>{12, 24, 48, 96};
      CHECK(measured_order(vp, c, steps) == doctest::Approx(order).epsilon(0.3 / order));
      CHECK(measured_order(vp, c, steps, GridSpacing::time_quadratic) ==
            doctest::Approx(order).epsilon(0.3 / order));
    }
  }
}
