// A job split into parts with first-sample offsets gives the bits of one call, on every driver
// whose results use noise (the likelihood's Hutchinson probes, the ELBO's draws, dequantisation)
// or name samples in errors: what several processes need to reproduce one.
#include "test_util.hpp"

#include <tweedie/split.hpp>
#include <tweedie/tweedie.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>
#include <vector>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

GaussianMixture mixture() {
  Matrix means(2, 3);
  means << -1.5, 0.5, 1.0, 1.0, -0.5, 0.0;
  Matrix stds(2, 3);
  stds << 0.4, 0.7, 0.5, 0.6, 0.3, 0.8;
  return GaussianMixture(Vector::Constant(2, 0.5), means, stds);
}

Matrix data() {
  const auto vp = tweedie::test::family("vp");
  return mixture().sample(*vp, 1e-5, 37, PhiloxNoise(11));
}

/// Runs `call(rows, first)` on rows [0, 37) whole and as the parts [0, 15), [15, 37) with their
/// offsets, and returns both results stacked as (whole, parts).
template <class Call>
std::pair<Matrix, Matrix> whole_and_parts(const Matrix& x, Call call) {
  const Matrix whole = call(x, 0);
  Matrix parts(whole.rows(), whole.cols());
  parts.topRows(15) = call(x.topRows(15), 0);
  parts.bottomRows(22) = call(x.bottomRows(22), 15);
  return {whole, parts};
}

}  // namespace

TEST_CASE("likelihood with Hutchinson probes: parts with offsets give the bits of one call") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(target, *sde);
  const auto [whole, parts] = whole_and_parts(data(), [&](const Matrix& x, std::uint64_t first) {
    LikelihoodOptions o;
    o.divergence = Divergence::hutchinson;
    o.probes = 2;
    o.seed = 9;
    o.rtol = o.atol = 1e-4;
    o.first_sample = first;
    o.execution.chunk_rows = 8;
    const LikelihoodResult r = log_likelihood(*sde, *model, x, o);
    Matrix out(x.rows(), x.cols() + 2);
    out << r.log_likelihood, r.latent, r.nfe;
    return out;
  });
  CHECK(bitwise_equal(whole, parts));
  // Without the offset the second part would reuse the first samples' probes.
  LikelihoodOptions o;
  o.divergence = Divergence::hutchinson;
  o.seed = 9;
  o.rtol = o.atol = 1e-4;
  const Vector unshifted = log_likelihood(*sde, *model, data().bottomRows(22), o).log_likelihood;
  CHECK_FALSE(bitwise_equal(unshifted, whole.col(0).tail(22)));
}

TEST_CASE("encode: parts with offsets give the bits of one call") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("ve");
  const auto model = exact_model(target, *sde);
  const auto [whole, parts] = whole_and_parts(data(), [&](const Matrix& x, std::uint64_t first) {
    FlowOptions o;
    o.first_sample = first;
    o.execution.chunk_rows = 5;
    return encode(*sde, *model, x, o).x;
  });
  CHECK(bitwise_equal(whole, parts));
}

TEST_CASE("ELBO: parts with offsets give the bits of one call") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("subvp");
  const auto model = exact_model(target, *sde);
  const auto [whole, parts] = whole_and_parts(data(), [&](const Matrix& x, std::uint64_t first) {
    ElboOptions o;
    o.draws = 16;
    o.seed = 4;
    o.first_sample = first;
    o.execution.chunk_rows = 6;
    const ElboResult r = elbo(*sde, *model, x, o);
    Matrix out(x.rows(), 3);
    out << r.elbo, r.standard_error, r.prior_kl;
    return out;
  });
  CHECK(bitwise_equal(whole, parts));
}

TEST_CASE("dequantised data: parts with offsets give the bits of one call") {
  DataEncoding encoding;
  encoding.bits = 8;
  encoding.dequantize = Dequantization::uniform;
  Matrix pixels(37, 4);
  for (Eigen::Index i = 0; i < pixels.size(); ++i) pixels(i) = static_cast<double>((i * 37) % 256);
  const auto [whole, parts] = whole_and_parts(pixels, [&](const Matrix& x, std::uint64_t first) {
    return to_model_data(x, encoding, 3, Execution{}, first);
  });
  CHECK(bitwise_equal(whole, parts));
}

TEST_CASE("the offset names samples in errors and is bounded by the 2^32 indices of a seed") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(target, *sde);
  Matrix x = data();
  x(20, 1) = std::numeric_limits<double>::quiet_NaN();
  FlowOptions o;
  o.first_sample = 1000;
  CHECK_THROWS_WITH_AS(encode(*sde, *model, x, o), doctest::Contains("row 20"), InvalidArgument);
  o.first_sample = max_samples - 10;
  CHECK_THROWS_WITH_AS(encode(*sde, *model, data(), o),
                       doctest::Contains("exceed the 2^32 indices of one seed"), InvalidArgument);
  ElboOptions e;
  e.first_sample = max_samples - 36;
  CHECK_THROWS_AS(elbo(*sde, *model, data(), e), InvalidArgument);
  e.first_sample = max_samples - 37;
  e.draws = 2;
  CHECK_NOTHROW(elbo(*sde, *model, data(), e));
}

