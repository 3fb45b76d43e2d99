// The adaptive samplers and the flows call the model on many rows at a time: a counting model
// reports the mean rows per call (each sample keeps its own steps; see test_adaptive_golden.cpp).
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

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
