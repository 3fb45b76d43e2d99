// The adaptive samplers and the flows call the model on many rows at a time: a counting model
// reports the mean rows per call (each sample keeps its own steps; see test_adaptive_golden.cpp).
#include "adaptive_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <limits>
#include <memory>
#include <string>

using namespace tweedie;

namespace {

/// The exact score of `target` under `sde`, counting the calls and the rows evaluated.
struct CountingModel {
  std::size_t calls = 0, rows = 0;
  std::unique_ptr<ScoreModel> model;
  CountingModel(const GaussianMixture& target, const Sde& sde) {
    model = make_model(Prediction::score, target.dim(), [this, &target, &sde](const auto& t, const auto& x, auto out) {
      ++calls;
      rows += static_cast<std::size_t>(x.rows());
      target.score(sde, t, x, out);
    });
  }
  double per_call() const { return static_cast<double>(rows) / static_cast<double>(calls); }
  void reset() { calls = rows = 0; }
};

Execution one_chunk() {
  Execution e;
  e.threads = 1;
  e.chunk_rows = 256;
  return e;
}

}  // namespace

TEST_CASE("dopri5 and encode evaluate the rows of a chunk together (mean rows per model call)") {
  const VpSde sde;
  const GaussianMixture target = GaussianMixture::ring(4, 2.0, 0.2);
  CountingModel n(target, sde);
  SampleOptions o;
  o.num_samples = 256;
  o.execution = one_chunk();
  const auto r = sample(sde, *n.model, *make_sampler("dopri5"), std::vector<double>{1.0, 1e-3}, o);
  MESSAGE(fmt::format("dopri5: {} calls, {:.1f} rows per call ({:.1f} NFE per sample)", n.calls, n.per_call(),
                      r.stats.nfe_per_sample));
  CHECK(static_cast<double>(n.rows) == r.stats.nfe_per_sample * 256.0);
  // The per-sample integrator made one call per row (per_call = 1).
  CHECK(n.per_call() > 64.0);

  n.reset();
  FlowOptions f;
  f.execution = one_chunk();
  const auto e = encode(sde, *n.model, r.samples, f);
  MESSAGE(fmt::format("encode: {} calls, {:.1f} rows per call", n.calls, n.per_call()));
  CHECK(static_cast<double>(n.rows) == e.nfe.sum());
  CHECK(n.per_call() > 64.0);
}

TEST_CASE("adaptive-sde, dpm-solver-adaptive and bulirsch-stoer evaluate the running rows of a chunk together") {
  const GaussianMixture target = test::far_modes();
  for (const std::string family : {"vp", "ve"}) {
    const auto sde = test::family(family);
    CountingModel n(target, *sde);
    SampleOptions o;
    o.num_samples = 256;
    o.execution = one_chunk();
    const std::vector<double> grid{1.0, family == "ve" ? 1e-5 : 1e-3};
    for (const std::string name : {"adaptive-sde", "dpm-solver-adaptive", "bulirsch-stoer"}) {
      CAPTURE(family);
      CAPTURE(name);
      n.reset();
      const auto r = sample(*sde, *n.model, *make_sampler(name), grid, o);
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
  const GaussianMixture target = test::far_modes();
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
