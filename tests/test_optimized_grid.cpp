// The optimised grids: the density grid's shape and end points, the equidistribution of the
// pilot's step density, determinism across thread counts, a measured gain over time-uniform on a
// closed-form flow; the searched grid's shape, bits, cost bound, and its gain over the best fixed
// grid on a target and run samples it was not searched on.
#include "sampling_util.hpp"

#include <tweedie/optimized_grid.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>
#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <cstring>
#include <vector>

using namespace tweedie;

namespace {

struct Problem {
  VpSde sde;
  GaussianMixture target = GaussianMixture::builtin("ring2d");
  std::unique_ptr<ScoreModel> model = exact_model(target, sde);
};

OptimizedGridOptions options(int steps) {
  OptimizedGridOptions o;
  o.steps = steps;
  o.pilot_samples = 64;
  o.seed = 3;
  return o;
}

}  // namespace

TEST_CASE("an optimised grid has N steps, strictly decreasing, with the default grid's end points") {
  Problem p;
  const auto ends = make_grid(p.sde, {.steps = 1});
  for (int n : {1, 2, 7, 20}) {
    CAPTURE(n);
    const auto t = make_optimized_grid(p.sde, *p.model, options(n));
    REQUIRE(t.size() == static_cast<std::size_t>(n) + 1);
    CHECK(t.front() == ends.front());
    CHECK(t.back() == ends.back());
    for (std::size_t i = 1; i < t.size(); ++i) CHECK(t[i] < t[i - 1]);
  }
}

TEST_CASE("the grid equidistributes rho^q and rho counts the pilot's steps") {
  Problem p;
  const auto o = options(12);
  const StepDensity d = pilot_step_density(p.sde, *p.model, o);
  REQUIRE(d.knots.size() == d.rho.size() + 1);
  for (double r : d.rho) CHECK(r > 0.0);
  // The integral of rho is the mean number of steps of the dopri5 sampler from the same points at
  // the same tolerance, less the part of the last step cut short to land on t_end (under 1).
  const double steps = d.cumulative(d.knots.back(), 1.0);
  SampleOptions so;
  so.num_samples = o.pilot_samples;
  so.seed = pilot_seed(o.seed);
  const std::string tol = fmt::format("{}", o.pilot_tolerance);
  const auto dopri5 = make_sampler("dopri5", {{"rtol", tol}, {"atol", tol}});
  const double accepted = sample(p.sde, *p.model, *dopri5, make_grid(p.sde, {.steps = 1}), so).stats.accepted_steps_per_sample;
  MESSAGE(fmt::format("pilot: rho integrates to {:.3f}, dopri5 takes {:.3f} steps per sample", steps, accepted));
  CHECK(steps <= accepted + 1e-9);
  CHECK(steps > accepted - 1.0);
  for (double q : {0.5, 1.0, 2.5}) {
    CAPTURE(q);
    const auto t = equidistribute(d, q, o.steps);
    const double total = d.cumulative(d.knots.back(), q);
    for (std::size_t i = 1; i < t.size(); ++i) {
      CHECK(d.cumulative(t[i], q) - d.cumulative(t[i - 1], q) == doctest::Approx(total / o.steps).epsilon(1e-9));
    }
  }
}

TEST_CASE("the optimised grid is bitwise the same for every thread count") {
  Problem p;
  std::vector<std::vector<double>> grids;
  for (int threads : {1, 2, 3}) {
    oneapi::tbb::task_arena arena(threads);
    arena.execute([&] { grids.push_back(make_optimized_grid(p.sde, *p.model, options(10))); });
  }
  for (const auto& g : grids) {
    REQUIRE(g.size() == grids[0].size());
    CHECK(std::memcmp(g.data(), grids[0].data(), sizeof(double) * g.size()) == 0);
  }
  // Another seed draws another pilot.
  auto o = options(10);
  o.seed = 4;
  CHECK(make_optimized_grid(p.sde, *p.model, o) != grids[0]);
}

