// Encoding and decoding through the probability-flow ODE: the closed-form flow of a Gaussian, round
// trips, agreement with log_likelihood's latents, the moments of p_T, determinism, errors and the
// CLI.
#include "cli_util.hpp"
#include "flow_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>

using namespace tweedie;
using tweedie::test::Inputs;

TEST_CASE("encode moves a Gaussian by its closed-form flow") {
  // For p_0 = N(mu, diag(s0^2)) the PF-ODE is affine per component: p_t = N(alpha mu, v_t) with
  // v_t = alpha^2 s0^2 + sigma^2, and x_t - alpha_t mu = (x - alpha_{t_min} mu) sqrt(v_t / v_{t_min}).
  for (const char* name : {"vp", "ve", "edm"}) {
    CAPTURE(name);
    const auto sde = test::family(name);
    Inputs in(41);
    const GaussianMixture g = in.mixture(1, 3);
    FlowOptions o;
    o.t_min = std::string(name) == "edm" ? 0.002 : 1e-5;
    o.rtol = o.atol = 1e-9;
    const Matrix x = in.uniform(5, 3, -2.0, 2.0);
    const FlowResult r = encode(*sde, *exact_model(g, *sde), x, o);
    auto var = [&](double t) {
      const double a = sde->alpha(t), s = sde->sigma(t);
      return ((a * a) * g.stds().row(0).array().square() + s * s).eval();
    };
    const Eigen::ArrayXXd ratio = (var(sde->T()) / var(o.t_min)).sqrt();
    Matrix expected(x.rows(), x.cols());
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      expected.row(i) = sde->alpha(sde->T()) * g.means().row(0).array() +
                        (x.row(i).array() - sde->alpha(o.t_min) * g.means().row(0).array()) * ratio;
    }
    const double scale = expected.cwiseAbs().maxCoeff();
    const double err = (r.x - expected).cwiseAbs().maxCoeff() / scale;
    MESSAGE(fmt::format("{}: encode of a Gaussian vs closed form: max relative error {:.2e}", name, err));
    CHECK(err < 1e-6);
  }
}

TEST_CASE("decode(encode(x)) returns x within the solver tolerance") {
  struct Setup {
    const char* family;
    int d;
  };
  for (const Setup s : {Setup{"vp", 2}, Setup{"vp", 16}, Setup{"edm", 2}, Setup{"edm", 16}}) {
    CAPTURE(s.family);
    CAPTURE(s.d);
    const auto sde = test::family(s.family);
    Inputs in(50 + static_cast<std::uint64_t>(s.d));
    const GaussianMixture g = in.mixture(4, s.d);
    const auto model = exact_model(g, *sde);
    FlowOptions o;
    o.t_min = std::string(s.family) == "edm" ? 0.002 : 1e-5;
    const Matrix x = test::exact_case(g, *sde, o.t_min, 16, 3).x;
    for (const double tol : {1e-5, 1e-8}) {
      o.rtol = o.atol = tol;
      const RoundTrip r = round_trip(*sde, *model, x, o);
      MESSAGE(fmt::format("{} d = {} rtol = atol = {:.0e}: round trip max abs error {:.2e}, RMS {:.2e}; "
                          "NFE/sample encode {:.0f}, decode {:.0f}",
                          s.family, s.d, tol, r.max_abs_error, r.rms_error, r.encoded.nfe.mean(),
                          r.decoded.nfe.mean()));
      CHECK(r.max_abs_error == doctest::Approx((r.decoded.x - x).cwiseAbs().maxCoeff()));
      CHECK(r.rms_error <= r.max_abs_error);
      if (tol == 1e-8) CHECK(r.max_abs_error < 1e-6);
      if (tol == 1e-5) CHECK(r.max_abs_error < 1e-2);
      CHECK((r.encoded.accepted_steps.array() > 0).all());
    }
  }
}

TEST_CASE("encode's latents are log_likelihood's latents") {
  // Same ODE for x; log_likelihood also controls the error of the log-density component, so its
  // steps differ and the two agree to the tolerance, not bitwise.
  const auto sde = test::family("vp");
  Inputs in(61);
  const GaussianMixture g = in.mixture(3, 8);
  const auto model = exact_model(g, *sde);
  LikelihoodOptions o;
  o.rtol = o.atol = 1e-8;
  const Matrix x = test::exact_case(g, *sde, o.t_min, 12, 4).x;
  const FlowResult e = encode(*sde, *model, x, o);  // a LikelihoodOptions is FlowOptions
  const LikelihoodResult l = log_likelihood(*sde, *model, x, o);
  const double gap = (e.x - l.latent).cwiseAbs().maxCoeff();
  MESSAGE(fmt::format("max |encode - log_likelihood latent| = {:.2e}", gap));
  CHECK(gap < 1e-6);
}

