// Time grids: shape and endpoints for every N, the spacing each kind promises, EDM's Karras
// values, and the refusals of bad options and bad explicit grids.
#include "test_util.hpp"

#include <tweedie/grid.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

using tweedie::GridOptions;
using tweedie::GridSpacing;
using tweedie::InvalidArgument;
using tweedie::test::all_families;
using tweedie::test::family;
using tweedie::test::rel_error;
using tweedie::test::ulp;

namespace {

constexpr GridSpacing kSpacings[] = {GridSpacing::time_uniform, GridSpacing::log_snr,
                                     GridSpacing::time_quadratic, GridSpacing::karras};

// The shape every grid promises (RELIABILITY G1): N + 1 points, the endpoints bitwise, strictly
// decreasing. Returns false at the first violation, naming it.
bool has_grid_shape(const std::vector<double>& t, int n, double t_start, double t_end) {
  if (t.size() != static_cast<std::size_t>(n) + 1) {
    FAIL_CHECK("grid has " << t.size() << " points for N = " << n);
    return false;
  }
  if (!(t.front() == t_start && t.back() == t_end)) {
    FAIL_CHECK("endpoints " << t.front() << ", " << t.back());
    return false;
  }
  for (std::size_t i = 1; i < t.size(); ++i) {
    if (!(t[i] < t[i - 1])) {
      FAIL_CHECK("not strictly decreasing at point " << i);
      return false;
    }
  }
  return true;
}

GridOptions options(GridSpacing spacing, int steps, double t_start = -1.0, double t_end = -1.0) {
  GridOptions o;
  o.spacing = spacing;
  o.steps = steps;
  o.t_start = t_start;
  o.t_end = t_end;
  return o;
}

}  // namespace

TEST_CASE("vp grids have N + 1 points, exact endpoints and strict decrease for N = 1..1000") {
  const auto vp = family("vp");
  for (GridSpacing s : kSpacings) {
    CAPTURE(to_string(s));
    int bad = 0;
    for (int n = 1; n <= 1000 && bad == 0; ++n) {
      CAPTURE(n);
      if (!has_grid_shape(make_grid(*vp, options(s, n)), n, 1.0, 1e-3)) ++bad;
    }
    CHECK(bad == 0);
  }
}

TEST_CASE("every family's grids have the promised shape for diffusers' list of N") {
  for (const auto& sde : all_families()) {
    for (GridSpacing s : kSpacings) {
      for (int n : {1, 2, 3, 5, 10, 50, 100, 999, 1000}) {
        CAPTURE(sde->name());
        CAPTURE(to_string(s));
        CAPTURE(n);
        CHECK(has_grid_shape(make_grid(*sde, options(s, n)), n, sde->T(), sde->default_t_end()));
      }
    }
  }
  // Explicit endpoints inside the domain, and t_end = 0 where the family allows it.
  const auto edm = family("edm");
  for (GridSpacing s :
       {GridSpacing::time_uniform, GridSpacing::time_quadratic, GridSpacing::karras}) {
    for (int n : {1, 2, 17, 1000}) {
      CAPTURE(to_string(s));
      CAPTURE(n);
      CHECK(has_grid_shape(make_grid(*edm, options(s, n, 80.0, 0.0)), n, 80.0, 0.0));
      CHECK(has_grid_shape(make_grid(*edm, options(s, n, 7.5, 0.01)), n, 7.5, 0.01));
    }
  }
  const auto ve = family("ve");
  CHECK(has_grid_shape(make_grid(*ve, options(GridSpacing::log_snr, 10, 0.9, 0.0)), 10, 0.9, 0.0));
}

TEST_CASE("karras grid for edm reproduces EDM's 18 time steps (FORMULAS b10)") {
  // EDM's sigma_i = (smax^(1/rho) + i/(N-1) (smin^(1/rho) - smax^(1/rho)))^rho with N = 18 points
  // (EDM appends t_N = 0 separately; tweedie's grid of 17 steps has 18 points, both ends
  // included). FORMULAS b10 lists 80.0, 57.585985, 40.785574, 28.374585, ..., 0.022935, 0.007528,
  // 0.002; the 17-digit values are the same formula in mpmath at 40 digits. The library's path
  // (pow 1/7, interpolation, pow 7, through lambda = -log sigma and back) costs a few roundings
  // amplified by rho = 7 in the pow: 1e-13 relative.
  const double expected[18] = {80.0,
                               57.585984721248158,
                               40.785573796507958,
                               28.374584604156837,
                               19.352452980325221,
                               12.910082380757316,
                               8.4009353090998212,
                               5.3151945217963789,
                               3.2568215197655383,
                               1.9233398370400499,
                               1.0881706365452794,
                               0.5853481231945423,
                               0.29644228447915726,
                               0.13951646873101648,
                               0.059947311235471567,
                               0.022934518372333368,
                               0.0075280199627840704,
                               0.002};
  GridOptions o = options(GridSpacing::karras, 17, 80.0, 0.002);
  o.rho = 7.0;
  const std::vector<double> t = make_grid(*family("edm"), o);
  REQUIRE(t.size() == 18);
  for (int i = 0; i < 18; ++i) {
    CAPTURE(i);
    CHECK(rel_error(t[static_cast<std::size_t>(i)], expected[i]) <= 1e-13);
  }
  // The values printed in FORMULAS b10, to half a unit of their last (sixth) decimal.
  CHECK(std::fabs(t[1] - 57.585985) <= 5e-7);
  CHECK(std::fabs(t[2] - 40.785574) <= 5e-7);
  CHECK(std::fabs(t[3] - 28.374585) <= 5e-7);
  CHECK(std::fabs(t[15] - 0.022935) <= 5e-7);
  CHECK(std::fabs(t[16] - 0.007528) <= 5e-7);
}