TEST_CASE("on a narrow Gaussian the optimised grid beats time-uniform at equal N (measured)") {
  // x_t of N(mu, s^2) is closed form (test::exact_flow); with s = 0.05 the flow changes fastest
  // at small t, where time-uniform steps are too long.
  const VpSde sde;
  const auto target = test::single_gaussian({1.0, -0.5}, {0.05, 0.3});
  const auto model = exact_model(target, sde);
  const auto ends = make_grid(sde, {.steps = 1});
  const Matrix start = target.sample(sde, ends.front(), 200, PhiloxNoise(5));
  const Matrix exact = test::exact_flow(target, sde, ends.front(), ends.back(), start);
  for (const char* name : {"euler", "heun"}) {
    const auto sampler = make_sampler(name);
    const int n = 10;
    auto error = [&](const std::vector<double>& grid) {
      SampleOptions so;
      so.init = &start;
      const Matrix x = sample(sde, *model, *sampler, grid, so).samples;
      return std::sqrt((x - exact).squaredNorm() / static_cast<double>(x.size()));
    };
    auto o = options(n);
    o.order = sampler->traits().order;
    const double uniform = error(make_grid(sde, {.steps = n}));
    const double optimized = error(make_optimized_grid(sde, *model, o));
    MESSAGE(fmt::format("{} N = {}: time-uniform {:.3e}, optimized {:.3e} ({:.3f}x)", name, n, uniform, optimized,
                        optimized / uniform));
    CHECK(optimized < 0.75 * uniform);  // measured: euler 0.51x, heun 0.26x
  }
}

TEST_CASE("bad optimised grid options are refused, naming what is wrong") {
  Problem p;
  auto o = options(0);
  CHECK_THROWS_WITH_AS(make_optimized_grid(p.sde, *p.model, o), doctest::Contains("steps = 0"), InvalidArgument);
  o = options(5);
  o.pilot_samples = 0;
  CHECK_THROWS_WITH_AS(make_optimized_grid(p.sde, *p.model, o), doctest::Contains("pilot_samples"), InvalidArgument);
  o = options(5);
  o.power = -1.0;
  CHECK_THROWS_WITH_AS(make_optimized_grid(p.sde, *p.model, o), doctest::Contains("power = -1"), InvalidArgument);
  o = options(5);
  o.t_end = 2.0;
  CHECK_THROWS_AS(make_optimized_grid(p.sde, *p.model, o), InvalidArgument);
  const EdmSde edm;
  const auto edm_model = exact_model(p.target, edm);
  o = options(5);
  o.t_end = 0.0;
  CHECK_THROWS_WITH_AS(make_optimized_grid(edm, *edm_model, o), doctest::Contains("sigma = 0"), InvalidArgument);
}

namespace {

// The searched grid's test settings: a small pilot and search, so that a test takes a second.
OptimizedGridOptions search_options(int steps) {
  OptimizedGridOptions o = options(steps);
  o.pilot_samples = 128;
  o.max_trials = 120;
  return o;
}

}  // namespace

TEST_CASE("a searched grid has N steps, strictly decreasing, with the default grid's end points, within its bound") {
  Problem p;
  const auto ends = make_grid(p.sde, {.steps = 1});
  const auto sampler = make_sampler("dpm-solver++");
  for (int n : {1, 2, 10}) {
    CAPTURE(n);
    const auto o = search_options(n);
    const OptimizedGrid g = optimize_grid(p.sde, *p.model, *sampler, o);
    REQUIRE(g.times.size() == static_cast<std::size_t>(n) + 1);
    CHECK(g.times.front() == ends.front());
    CHECK(g.times.back() == ends.back());
    for (std::size_t i = 1; i < g.times.size(); ++i) CHECK(g.times[i] < g.times[i - 1]);
    CHECK(g.error <= g.start_error);
    CHECK(g.trials >= 1);
    CHECK(g.trials <= o.max_trials);
    // The pilot dopri5 and at most max_trials runs of n evaluations per row.
    SampleOptions so;
    so.num_samples = o.pilot_samples;
    so.seed = pilot_seed(o.seed);
    const std::string tol = fmt::format("{}", o.pilot_tolerance);
    const auto dopri5 = make_sampler("dopri5", {{"rtol", tol}, {"atol", tol}});
    const double pilot = sample(p.sde, *p.model, *dopri5, ends, so).stats.nfe_per_sample;
    CHECK(g.pilot_nfe == doctest::Approx(pilot + g.trials * n));
    MESSAGE(fmt::format("N = {}: from {}, {} trials, pilot NFE {:.0f}, pilot error {:.3e} -> {:.3e}", n, g.start,
                        g.trials, g.pilot_nfe, g.start_error, g.error));
  }
}