TEST_CASE("encoding exact samples of p_{t_min} gives the moments of p_T") {
  for (const char* name : {"vp", "edm"}) {
    CAPTURE(name);
    const auto sde = test::family(name);
    Inputs in(71);
    const GaussianMixture g = in.mixture(3, 2);
    FlowOptions o;
    o.t_min = std::string(name) == "edm" ? 0.002 : 1e-5;
    constexpr std::size_t n = 2000;
    const Matrix x = test::exact_case(g, *sde, o.t_min, n, 9).x;
    const FlowResult r = encode(*sde, *exact_model(g, *sde), x, o);
    const Eigen::RowVectorXd mean = r.x.colwise().mean();
    const Matrix centred = r.x.rowwise() - mean;
    const Eigen::MatrixXd cov = centred.transpose() * centred / static_cast<double>(n - 1);
    const Eigen::RowVectorXd mu = g.mean(*sde, sde->T());
    const Eigen::MatrixXd sigma = g.covariance(*sde, sde->T());
    // Standard errors: var_j / n for the mean; (S_ii S_jj + S_ij^2) / n for a covariance entry
    // (p_T is nearly Gaussian at T). Bound: 4 standard errors.
    const double nn = static_cast<double>(n);
    for (Eigen::Index j = 0; j < 2; ++j) {
      CHECK(std::fabs(mean(j) - mu(j)) < 4.0 * std::sqrt(sigma(j, j) / nn));
      for (Eigen::Index k = 0; k < 2; ++k) {
        const double se = std::sqrt((sigma(j, j) * sigma(k, k) + sigma(j, k) * sigma(j, k)) / nn);
        CHECK(std::fabs(cov(j, k) - sigma(j, k)) < 4.0 * se);
      }
    }
    MESSAGE(fmt::format("{}: latent mean ({:+.3f}, {:+.3f}) vs ({:+.3f}, {:+.3f}); cov diag ({:.3f}, "
                        "{:.3f}) vs ({:.3f}, {:.3f})",
                        name, mean(0), mean(1), mu(0), mu(1), cov(0, 0), cov(1, 1), sigma(0, 0), sigma(1, 1)));
  }
}

TEST_CASE("encode and decode are bitwise identical across threads and chunks") {
  const auto sde = test::family("vp");
  Inputs in(81);
  const GaussianMixture g = in.mixture(3, 4);
  const auto model = exact_model(g, *sde);
  const Matrix x = test::exact_case(g, *sde, 1e-5, 70, 2).x;
  FlowOptions base;
  base.execution = {1, 1};
  const FlowResult e0 = encode(*sde, *model, x, base);
  const FlowResult d0 = decode(*sde, *model, e0.x, base);
  for (const int threads : {1, 2}) {
    for (const std::size_t chunk : {std::size_t{1}, std::size_t{64}}) {
      CAPTURE(threads);
      CAPTURE(chunk);
      FlowOptions o = base;
      o.execution = {threads, chunk};
      const FlowResult e = encode(*sde, *model, x, o);
      const FlowResult d = decode(*sde, *model, e0.x, o);
      CHECK(test::bitwise_equal(e.x, e0.x));
      CHECK(test::bitwise_equal(d.x, d0.x));
      CHECK(e.nfe == e0.nfe);
      CHECK(d.accepted_steps == d0.accepted_steps);
    }
  }
}

TEST_CASE("encode and decode refuse bad inputs with a message naming them") {
  const auto sde = test::family("vp");
  const GaussianMixture g = GaussianMixture::ring();
  const auto model = exact_model(g, *sde);
  const Matrix x = Matrix::Zero(3, 2);
  auto message = [](auto&& call) -> std::string {
    try {
      call();
    } catch (const InvalidArgument& e) {
      return e.what();
    }
    return "no InvalidArgument";
  };
  const FlowOptions o;
  CHECK(message([&] { encode(*sde, *model, Matrix::Zero(3, 3), o); }).find("dimension 3") != std::string::npos);
  CHECK(message([&] { decode(*sde, *model, Matrix::Zero(3, 5), o); }).find("latents have dimension 5") !=
        std::string::npos);
  Matrix nan = x;
  nan(2, 1) = std::nan("");
  CHECK(message([&] { encode(*sde, *model, nan, o); }).find("data are nan at row 2, column 1") != std::string::npos);
  CHECK(message([&] { decode(*sde, *model, nan, o); }).find("latents are nan at row 2, column 1") != std::string::npos);
  FlowOptions bad = o;
  bad.t_min = sde->T();
  CHECK(message([&] { encode(*sde, *model, x, bad); }).find("must be below T") != std::string::npos);
  bad = o;
  bad.t_min = 0.0;
  CHECK(message([&] { decode(*sde, *model, x, bad); }).find("t_min") != std::string::npos);
  bad = o;
  bad.atol = 0.0;
  CHECK(message([&] { encode(*sde, *model, x, bad); }).find("atol") != std::string::npos);
  bad = o;
  bad.max_steps = 0;
  CHECK(message([&] { encode(*sde, *model, x, bad); }).find("max_steps") != std::string::npos);
  bad = o;
  bad.execution.chunk_rows = 0;
  CHECK_THROWS_AS(encode(*sde, *model, x, bad), InvalidArgument);
}