TEST_CASE("a model's non-finite output names the global sample") {
  const auto sde = tweedie::test::family("vp");
  // NaN on rows whose x_0 > 2.5: only the last data row (a fixed, hand-made point).
  const auto model = make_model(Prediction::score, 3, [](const ConstVectorRef&, const ConstMatrixRef& x, MatrixRef out) {
    out = -x;
    for (Eigen::Index i = 0; i < x.rows(); ++i) {
      if (x(i, 0) > 2.5) out(i, 0) = std::numeric_limits<double>::quiet_NaN();
    }
  });
  Matrix x = Matrix::Zero(4, 3);
  x(3, 0) = 3.0;
  ElboOptions e;
  e.draws = 2;
  e.first_sample = 500;
  CHECK_THROWS_WITH_AS(elbo(*sde, *model, x, e), doctest::Contains("sample 503"), NonFiniteError);
}

TEST_CASE("split_samples: contiguous blocks in part order, the first n % parts one sample longer") {
  std::uint64_t next = 0;
  for (int part = 0; part < 3; ++part) {
    const SampleBlock b = split_samples(7, part, 3);
    CHECK(b.first == next);
    CHECK(b.count == (part == 0 ? 3u : 2u));
    next += b.count;
  }
  CHECK(next == 7);
  CHECK(split_samples(2, 2, 3).first == 2);  // more parts than samples: the last ones are empty
  CHECK(split_samples(2, 2, 3).count == 0);
  CHECK(split_samples(9, 0, 1).count == 9);
  CHECK_THROWS_AS(split_samples(5, 3, 3), InvalidArgument);
  CHECK_THROWS_AS(split_samples(5, 0, 0), InvalidArgument);
  CHECK_THROWS_AS(split_samples(5, -1, 2), InvalidArgument);
}

TEST_CASE("an adaptive sampler's statistics of parts combine to one call's counts") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(target, *sde);
  const auto sampler = make_sampler("adaptive-sde");
  const std::vector<double> grid = make_grid(*sde, default_grid("adaptive-sde", *sde, 10));
  const auto stats = [&](std::size_t n, std::uint64_t first) {
    SampleOptions o;
    o.num_samples = n;
    o.seed = 7;
    o.first_sample = first;
    o.execution.chunk_rows = 8;
    return sample(*sde, *model, *sampler, grid, o).stats;
  };
  const SampleStats whole = stats(37, 0);
  const std::vector<SampleStats> parts{stats(15, 0), stats(22, 15)};
  const SampleStats combined = combine_sample_stats(parts);
  CHECK(combined.samples == 37);
  CHECK(combined.evaluations == whole.evaluations);
  CHECK(combined.accepted_steps == whole.accepted_steps);
  CHECK(combined.rejected_steps == whole.rejected_steps);
  // The averages are count / 37 of the same integer counts: one call's bits.
  CHECK(combined.nfe_per_sample == whole.nfe_per_sample);
  CHECK(combined.accepted_steps_per_sample == whole.accepted_steps_per_sample);
  CHECK(combined.rejected_steps_per_sample == whole.rejected_steps_per_sample);
  CHECK(combined.sampler == whole.sampler);
  CHECK(combined.steps == whole.steps);
  CHECK(combined.wall_seconds == std::max(parts[0].wall_seconds, parts[1].wall_seconds));
  CHECK(combined.samples_per_second == doctest::Approx(37.0 / combined.wall_seconds));
  // A part without samples adds nothing; parts without any sample are refused.
  const std::vector<SampleStats> with_empty{SampleStats{}, parts[0], parts[1]};
  CHECK(combine_sample_stats(with_empty).nfe_per_sample == whole.nfe_per_sample);
  CHECK(combine_sample_stats(with_empty).sampler == whole.sampler);
  CHECK_THROWS_AS(combine_sample_stats(std::vector<SampleStats>{SampleStats{}}), InvalidArgument);
}

TEST_CASE("the whole job's checks name the rows of the whole input, as one call does") {
  const GaussianMixture target = mixture();
  const auto sde = tweedie::test::family("vp");
  const auto model = exact_model(target, *sde);
  Matrix init = Matrix::Zero(37, 3);
  init(30, 2) = std::numeric_limits<double>::infinity();
  SampleOptions o;
  o.init = &init;
  const std::vector<double> grid = make_grid(*sde, default_grid("em", *sde, 10));
  CHECK_THROWS_WITH_AS(validate_sample_job(*sde, *model, grid, o),
                       "the initial state has a non-finite value in row 30", InvalidArgument);
  const auto sampler = make_sampler("em");
  CHECK_THROWS_WITH_AS(sample(*sde, *model, *sampler, grid, o),
                       "the initial state has a non-finite value in row 30", InvalidArgument);
  Matrix x = data();
  x(20, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_WITH_AS(validate_flow_job(*sde, *model, x, FlowOptions{}, "latents"),
                       doctest::Contains("latents are nan at row 20, column 1"), InvalidArgument);
  CHECK_NOTHROW(validate_flow_job(*sde, *model, data(), FlowOptions{}, "data"));
}