TEST_CASE("a searched grid is bitwise the same for 1 and 2 threads") {
  Problem p;
  const auto sampler = make_sampler("unipc");
  std::vector<std::vector<double>> grids;
  for (int threads : {1, 2}) {
    oneapi::tbb::task_arena arena(threads);
    arena.execute([&] { grids.push_back(optimize_grid(p.sde, *p.model, *sampler, search_options(8)).times); });
  }
  REQUIRE(grids[1].size() == grids[0].size());
  CHECK(std::memcmp(grids[1].data(), grids[0].data(), sizeof(double) * grids[0].size()) == 0);
}

TEST_CASE("on a held-out target and held-out samples the searched grid beats the best fixed grid at equal NFE") {
  // checker2d (32 components; the search was developed on ring2d and mix16), run samples of seed
  // 0 against dopri5 at 1e-10 from the same points; the pilot's rows are those of pilot_seed(3).
  const VpSde sde;
  const auto target = GaussianMixture::builtin("checker2d");
  const auto model = exact_model(target, sde);
  const auto ends = make_grid(sde, {.steps = 1});
  const Matrix start = sample_prior(sde, 2, 400, 0, PhiloxNoise(0));
  SampleOptions so;
  so.init = &start;
  const Matrix reference =
      sample(sde, *model, *make_sampler("dopri5", {{"rtol", "1e-10"}, {"atol", "1e-10"}}), ends, so).samples;
  // Measured: dpm-solver++ 0.43x, euler 0.50x the best fixed grid's error (before the mean's
  // descent, with the median's alone on 128 pilot rows and 120 trials: 0.46x and 0.91x).
  for (const auto& [name, bound] : {std::pair{"dpm-solver++", 0.55}, std::pair{"euler", 0.65}}) {
    const auto sampler = make_sampler(name);
    const int n = 10;
    auto error = [&](const std::vector<double>& grid) {
      return ode_error(sample(sde, *model, *sampler, grid, so).samples, reference).median;
    };
    double best_fixed = std::numeric_limits<double>::infinity();
    for (GridSpacing s : {GridSpacing::time_uniform, GridSpacing::log_snr, GridSpacing::time_quadratic,
                          GridSpacing::karras}) {
      best_fixed = std::min(best_fixed, error(make_grid(sde, {.spacing = s, .steps = n})));
    }
    OptimizedGridOptions o;  // the library's search (256 pilot rows, 2000 trials), pilot seed 3
    o.steps = n;
    o.seed = 3;
    const double searched = error(make_optimized_grid(sde, *model, *sampler, o));
    MESSAGE(fmt::format("{} N = {}: best fixed grid {:.3e}, searched {:.3e} ({:.3f}x)", name, n, best_fixed, searched,
                        searched / best_fixed));
    CHECK(searched < bound * best_fixed);
  }
}

