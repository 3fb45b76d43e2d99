// The forward SDE families: reference values, the identities between the coefficients and the
// marginals, inverse maps, validation, and the marginals of a simulated forward process.
#include "test_util.hpp"

#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>
#include <string>

using tweedie::test::all_families;
using tweedie::test::family;
using tweedie::test::rel_error;
using tweedie::test::ulp;

namespace {

bool close_rel(double a, double b, double rel) {
  return std::fabs(a - b) <= rel * std::max(std::fabs(a), std::fabs(b));
}

// d lambda/dt = d log alpha/dt - d log sigma/dt = f - (f + g^2/(2 sigma^2)) = -g^2/(2 sigma^2).
// Used only to express round-trip errors in units of the rounding that the inverse cannot undo;
// the identities behind it are checked against finite differences below.
double dlambda_dt(const tweedie::Sde& sde, double t) {
  const double s = sde.sigma(t);
  return -sde.g2(t) / (2.0 * s * s);
}

}  // namespace

TEST_CASE("vp family matches the score_sde reference values (FORMULAS b10)") {
  // FORMULAS b10, recomputed to 17 digits from the closed forms with mpmath at 40 digits. The
  // library evaluates each with a handful of roundings (exp, expm1, sqrt, log): 1e-14 relative
  // is about 50 ulp, far below any formula error.
  const tweedie::VpSde vp;
  struct Row {
    double t, alpha, sigma, lambda;
  };
  for (const Row& r : {Row{1.0, 0.006571586494929615, 0.99997840689233868, -5.0249784066592042},
                       Row{0.5, 0.28118288079675238, 0.95965420206803625, -1.2275677344107873},
                       Row{1e-3, 0.99994502651109762, 0.010485416335094896, 4.5577149327298977},
                       Row{1e-5, 0.99999949950262525, 0.0010004971259352383, 6.9072577760755595}}) {
    CAPTURE(r.t);
    CHECK(rel_error(vp.alpha(r.t), r.alpha) <= 1e-14);
    CHECK(rel_error(vp.sigma(r.t), r.sigma) <= 1e-14);
    CHECK(rel_error(vp.lambda(r.t), r.lambda) <= 1e-14);
  }
  CHECK(vp.T() == 1.0);
  CHECK(vp.default_t_end() == 1e-3);
  CHECK(vp.prior_std() == 1.0);
  CHECK_FALSE(vp.allows_zero_time());
}

TEST_CASE("subvp family has the vp mean and the un-square-rooted std (FORMULAS b10)") {
  // Reference values as above (mpmath, 40 digits); same 1e-14 relative budget.
  const tweedie::SubVpSde subvp;
  const tweedie::VpSde vp;
  CHECK(rel_error(subvp.sigma(0.5), 0.92093618754683934) <= 1e-14);
  CHECK(rel_error(subvp.sigma(1e-3), 1.0994395572027488e-4) <= 1e-14);
  CHECK(rel_error(subvp.lambda(0.5), -1.1863854688215745) <= 1e-14);
  for (double t : {1e-3, 0.25, 0.5, 1.0}) {
    CHECK(subvp.alpha(t) == vp.alpha(t));
    CHECK(subvp.f(t) == vp.f(t));
  }
}

TEST_CASE("ve family: g(t)/sigma(t) = sqrt(2 ln(sigma_max/sigma_min)) (FORMULAS b10)") {
  const tweedie::VeSde ve;
  // sqrt(2 ln 5000) from mpmath; g/sigma is a sqrt and a division of exact-in-t quantities.
  for (double t : {1e-5, 0.1, 0.5, 1.0}) {
    CAPTURE(t);
    CHECK(rel_error(ve.g(t) / ve.sigma(t), 4.1272734804992599) <= 1e-14);
    CHECK(ve.alpha(t) == 1.0);
    CHECK(ve.f(t) == 0.0);
  }
  CHECK(rel_error(ve.sigma(0.0), 0.01) <= 1e-15);
  CHECK(rel_error(ve.sigma(1.0), 50.0) <= 1e-14);
  CHECK(ve.prior_std() == 50.0);
  CHECK(ve.default_t_end() == 1e-5);
}