TEST_CASE("each spacing is uniform in its own coordinate") {
  // Point i must sit at u0 + (i/N)(u1 - u0) in the coordinate u of the spacing. The bounds are
  // rounding bounds: a few ulp of the coordinate's range, plus (for maps through lambda) the
  // rounding of t carried to the coordinate, |du/dt| ulp(t).
  constexpr int n = 37;
  for (const auto& sde : all_families()) {
    CAPTURE(sde->name());
    const double t0 = sde->T(), t1 = sde->default_t_end();
    auto at = [&](int i, double u0, double u1) {
      return u0 + (static_cast<double>(i) / n) * (u1 - u0);
    };

    const auto uniform = make_grid(*sde, options(GridSpacing::time_uniform, n));
    const auto quadratic = make_grid(*sde, options(GridSpacing::time_quadratic, n));
    const auto log_snr = make_grid(*sde, options(GridSpacing::log_snr, n));
    const auto karras = make_grid(*sde, options(GridSpacing::karras, n));
    const double l0 = sde->lambda(t0), l1 = sde->lambda(t1);
    const double k0 = std::pow(sde->noise_level(t0), 1.0 / 7.0);
    const double k1 = std::pow(sde->noise_level(t1), 1.0 / 7.0);
    for (int i = 1; i < n; ++i) {
      CAPTURE(i);
      const auto k = static_cast<std::size_t>(i);
      // Linear interpolation: 2 ulp of the largest endpoint.
      CHECK(std::fabs(uniform[k] - at(i, t0, t1)) <= 2.0 * ulp(t0));
      // u^2 then sqrt: 2 ulp of u, plus 2 for the interpolation.
      CHECK(std::fabs(std::sqrt(quadratic[k]) - at(i, std::sqrt(t0), std::sqrt(t1))) <=
            4.0 * ulp(std::sqrt(t0)));
      // The lambda round trip (4 units in test_sde) plus 2 ulp of the interpolation.
      const double t = log_snr[k];
      const double dl = std::fabs(sde->g2(t) / (2.0 * sde->sigma(t) * sde->sigma(t)));
      CHECK(std::fabs(sde->lambda(t) - at(i, l0, l1)) <=
            4.0 * (ulp(sde->lambda(t)) + dl * ulp(t)) +
                2.0 * ulp(std::max(std::fabs(l0), std::fabs(l1))));
      // Karras: (sigma/alpha)^(1/7); pow 7 then the noise-level round trip (8 units, whose
      // relative error the 1/7 power divides by 7) then pow 1/7: 8 ulp of the largest endpoint,
      // plus the rounding of t itself carried through u = (sigma/alpha)^(1/7), whose derivative
      // is u/7 * g^2/(2 sigma^2) (large for cosine near T, where beta reaches hundreds).
      const double tk = karras[k];
      const double u = std::pow(sde->noise_level(tk), 1.0 / 7.0);
      const double du = u / 7.0 * std::fabs(sde->g2(tk) / (2.0 * sde->sigma(tk) * sde->sigma(tk)));
      CHECK(std::fabs(u - at(i, k0, k1)) <= 8.0 * ulp(std::max(k0, k1)) + 4.0 * du * ulp(tk));
    }
  }
}

TEST_CASE("validate_grid refuses short, non-monotone and out-of-domain grids, naming the index") {
  const auto vp = family("vp");
  const auto edm = family("edm");
  CHECK_NOTHROW(tweedie::validate_grid(*vp, std::vector<double>{1.0, 0.5, 1e-3}));
  CHECK_NOTHROW(tweedie::validate_grid(*edm, std::vector<double>{80.0, 1.0, 0.0}));
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{0.5}),
                       doctest::Contains("at least 2 points"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{}),
                       doctest::Contains("at least 2 points"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{1.0, 0.5, 0.7, 0.1}),
                       doctest::Contains("not strictly decreasing at point 2"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{1.0, 0.5, 0.5}),
                       doctest::Contains("point 2"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{1.5, 0.5}),
                       doctest::Contains("time grid point 0 = 1.5"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{1.0, 0.5, 0.0}),
                       doctest::Contains("time grid point 2 = 0"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*vp, std::vector<double>{1.0, std::nan(""), 0.1}),
                       doctest::Contains("point 1"), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::validate_grid(*edm, std::vector<double>{80.0, 1.0, -0.5}),
                       doctest::Contains("point 2"), InvalidArgument);
}