TEST_CASE("the searched grid is for deterministic fixed-grid samplers; a stochastic one gets the density grid") {
  Problem p;
  auto o = search_options(6);
  CHECK_THROWS_WITH_AS(optimize_grid(p.sde, *p.model, *make_sampler("em"), o), doctest::Contains("em is stochastic"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(make_optimized_grid(p.sde, *p.model, *make_sampler("dopri5"), o),
                       doctest::Contains("dopri5 chooses its own steps"), InvalidArgument);
  const auto em = make_sampler("em");
  o.order = em->traits().order;
  CHECK(make_optimized_grid(p.sde, *p.model, *em, o) == make_optimized_grid(p.sde, *p.model, o));
  o.max_trials = 0;
  CHECK_THROWS_WITH_AS(optimize_grid(p.sde, *p.model, *make_sampler("euler"), o), doctest::Contains("max_trials = 0"),
                       InvalidArgument);
}

TEST_CASE("optimized_grid_for reports the search's cost, and for a stochastic sampler the density grid's pilot") {
  Problem p;
  const auto o = search_options(6);
  const auto heun = make_sampler("heun");
  const OptimizedGrid searched = optimized_grid_for(p.sde, *p.model, *heun, o);
  CHECK(searched.times == make_optimized_grid(p.sde, *p.model, *heun, o));
  CHECK(searched.pilot_rows == o.pilot_samples);
  CHECK(searched.trials >= 1);
  CHECK(searched.error <= searched.start_error);
  const auto em = make_sampler("em");
  const OptimizedGrid density = optimized_grid_for(p.sde, *p.model, *em, o);
  auto density_options = o;
  density_options.order = em->traits().order;
  CHECK(density.times == make_optimized_grid(p.sde, *p.model, density_options));
  CHECK(density.start == "density");
  CHECK(density.trials == 0);
  CHECK(density.pilot_rows == o.pilot_samples);
  CHECK(std::isnan(density.error));
  // The pilot alone: dopri5 at the pilot tolerance over the same span, from the same rows.
  SampleOptions so;
  so.num_samples = o.pilot_samples;
  so.seed = pilot_seed(o.seed);
  const std::string tol = fmt::format("{}", o.pilot_tolerance);
  const auto dopri5 = make_sampler("dopri5", {{"rtol", tol}, {"atol", tol}});
  CHECK(density.pilot_nfe == doctest::Approx(sample(p.sde, *p.model, *dopri5, make_grid(p.sde, {.steps = 1}), so)
                                                 .stats.nfe_per_sample));
}

TEST_CASE("on EDM the optimised run grid ends as the Karras grid, to sigma = 0, and is not worse at equal NFE") {
  // The run grid of --grid optimized on EDM (default_grid: karras with its final step to 0): N - 1
  // steps searched from T to sigma_min, then the step to t = 0, so N + 1 points as Karras's.
  const EdmSde sde;
  const auto target = GaussianMixture::builtin("ring2d");
  const auto model = exact_model(target, sde);
  const Matrix start = sample_prior(sde, 2, 400, 0, PhiloxNoise(0));  // held out: not the pilot's rows
  SampleOptions so;
  so.init = &start;
  // The reference as compare's: dopri5 to 1e-8 T, where the PF-ODE is O(t^2) from its end at 0.
  const Matrix reference = sample(sde, *model, *make_sampler("dopri5", {{"rtol", "1e-10"}, {"atol", "1e-10"}}),
                                  std::vector<double>{sde.T(), 1e-8 * sde.T()}, so)
                               .samples;
  for (const char* name : {"heun", "dpm-solver++"}) {
    const auto sampler = make_sampler(name);
    for (int n : {6, 10}) {
      CAPTURE(name);
      CAPTURE(n);
      const GridOptions g = default_grid(name, sde, n);
      REQUIRE(g.append_zero);
      const std::vector<double> karras = make_grid(sde, g);
      const RunGrid r = plan_run_grid(sde, *model, *sampler, g, true, 3);
      REQUIRE(r.times.size() == static_cast<std::size_t>(n) + 1);
      REQUIRE(karras.size() == r.times.size());
      CHECK(r.times.front() == karras.front());
      CHECK(r.times[static_cast<std::size_t>(n) - 1] == karras[static_cast<std::size_t>(n) - 1]);  // sigma_min
      CHECK(r.times.back() == 0.0);
      REQUIRE(r.optimized);
      CHECK(r.optimized->times == std::vector<double>(r.times.begin(), r.times.end() - 1));
      CHECK(make_run_grid(sde, *model, *sampler, g, true, 3) == r.times);
      const SampleResult on_karras = sample(sde, *model, *sampler, karras, so);
      const SampleResult on_optimized = sample(sde, *model, *sampler, r.times, so);
      CHECK(on_optimized.stats.nfe_per_sample == on_karras.stats.nfe_per_sample);
      const double e_karras = ode_error(on_karras.samples, reference).median;
      const double e_optimized = ode_error(on_optimized.samples, reference).median;
      MESSAGE(fmt::format("EDM {} N = {}: karras {:.3e}, optimized {:.3e} ({:.3f}x; search from {}, {} trials)", name,
                          n, e_karras, e_optimized, e_optimized / e_karras, r.optimized->start, r.optimized->trials));
      CHECK(e_optimized <= e_karras);
    }
  }
  CHECK_THROWS_WITH_AS(plan_run_grid(sde, *model, *make_sampler("heun"), default_grid("heun", sde, 1), true, 3),
                       doctest::Contains("at least 2 steps"), InvalidArgument);
}