TEST_CASE("a non-finite model output stops encode with the sample and t") {
  // The model fails for rows far out: sample 2 only, at its first evaluation (t_min).
  const auto sde = test::family("vp");
  const auto model = make_model(Prediction::noise, 2, [&sde](const ConstVectorRef& t, const ConstMatrixRef& x,
                                                             MatrixRef out) {
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      out.row(i) = sde->sigma(t(i)) * x.row(i);  // N(0, I): eps = sigma x
      if (x(i, 0) > 100.0) out(i, 0) = std::nan("");
    }
  });
  Matrix x = Matrix::Zero(4, 2);
  x(2, 0) = 1000.0;
  FlowOptions o;
  o.execution = {2, 1};
  try {
    encode(*sde, *model, x, o);
    FAIL("no exception");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 2);
    CHECK(e.time() == o.t_min);
    CHECK(e.step() == 0);
    CHECK(std::string(e.what()).find("the model's noise output, as score, is") != std::string::npos);
    CHECK(std::string(e.what()).find("nan in component 0") != std::string::npos);
  }
  // From the other end: decode meets it at T.
  try {
    decode(*sde, *model, x, o);
    FAIL("no exception");
  } catch (const NonFiniteError& e) {
    CHECK(e.sample() == 2);
    CHECK(e.time() == sde->T());
  }
  // A step cap is a StepLimitError naming the sample.
  o.max_steps = 2;
  CHECK_THROWS_AS(encode(*sde, *exact_model(GaussianMixture::ring(), *sde), Matrix::Ones(1, 2), o),
                  StepLimitError);
}

TEST_CASE("tweedie encode and decode round-trip through .npy files, and refuse bad inputs with status 2") {
  using tweedie::test::Outcome;
  using tweedie::test::run_cli;
  test::TempDir dir;
  const auto sde = test::family("vp");
  const GaussianMixture g = GaussianMixture::ring();
  const Matrix x = g.sample(*sde, 1e-5, 30, PhiloxNoise(6));
  write_npy(dir.file("x.npy"), x);
  const std::string problem = "--target builtin:ring --sde vp --rtol 1e-8 --atol 1e-8";
  const Outcome e = run_cli(fmt::format("encode {} --data {} --out {} --threads 2 --chunk 7", problem,
                                        dir.file("x.npy"), dir.file("z.npy")));
  CAPTURE(e.output);
  REQUIRE(e.status == 0);
  for (const char* part : {"encode: NFE/sample", "round trip", "max abs error", "RMS error", " s "}) {
    CHECK(e.output.find(part) != std::string::npos);
  }
  // The CLI's latents are the library's, bitwise.
  FlowOptions o;
  o.rtol = o.atol = 1e-8;
  const Matrix z = read_npy_matrix(dir.file("z.npy"));
  CHECK(test::bitwise_equal(z, encode(*sde, *exact_model(g, *sde), x, o).x));
  const Outcome d = run_cli(fmt::format("decode {} --latent {} --out {}", problem, dir.file("z.npy"),
                                        dir.file("back.npy")));
  CAPTURE(d.output);
  REQUIRE(d.status == 0);
  CHECK(d.output.find("decode: NFE/sample") != std::string::npos);
  const Matrix back = read_npy_matrix(dir.file("back.npy"));
  CHECK((back - x).cwiseAbs().maxCoeff() < 1e-6);
  const Outcome quick = run_cli(fmt::format("encode --target builtin:ring --data {} --out {} --no-roundtrip",
                                            dir.file("x.npy"), dir.file("z2.npy")));
  CHECK(quick.status == 0);
  CHECK(quick.output.find("round trip") == std::string::npos);

  write_npy(dir.file("wide.npy"), Matrix::Zero(3, 5));
  Matrix nan = x;
  nan(4, 1) = std::nan("");
  write_npy(dir.file("nan.npy"), nan);
  const std::string out = " --out " + dir.file("never.npy");
  const std::string data = " --data " + dir.file("x.npy");
  for (const std::string& bad :
       {"encode --target builtin:ring --data " + dir.file("wide.npy") + out,
        "encode --target builtin:ring --data " + dir.file("nan.npy") + out,
        "encode --target builtin:ring --t-min 2" + data + out, "encode --target builtin:ring --atol 0" + data + out,
        "encode --target builtin:ring --max-steps 0" + data + out,
        "encode --target builtin:ring --max-steps 3" + data + out,
        "encode --target builtin:ring" + data, "decode --target builtin:ring --latent " + dir.file("wide.npy") + out,
        "decode --target builtin:ring --latent " + dir.file("missing.npy") + out,
        "decode --target builtin:ring --sde nope --latent " + dir.file("x.npy") + out}) {
    const Outcome b = run_cli(bad);
    CAPTURE(bad);
    CAPTURE(b.output);
    CHECK(b.status == 2);
    CHECK(b.output.rfind("tweedie: error: ", 0) == 0);
    CHECK(std::count(b.output.begin(), b.output.end(), '\n') == 1);
    CHECK_FALSE(std::filesystem::exists(dir.file("never.npy")));
  }
}
