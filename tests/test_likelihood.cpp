// Exact log-likelihoods through the probability-flow ODE against the closed-form log-density of
// Gaussian mixtures, Hutchinson's estimator, determinism and the CLI (bits per dimension:
// test_data_encoding.cpp).
#include "cli_util.hpp"
#include "flow_util.hpp"

#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>


#include <array>
#include <bit>
#include <cmath>
#include <cstdio>
#include <numbers>
#include <string>

using namespace tweedie;
using tweedie::test::Inputs;

namespace {

using Case = tweedie::test::ExactCase;
using tweedie::test::exact_case;
using tweedie::test::with_exact_prior;
using tweedie::test::Outcome;
using tweedie::test::run_cli;

}  // namespace

TEST_CASE("log_likelihood with the exact divergence and the exact prior equals log p_{t_min}") {
  struct Setup {
    const char* family;
    int d, k;
    std::size_t n;
  };
  for (const Setup s : {Setup{"vp", 2, 4, 16}, Setup{"ve", 2, 4, 16}, Setup{"vp", 16, 3, 8},
                        Setup{"edm", 16, 3, 4}, Setup{"vp", 64, 3, 4}}) {
    const std::string family = s.family;
    CAPTURE(family);
    CAPTURE(s.d);
    const auto sde = test::family(s.family);
    Inputs in(100 + static_cast<std::uint64_t>(s.d));
    const GaussianMixture g = in.mixture(s.k, s.d);
    const auto model = exact_model(g, *sde);
    LikelihoodOptions o = with_exact_prior(g, *sde);
    o.t_min = std::string(s.family) == "edm" ? 0.002 : 1e-5;
    o.rtol = o.atol = 1e-8;
    const Case c = exact_case(g, *sde, o.t_min, s.n, 7);
    const LikelihoodResult r = log_likelihood(*sde, *model, c.x, o);
    const double err = (r.log_likelihood - c.exact).cwiseAbs().maxCoeff();
    // The prior mismatch of the family's N(0, prior_std^2 I) (not an error of the solver).
    LikelihoodOptions plain = o;
    plain.prior_log_density = nullptr;
    const LikelihoodResult rp = log_likelihood(*sde, *model, c.x, plain);
    const double mismatch = (rp.log_likelihood - c.exact).mean();
    MESSAGE(fmt::format("{} d = {}: max |log p - exact| = {:.2e} nats, mean NFE {:.0f}, mean "
                        "steps {:.0f} (+{:.1f} rejected); N(0, I) prior mismatch {:+.2e} nats",
                        s.family, s.d, err, r.nfe.mean(), r.accepted_steps.mean(),
                        r.rejected_steps.mean(), mismatch));
    // The bound: 1e-4 nats per sample at rtol = atol = 1e-8.
    CHECK(err < 1e-4);
    CHECK(r.latent.allFinite());
    CHECK((r.nfe.array() > 0).all());
    // Same solve, same latent: only the prior differs.
    CHECK(test::bitwise_equal(r.latent, rp.latent));
  }
}

TEST_CASE("Hutchinson's estimate is unbiased: mean error within 3 standard errors of 0") {
  const auto sde = test::family("vp");
  Inputs in(5);
  const GaussianMixture g = in.mixture(3, 16);
  const auto model = exact_model(g, *sde);
  for (ProbeKind kind : {ProbeKind::rademacher, ProbeKind::gaussian}) {
    CAPTURE(to_string(kind));
    LikelihoodOptions o = with_exact_prior(g, *sde);
    o.rtol = o.atol = 1e-6;
    o.divergence = Divergence::hutchinson;
    o.probes = 2;
    o.probe_kind = kind;
    o.seed = 11;
    const Case c = exact_case(g, *sde, o.t_min, 200, 3);
    const LikelihoodResult r = log_likelihood(*sde, *model, c.x, o);
    const Vector e = r.log_likelihood - c.exact;
    const double n = static_cast<double>(e.size());
    const double mean = e.mean();
    const double se = std::sqrt((e.array() - mean).square().sum() / (n - 1) / n);
    MESSAGE(fmt::format("hutchinson ({}, K = 2, d = 16): mean error {:+.3e} nats, standard error "
                        "{:.3e}, per-sample sd {:.3e}, mean NFE {:.0f}",
                        to_string(kind), mean, se, se * std::sqrt(n), r.nfe.mean()));
    CHECK(se > 0.0);  // the estimate is stochastic: a zero spread would mean the probes do nothing
    CHECK(std::fabs(mean) < 3.0 * se);
  }
}