TEST_CASE("edm family: alpha = 1, sigma = t, lambda = -log t") {
  const tweedie::EdmSde edm;
  for (double t : {0.002, 0.5, 1.0, 17.0, 80.0}) {
    CAPTURE(t);
    CHECK(edm.alpha(t) == 1.0);
    CHECK(edm.sigma(t) == t);
    CHECK(edm.f(t) == 0.0);
    CHECK(edm.g2(t) == 2.0 * t);
    CHECK(edm.lambda(t) == -std::log(t));
  }
  CHECK(edm.T() == 80.0);
  CHECK(edm.default_t_end() == 0.002);
  CHECK(edm.prior_std() == 80.0);
  CHECK(edm.allows_zero_time());
}

TEST_CASE("cosine family ends at DPM-Solver's T = 0.9946") {
  const tweedie::CosineSde cosine;
  // DPM-Solver (NoiseScheduleVP, schedule='cosine') ends the cosine schedule at T = 0.9946.
  CHECK(cosine.T() == 0.9946);
  // There the variance rate beta(T) = -2 f(T) stays below DPM-Solver's cosine_beta_max = 999
  // (reached at its cosine_t_max = 0.99800): beta(0.9946) = pi/(1+s) tan((T+s)/(1+s) pi/2)
  // = 370.36162811998616 (mpmath). Near its pole tan amplifies the rounding of its argument
  // by u/(sin u cos u) ~ 600: 1e-12 relative.
  CHECK(rel_error(-2.0 * cosine.f(cosine.T()), 370.36162811998616) <= 1e-12);
  CHECK(-2.0 * cosine.f(cosine.T()) < 999.0);
}

TEST_CASE("cosine family matches closed-form reference values down to t = 1e-5") {
  // alpha = cos((t+s)/(1+s) pi/2)/cos(s/(1+s) pi/2), sigma = sqrt(1 - alpha^2), lambda =
  // log(alpha/sigma), computed with mpmath at 40 digits. All three are well conditioned in t
  // (sigma ~ sqrt(t) near 0), so careful double evaluation is good to a few ulp; the budget is
  // 1e-13 relative (450 ulp) as a margin, e.g. for cos(u) near its zero at T, where the rounding
  // of u costs tan(u) eps = 118 eps.
  const tweedie::CosineSde cosine;
  struct Row {
    double t, alpha, sigma, lambda;
  };
  for (const Row& r :
       {Row{1e-5, 0.99999980559720181, 0.00062354274799782619, 7.3800930394478405},
        Row{1e-3, 0.99997935767453631, 0.0064252801356655106, 5.0474944057310334},
        Row{0.01, 0.99968430937054248, 0.025125317875432343, 3.6835635204541948},
        Row{0.5, 0.70274005894116902, 0.71144670184024487, -0.012313441405757272},
        Row{0.9946, 0.0084155349593612606, 0.99996458875869588, -4.7776404693750837}}) {
    CAPTURE(r.t);
    CHECK(rel_error(cosine.alpha(r.t), r.alpha) <= 1e-13);
    CHECK(rel_error(cosine.sigma(r.t), r.sigma) <= 1e-13);
    CHECK(rel_error(cosine.lambda(r.t), r.lambda) <= 1e-13);
  }
}

TEST_CASE("coefficients match finite differences of the marginals for every family") {
  // d log alpha / dt = f and d sigma^2 / dt - 2 f sigma^2 = g^2, by central differences with
  // h = 1e-4 min(t, T - t): the truncation error is (h/scale)^2 ~ 1e-8 relative at worst (the
  // cosine schedule near its pole), the rounding error eps |value| / h stays below 1e-10.
  for (const auto& sde : all_families()) {
    const double T = sde->T();
    for (double t : {sde->default_t_end(), 0.01 * T, 0.1 * T, 0.5 * T, 0.9 * T, 0.99 * T}) {
      CAPTURE(sde->name());
      CAPTURE(t);
      const double h = 1e-4 * std::min(t, T - t);
      const double dlog_alpha =
          (std::log(sde->alpha(t + h)) - std::log(sde->alpha(t - h))) / (2.0 * h);
      auto var = [&](double u) { return sde->sigma(u) * sde->sigma(u); };
      const double dvar = (var(t + h) - var(t - h)) / (2.0 * h);
      CHECK(close_rel(dlog_alpha, sde->f(t), 1e-6));
      CHECK(close_rel(dvar - 2.0 * sde->f(t) * var(t), sde->g2(t), 1e-6));
      CHECK(rel_error(sde->g(t), std::sqrt(sde->g2(t))) <= 1e-15);
    }
  }
}

