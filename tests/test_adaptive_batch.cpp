// The adaptive samplers and the flows call the model on many rows at a time: a counting model
// reports the mean rows per call (each sample keeps its own steps; see test_adaptive_golden.cpp).
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <limits>
#include <string>

using namespace tweedie;

TEST_CASE("dopri5 and encode evaluate the rows of a chunk together (mean rows per model call)") {
  const VpSde sde;
  const GaussianMixture target = GaussianMixture::ring(4, 2.0, 0.2);
  std::size_t calls = 0, rows = 0;
  const auto model = make_model(Prediction::score, 2, [&](const auto& t, const auto& x, auto out) {
    ++calls;
    rows += static_cast<std::size_t>(x.rows());
    target.score(sde, t, x, out);
  });
  Execution one_chunk;
  one_chunk.threads = 1;
  one_chunk.chunk_rows = 256;
  SampleOptions o;
  o.num_samples = 256;
  o.execution = one_chunk;
  const auto r = sample(sde, *model, *make_sampler("dopri5"), std::vector<double>{1.0, 1e-3}, o);
  const double per_call = static_cast<double>(rows) / static_cast<double>(calls);
  MESSAGE(fmt::format("dopri5: {} calls, {:.1f} rows per call ({:.1f} NFE per sample)", calls, per_call,
                      r.stats.nfe_per_sample));
  CHECK(static_cast<double>(rows) == r.stats.nfe_per_sample * 256.0);
  // The per-sample integrator made one call per row (per_call = 1).
  CHECK(per_call > 64.0);

  calls = rows = 0;
  FlowOptions f;
  f.execution = one_chunk;
  const auto e = encode(sde, *model, r.samples, f);
  const double flow_per_call = static_cast<double>(rows) / static_cast<double>(calls);
  MESSAGE(fmt::format("encode: {} calls, {:.1f} rows per call", calls, flow_per_call));
  CHECK(static_cast<double>(rows) == e.nfe.sum());
  CHECK(flow_per_call > 64.0);
}

namespace {

/// Far-apart modes of very different widths: rows heading to different modes finish after very
/// different numbers of steps.
GaussianMixture far_modes() {
  Vector w(3);
  w << 0.5, 0.3, 0.2;
  Matrix mu(3, 2), sd(3, 2);
  mu << -4.0, 0.0, 0.0, 3.0, 6.0, -1.0;
  sd << 0.1, 0.1, 0.5, 0.5, 0.05, 0.2;
  return {w, mu, sd};
}

struct Counted {
  std::size_t calls = 0, rows = 0;
  double per_call() const { return static_cast<double>(rows) / static_cast<double>(calls); }
};

}  // namespace

TEST_CASE("adaptive-sde, dpm-solver-adaptive and bulirsch-stoer evaluate the running rows of a chunk together") {
  const GaussianMixture target = far_modes();
  for (const std::string family : {"vp", "ve"}) {
    const auto sde = test::family(family);
    Counted n;
    const auto model = make_model(Prediction::score, 2, [&](const auto& t, const auto& x, auto out) {
      ++n.calls;
      n.rows += static_cast<std::size_t>(x.rows());
      target.score(*sde, t, x, out);
    });
    Execution one_chunk;
    one_chunk.threads = 1;
    one_chunk.chunk_rows = 256;
    SampleOptions o;
    o.num_samples = 256;
    o.execution = one_chunk;
    const std::vector<double> grid{1.0, family == "ve" ? 1e-5 : 1e-3};
    for (const std::string name : {"adaptive-sde", "dpm-solver-adaptive", "bulirsch-stoer"}) {
      CAPTURE(family);
      CAPTURE(name);
      n = {};
      const auto r = sample(*sde, *model, *make_sampler(name), grid, o);
      // Every row evaluation is one of a sample's own: NFE per sample times the samples.
      CHECK(static_cast<double>(n.rows) == r.stats.nfe_per_sample * 256.0);
      // The steps per sample spread widely (far-apart modes), so the batch thins out as rows
      // finish; the per-sample loops made one call per row (per_call = 1).
      MESSAGE(fmt::format("{} {}: {} calls, {:.1f} rows per call ({:.1f} NFE per sample)", family, name, n.calls,
                          n.per_call(), r.stats.nfe_per_sample));
      CHECK(n.per_call() > 32.0);
    }
  }
}

TEST_CASE("a failing row leaves the batch: the rows below it finish, the lowest failure is reported") {
  // Sample 1's score is NaN below t = 0.5, samples 0 and 2 are fine: the error names sample 1,
  // sample 0 is still evaluated until it reaches the end, and neither sample 1 nor sample 2 (above
  // the failure: the error is already known) is evaluated again after sample 1's failure.
  const VpSde sde;
  const GaussianMixture target = far_modes();
  for (const std::string name : {"adaptive-sde", "dpm-solver-adaptive", "dopri5", "bulirsch-stoer"}) {
    CAPTURE(name);
    bool failed = false;
    double last_t0 = 1.0;
    std::size_t above_after = 0;
    FunctionModelTraits traits;
    traits.dim = 2;
    const auto model = make_model(traits, [&](const ModelInput& in, MatrixRef out) {
      target.score(sde, in.t, in.x, out);
      const bool failed_before = failed;
      for (Eigen::Index i = 0; i < in.rows(); ++i) {
        const std::uint64_t id = in.samples[static_cast<std::size_t>(i)];
        if (id == 0) last_t0 = std::min(last_t0, in.t(i));
        if (id >= 1 && failed_before) ++above_after;
        if (id == 1 && in.t(i) < 0.5) {
          out(i, 0) = std::numeric_limits<double>::quiet_NaN();
          failed = true;
        }
      }
    });
    Execution one_chunk;
    one_chunk.threads = 1;
    one_chunk.chunk_rows = 3;
    SampleOptions o;
    o.num_samples = 3;
    o.execution = one_chunk;
    try {
      sample(sde, *model, *make_sampler(name), std::vector<double>{1.0, 1e-3}, o);
      FAIL("no error");
    } catch (const NonFiniteError& e) {
      CHECK(std::string(e.what()).find("sample 1,") != std::string::npos);
    }
    CHECK(failed);
    CHECK(above_after == 0);
    CHECK(last_t0 < 0.05);  // sample 0 went on to the end (its last evaluations are near t = 1e-3)
  }
}