TEST_CASE("log_likelihood is bitwise identical across threads and chunks") {
  const auto sde = test::family("vp");
  Inputs in(9);
  const GaussianMixture g = in.mixture(3, 4);
  const auto model = exact_model(g, *sde);
  const Case c = exact_case(g, *sde, 1e-5, 13, 1);
  for (Divergence div : {Divergence::exact, Divergence::hutchinson}) {
    CAPTURE(to_string(div));
    LikelihoodOptions a;
    a.divergence = div;
    a.probes = 3;
    a.seed = 4;
    a.execution = {1, 13};
    LikelihoodOptions b = a;
    b.execution = {2, 3};
    const LikelihoodResult ra = log_likelihood(*sde, *model, c.x, a);
    const LikelihoodResult rb = log_likelihood(*sde, *model, c.x, b);
    CHECK(test::bitwise_equal(ra.log_likelihood, rb.log_likelihood));
    CHECK(test::bitwise_equal(ra.latent, rb.latent));
    CHECK(ra.nfe == rb.nfe);
    // Each sample alone gives the same result as in the batch.
    const LikelihoodResult alone = log_likelihood(*sde, *model, c.x.topRows(1), a);
    CHECK(std::bit_cast<std::uint64_t>(alone.log_likelihood(0)) ==
          std::bit_cast<std::uint64_t>(ra.log_likelihood(0)));
  }
}

TEST_CASE("log_likelihood refuses bad inputs") {
  const auto sde = test::family("vp");
  const GaussianMixture g = GaussianMixture::ring();
  const auto model = exact_model(g, *sde);
  const Matrix x = Matrix::Zero(3, 2);
  LikelihoodOptions o;
  const auto plain = make_model(Prediction::score, 2, [](const ConstVectorRef&, const ConstMatrixRef& xs,
                                                         MatrixRef out) { out = -xs; });
  CHECK_FALSE(plain->has_divergence());
  CHECK_THROWS_AS(log_likelihood(*sde, *plain, x, o), InvalidArgument);
  o.divergence = Divergence::hutchinson;  // works without a divergence: N(0, I) score, exact answer
  const LikelihoodResult r = log_likelihood(*sde, *plain, x, o);
  // The score -x is that of N(0, I) at every t, which VP keeps: log p = log N(0; 0, I) = -log(2 pi).
  CHECK(r.log_likelihood(0) == doctest::Approx(-std::log(2.0 * std::numbers::pi)).epsilon(1e-6));
  o.divergence = Divergence::exact;
  CHECK_THROWS_AS(log_likelihood(*sde, *model, Matrix::Zero(3, 3), o), InvalidArgument);
  LikelihoodOptions bad = o;
  bad.t_min = 1.0;  // = T
  CHECK_THROWS_AS(log_likelihood(*sde, *model, x, bad), InvalidArgument);
  bad = o;
  bad.atol = 0.0;
  CHECK_THROWS_AS(log_likelihood(*sde, *model, x, bad), InvalidArgument);
  bad = o;
  bad.probes = 0;
  CHECK_THROWS_AS(log_likelihood(*sde, *model, x, bad), InvalidArgument);
  Matrix nan = x;
  nan(1, 1) = std::nan("");
  CHECK_THROWS_AS(log_likelihood(*sde, *model, nan, o), InvalidArgument);
  CHECK_THROWS_AS(divergence_from_string("trace"), InvalidArgument);
}

TEST_CASE("tweedie likelihood prints nats and bits/dim, and refuses bad inputs with status 2") {
  test::TempDir dir;
  const auto sde = test::family("vp");
  const GaussianMixture g = GaussianMixture::ring();
  const Matrix x = g.sample(*sde, 1e-5, 20, PhiloxNoise(2));
  write_npy(dir.file("x.npy"), x);
  const std::string base = fmt::format("likelihood --target builtin:ring --sde vp --data {}", dir.file("x.npy"));
  const Outcome r = run_cli(base + " --out " + dir.file("logp.npy"));
  CAPTURE(r.output);
  REQUIRE(r.status == 0);
  CHECK(r.output.find("nats") != std::string::npos);
  CHECK(r.output.find("bits/dim") != std::string::npos);
  CHECK(r.output.find("NFE/sample") != std::string::npos);
  CHECK(read_npy(dir.file("logp.npy")).values.size() == 20);
  const Outcome h = run_cli(base + " --divergence hutchinson --probes 2 --data-scale 2");
  CAPTURE(h.output);
  CHECK(h.status == 0);
  for (const std::string bad : {" --divergence trace", " --bits 8", " --probes 0", " --t-min 2",
                                " --data-scale 0", " --atol 0"}) {
    const Outcome b = run_cli(base + bad);
    CAPTURE(bad);
    CAPTURE(b.output);
    CHECK(b.status == 2);
    CHECK(b.output.rfind("tweedie: error: ", 0) == 0);
  }
  write_npy(dir.file("y.npy"), Matrix::Zero(3, 5));
  const Outcome w = run_cli(fmt::format("likelihood --target builtin:ring --data {}", dir.file("y.npy")));
  CHECK(w.status == 2);
  CHECK(w.output.find("columns") != std::string::npos);
}