TEST_CASE("lambda and t_of_lambda are inverse to rounding for every family") {
  // Errors are measured in units of what the inverse cannot undo: the rounding of its own output
  // plus the rounding of its input carried through the map, e.g. for t -> lambda -> t
  //   unit = ulp(t) + ulp(lambda) |dt/dlambda|.
  // (In plain ulps of t, ve at t = 1e-5 is off by 14666 ulp: lambda = 4.6 - 8.5e-5 cannot hold t
  // more finely than 4.6 eps / ln 5000.) Measured over 10^4 points of [t_end, T]:
  //   t -> lambda -> t: vp 1.83, subvp 1.93, ve 0.89, edm 0.50 units;
  //   lambda -> t -> lambda: vp 1.84, subvp 1.95, ve 1.41, edm 0.50 units.
  // The bound is 4 units (RELIABILITY S5: 4 ulp). The cosine family measured 825 and 1261 units
  // near t = 1e-3 (acos of an argument near 1); that is a defect, not a tolerance to widen.
  constexpr int n = 10000;
  constexpr double bound = 4.0;
  for (const auto& sde : all_families()) {
    CAPTURE(sde->name());
    const double t0 = sde->default_t_end(), T = sde->T();
    const double l_hi = sde->lambda(t0), l_lo = sde->lambda(T);
    double worst_t = 0.0, worst_l = 0.0, at_t = 0.0, at_l = 0.0;
    for (int i = 0; i < n; ++i) {
      const double w = static_cast<double>(i) / (n - 1);
      const double t = t0 + w * (T - t0);
      const double l = sde->lambda(t);
      const double e_t =
          std::fabs(sde->t_of_lambda(l) - t) / (ulp(t) + ulp(l) / std::fabs(dlambda_dt(*sde, t)));
      if (e_t > worst_t) worst_t = e_t, at_t = t;
      const double lam = l_lo + w * (l_hi - l_lo);
      const double u = sde->t_of_lambda(lam);
      const double e_l =
          std::fabs(sde->lambda(u) - lam) / (ulp(lam) + ulp(u) * std::fabs(dlambda_dt(*sde, u)));
      if (e_l > worst_l) worst_l = e_l, at_l = lam;
    }
    CAPTURE(at_t);
    CAPTURE(at_l);
    CHECK(worst_t <= bound);
    CHECK(worst_l <= bound);
  }
}

TEST_CASE("noise_level and t_of_noise_level are inverse to rounding for every family") {
  // sigma/alpha -> t -> sigma/alpha in units of ulp(s) + |ds/dt| ulp(t). Measured maxima: vp 2.25,
  // subvp 2.78, ve 5.79, cosine 2.28, edm 2.00. t_of_noise_level goes through lambda = -log s,
  // whose rounding costs up to |lambda| eps relative (4.6 eps for ve): the bound is 8 units.
  for (const auto& sde : all_families()) {
    CAPTURE(sde->name());
    const double t0 = sde->default_t_end(), T = sde->T();
    double worst = 0.0;
    for (int i = 0; i < 10000; ++i) {
      const double t = t0 + (T - t0) * i / 9999.0;
      const double s = sde->noise_level(t);
      const double u = sde->t_of_noise_level(s);
      const double ds_dt = std::fabs(s * dlambda_dt(*sde, u));  // d(sigma/alpha)/dt = -s lambda'
      worst = std::max(worst, std::fabs(sde->noise_level(u) - s) / (ulp(s) + ds_dt * ulp(u)));
    }
    CHECK(worst <= 8.0);
  }
}

TEST_CASE("prior_log_density is the log-density of N(0, prior_std^2 I)") {
  for (const auto& sde : all_families()) {
    CAPTURE(sde->name());
    const double s = sde->prior_std();
    Eigen::RowVectorXd x(3);
    x << 0.3 * s, -1.7 * s, 2.2 * s;
    double expected = 0.0;  // sum of one-dimensional log-densities
    for (Eigen::Index j = 0; j < x.size(); ++j) {
      expected += std::log(std::exp(-0.5 * x(j) * x(j) / (s * s)) /
                           (std::sqrt(2.0 * std::numbers::pi) * s));
    }
    // exp/log round trips on values of order 1-10: 1e-13 relative.
    CHECK(rel_error(sde->prior_log_density(x), expected) <= 1e-13);
  }
}