TEST_CASE("make_grid refuses bad options") {
  const auto vp = family("vp");
  const auto edm = family("edm");
  CHECK_THROWS_WITH_AS(make_grid(*vp, options(GridSpacing::time_uniform, 0)),
                       doctest::Contains("steps = 0"), InvalidArgument);
  CHECK_THROWS_AS(make_grid(*vp, options(GridSpacing::karras, -3)), InvalidArgument);
  CHECK_THROWS_WITH_AS(make_grid(*vp, options(GridSpacing::time_uniform, 10, 0.5, 0.5)),
                       doctest::Contains("t_end = 0.5 must be smaller than t_start = 0.5"),
                       InvalidArgument);
  CHECK_THROWS_AS(make_grid(*vp, options(GridSpacing::time_uniform, 10, 0.2, 0.5)),
                  InvalidArgument);
  for (GridSpacing s : kSpacings) {
    CAPTURE(to_string(s));
    CHECK_THROWS_WITH_AS(make_grid(*vp, options(s, 10, 1.0, 0.0)), doctest::Contains("t_end = 0"),
                         InvalidArgument);
  }
  CHECK_THROWS_WITH_AS(make_grid(*vp, options(GridSpacing::time_uniform, 10, 1.5, 0.1)),
                       doctest::Contains("t_start = 1.5"), InvalidArgument);
  CHECK_THROWS_WITH_AS(make_grid(*edm, options(GridSpacing::log_snr, 10, 80.0, 0.0)),
                       doctest::Contains("log-snr"), InvalidArgument);
  GridOptions o = options(GridSpacing::karras, 10);
  o.rho = 0.0;
  CHECK_THROWS_WITH_AS(make_grid(*edm, o), doctest::Contains("rho"), InvalidArgument);
  // EDM's own grid ends at t = 0: allowed for karras.
  const auto t = make_grid(*edm, options(GridSpacing::karras, 18, 80.0, 0.0));
  CHECK(t.back() == 0.0);
  CHECK(t[17] > 0.0);
}

TEST_CASE("grid spacing names round-trip and unknown names are refused") {
  for (GridSpacing s : kSpacings) CHECK(tweedie::grid_spacing_from_string(to_string(s)) == s);
  CHECK_THROWS_WITH_AS(tweedie::grid_spacing_from_string("logsnr"), doctest::Contains("'logsnr'"),
                       InvalidArgument);
}

TEST_CASE("append_zero: the last of N steps goes to sigma = 0 (EDM's and k-diffusion's Karras grid)") {
  const auto edm = family("edm");
  GridOptions o = options(GridSpacing::karras, 18, 80.0, 0.002);
  o.append_zero = true;
  // EDM's time steps for num_steps = 18: the 18 Karras values of N = 17 above, then t_N = 0.
  std::vector<double> expected = make_grid(*edm, options(GridSpacing::karras, 17, 80.0, 0.002));
  expected.push_back(0.0);
  CHECK(make_grid(*edm, o) == expected);
  o.steps = 1;  // get_sigmas_karras(1, ...): sigma_max, then 0
  CHECK(make_grid(*edm, o) == std::vector<double>{80.0, 0.0});
  // A grid that already ends at 0 gets nothing more; nor does a family whose sigma stays positive.
  o = options(GridSpacing::karras, 18, 80.0, 0.0);
  o.append_zero = true;
  CHECK(make_grid(*edm, o) == make_grid(*edm, options(GridSpacing::karras, 18, 80.0, 0.0)));
  for (const char* name : {"vp", "subvp", "ve", "cosine"}) {
    CAPTURE(name);
    const auto sde = family(name);
    GridOptions k = options(GridSpacing::karras, 10);
    const auto plain = make_grid(*sde, k);
    k.append_zero = true;
    CHECK(make_grid(*sde, k) == plain);
    CHECK_FALSE(tweedie::reaches_zero_noise(*sde));
  }
  CHECK(tweedie::reaches_zero_noise(*edm));
}

TEST_CASE("run_grid_spacing names every spacing and optimized, and lists them for an unknown name") {
  for (GridSpacing s : tweedie::grid_spacings) {
    CHECK(tweedie::run_grid_spacing(to_string(s)) == s);
    CHECK(tweedie::grid_spacing_from_string(to_string(s)) == s);
  }
  CHECK_FALSE(tweedie::run_grid_spacing(tweedie::optimized_grid_name).has_value());
  CHECK_THROWS_WITH_AS(tweedie::run_grid_spacing("karas"),
                       "unknown grid 'karas' (expected time-uniform, log-snr, time-quadratic, karras or optimized)",
                       InvalidArgument);
  // optimized is no spacing: make_grid's name parser refuses it.
  CHECK_THROWS_AS(tweedie::grid_spacing_from_string(tweedie::optimized_grid_name), InvalidArgument);
}