TEST_CASE("invalid family options are refused at construction") {
  using tweedie::InvalidArgument;
  CHECK_THROWS_AS(tweedie::VpSde({0.0, 20.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::VpSde({-0.1, 20.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::VpSde({0.1, 0.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::VpSde({std::nan(""), 20.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::SubVpSde({0.0, 20.0}), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::VpSde({-1.0, 20.0}), doctest::Contains("beta_min"),
                       InvalidArgument);
  CHECK_THROWS_AS(tweedie::VeSde({0.01, 0.01}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::VeSde({1.0, 0.5}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::VeSde({0.0, 50.0}), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::VeSde({60.0, 50.0}), doctest::Contains("sigma_max"),
                       InvalidArgument);
  CHECK_THROWS_AS(tweedie::EdmSde({80.0, 80.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::EdmSde({-0.1, 80.0}), InvalidArgument);
  CHECK_THROWS_WITH_AS(tweedie::CosineSde({-0.01, 0.9946}), doctest::Contains("s must"),
                       InvalidArgument);
  // alpha vanishes at t = 1 (lambda = -inf there): the end time must lie in (0, 1).
  CHECK_THROWS_WITH_AS(tweedie::CosineSde({0.008, 1.0}), doctest::Contains("t_max"),
                       InvalidArgument);
  CHECK_THROWS_AS(tweedie::CosineSde({0.008, 0.0}), InvalidArgument);
  CHECK_THROWS_AS(tweedie::CosineSde({0.008, std::nan("")}), InvalidArgument);
  // The boundary values that are valid.
  CHECK_NOTHROW(tweedie::EdmSde({0.0, 80.0}));
  CHECK_NOTHROW(tweedie::CosineSde({0.0, 0.9946}));
}

TEST_CASE("make_sde builds every family and refuses unknown names and foreign options") {
  using tweedie::InvalidArgument;
  for (const auto& name : tweedie::sde_names()) {
    tweedie::SdeSpec spec;
    spec.family = name;
    CHECK(make_sde(spec)->name() == name);
  }
  tweedie::SdeSpec spec;
  spec.family = "vpx";
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("'vpx'"), InvalidArgument);

  spec = {};
  spec.family = "vp";
  spec.sigma_max = 10.0;
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("--sigma-max"), InvalidArgument);
  spec = {};
  spec.family = "ve";
  spec.beta_min = 0.1;
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("--beta-min"), InvalidArgument);
  spec = {};
  spec.family = "cosine";
  spec.sigma_min = 0.1;
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("--sigma-min"), InvalidArgument);
  spec = {};
  spec.family = "cosine";
  spec.beta_max = 999.0;
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("--beta-max"), InvalidArgument);
  spec = {};
  spec.family = "edm";
  spec.cosine_s = 0.01;
  CHECK_THROWS_WITH_AS(make_sde(spec), doctest::Contains("--cosine-s"), InvalidArgument);
  spec = {};
  spec.family = "subvp";
  spec.beta_min = -1.0;
  CHECK_THROWS_AS(make_sde(spec), InvalidArgument);

  // Options that apply are passed through: vp with beta_min = 0.5, beta_max = 10 has
  // log alpha(t) = -t^2 (10 - 0.5)/4 - 0.5 t/2.
  spec = {};
  spec.family = "vp";
  spec.beta_min = 0.5;
  spec.beta_max = 10.0;
  CHECK(rel_error(make_sde(spec)->alpha(0.6), std::exp(-0.36 * 9.5 / 4.0 - 0.3 / 2.0)) <= 1e-15);
  spec = {};
  spec.family = "ve";
  spec.sigma_max = 348.0;
  CHECK(make_sde(spec)->prior_std() == 348.0);
}

TEST_CASE("check_time names the time and the family's domain") {
  using tweedie::InvalidArgument;
  const auto vp = family("vp");
  CHECK_THROWS_WITH_AS(vp->check_time(0.0, "t_end"), doctest::Contains("t_end = 0"),
                       InvalidArgument);
  CHECK_THROWS_WITH_AS(vp->check_time(0.0, "t_end"),
                       doctest::Contains("vp family's time domain (0, 1]"), InvalidArgument);
  CHECK_THROWS_AS(vp->check_time(1.0000001, "t"), InvalidArgument);
  CHECK_THROWS_AS(vp->check_time(-1e-3, "t"), InvalidArgument);
  CHECK_THROWS_AS(vp->check_time(std::nan(""), "t"), InvalidArgument);
  CHECK_THROWS_AS(vp->check_time(HUGE_VAL, "t"), InvalidArgument);
  CHECK_NOTHROW(vp->check_time(1.0, "t"));
  CHECK_NOTHROW(vp->check_time(1e-300, "t"));

  const auto edm = family("edm");
  CHECK_NOTHROW(edm->check_time(0.0, "t"));
  CHECK_NOTHROW(edm->check_time(80.0, "t"));
  CHECK_THROWS_WITH_AS(
      edm->check_time(81.0, "t_start"),
      doctest::Contains("t_start = 81 is outside the edm family's time domain [0, 80]"),
      InvalidArgument);
  CHECK_NOTHROW(family("ve")->check_time(0.0, "t"));
}

TEST_CASE("forward Euler-Maruyama simulation reproduces the closed-form marginals") {
  // x0 = 1, n = 2e4 paths, 1000 EM steps on [0, t], normals from PhiloxNoise. The paths are
  // drawn as 1e4 rows of 2 coordinates: the coefficients are scalar, so the two coordinates of a
  // row are independent one-dimensional paths (and each Box-Muller pair is used whole). The
  // process is linear, so x_t is Gaussian with mean alpha(t) x0 and variance sigma(t)^2 (ve: the
  // variance added from 0 to t is int g^2 = sigma(t)^2 - sigma_min^2, score_sde's convention).
  // Mean: within 4 standard errors (the EM mean bias, prod(1 + f dt) vs alpha, is at most 1.2%
  // of alpha(1) = 0.0066 for vp: 1e-4 against a standard error of 7e-3).
  // Variance: sampling error sqrt(2/n) = 1%, so 4 SE = 4%, plus the O(dt) EM bias: at dt = 1e-3
  // the left-point rule misses about dt |d log g^2/dt| / 2 of the added variance, 0.85% for ve
  // (d log g^2/dt = 2 ln 5000) and at most 0.5% for vp/subvp (from the EM variance recursion).
  // Tolerance: 4% + 1% = 5% relative.
  constexpr int rows = 10000, steps = 1000;
  constexpr double n = 2.0 * rows;
  const tweedie::PhiloxNoise noise(2024);
  for (const char* name : {"vp", "subvp", "ve"}) {
    const auto sde = family(name);
    for (double t : {0.1, 0.5, 1.0}) {
      CAPTURE(name);
      CAPTURE(t);
      const double dt = t / steps;
      tweedie::Matrix x = tweedie::Matrix::Ones(rows, 2), z(rows, 2);
      for (int k = 0; k < steps; ++k) {
        const double s = k * dt;  // times from the index (no accumulated increments)
        noise.normal(0, static_cast<std::uint32_t>(k), 0, tweedie::NoiseStream::diffusion, z);
        x = x + sde->f(s) * x * dt + std::sqrt(sde->g2(s) * dt) * z;
      }
      const double mean = x.mean();
      const double var = (x.array() - mean).square().sum() / (n - 1.0);
      const double sigma_0 = std::string(name) == "ve" ? sde->sigma(0.0) : 0.0;
      const double var_exact = sde->sigma(t) * sde->sigma(t) - sigma_0 * sigma_0;
      CHECK(std::fabs(mean - sde->alpha(t)) <= 4.0 * std::sqrt(var / n));
      CHECK(std::fabs(var / var_exact - 1.0) <= 0.05);
    }
  }
}

TEST_CASE("same_family: the same noise levels at the same times, not only the same name") {
  auto spec = [](const std::string& family, std::optional<double> beta_max = std::nullopt) {
    tweedie::SdeSpec s;
    s.family = family;
    s.beta_max = beta_max;
    return tweedie::make_sde(s);
  };
  CHECK(tweedie::same_family(*spec("vp"), *spec("vp")));
  CHECK_FALSE(tweedie::same_family(*spec("vp"), *spec("vp", 15.0)));  // same name, other schedule
  CHECK_FALSE(tweedie::same_family(*spec("vp"), *spec("subvp")));      // same alpha, other sigma
  CHECK_FALSE(tweedie::same_family(*spec("ve"), *spec("edm")));
}
