#include <tweedie/sample.hpp>
#include <tweedie/grid.hpp>
#include <tweedie/split.hpp>

#include "checks.hpp"
#include "lowest_failure.hpp"
#include "sample_stats.hpp"

#include <fmt/format.h>

#include <chrono>
#include <optional>

namespace tweedie {

void SampleOptions::validate() const {
  execution.validate();
  if (init == nullptr && num_samples == 0) throw InvalidArgument("num_samples must be at least 1");
  if (init != nullptr && init->rows() == 0) throw InvalidArgument("the initial state has no rows");
  if (seed > max_seed) {
    throw InvalidArgument(fmt::format("seed {} does not fit in 32 bits (at most {})", seed, max_seed));
  }
  check_stream_version(noise_stream);
  const std::size_t n = init ? static_cast<std::size_t>(init->rows()) : num_samples;
  detail::check_sample_range(first_sample, n);
}

Matrix sample_prior(const Sde& sde, Eigen::Index dim, std::size_t n, std::uint64_t first_row,
                    const NoiseSource& noise) {
  Matrix x(static_cast<Eigen::Index>(n), dim);
  noise.normal(first_row, 0, 0, NoiseStream::prior, x);
  x *= sde.prior_std();
  return x;
}

void validate_sample_job(const Sde& sde, const ScoreModel& model, std::span<const double> grid,
                         const SampleOptions& options) {
  options.validate();
  validate_grid(sde, grid);
  const Eigen::Index dim = options.init ? options.init->cols() : model.dim();
  if (dim <= 0) {
    throw InvalidArgument("the model accepts any dimension: give an initial state to fix it");
  }
  if (model.dim() != 0 && dim != model.dim()) {
    throw InvalidArgument(fmt::format("the initial state has {} columns but the model's dimension is {}",
                                      dim, model.dim()));
  }
  if (options.init && !detail::all_finite(*options.init)) {
    throw InvalidArgument(fmt::format("the initial state has a non-finite value in row {}",
                                      detail::first_non_finite(*options.init).first));
  }
  const std::size_t n = options.init ? static_cast<std::size_t>(options.init->rows()) : options.num_samples;
  detail::check_labels(model, options.labels, n, options.first_sample);
}

SampleResult sample(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                    std::span<const double> grid, const SampleOptions& options) {
  validate_sample_job(sde, model, grid, options);
  const Eigen::Index dim = options.init ? options.init->cols() : model.dim();
  const std::size_t n = options.init ? static_cast<std::size_t>(options.init->rows()) : options.num_samples;
  std::optional<PhiloxNoise> philox;
  const NoiseSource* noise = options.noise;
  if (!noise) noise = &philox.emplace(options.seed, options.noise_stream);

  const auto start = std::chrono::steady_clock::now();
  Matrix x = options.init ? *options.init : Matrix(static_cast<Eigen::Index>(n), dim);
  const std::size_t chunks = (n + options.execution.chunk_rows - 1) / options.execution.chunk_rows;
  struct ChunkCounts {
    std::size_t evaluations = 0, accepted = 0, rejected = 0;
  };
  std::vector<ChunkCounts> counts(chunks);
  for_each_chunk(n, options.execution, [&](std::size_t begin, std::size_t end) {
    detail::run_naming_lowest_failure(begin, end, options.first_sample, [&](std::size_t b, std::size_t e, bool again) {
      auto rows = x.middleRows(static_cast<Eigen::Index>(b), static_cast<Eigen::Index>(e - b));
      const std::uint64_t first = options.first_sample + b;
      if (!options.init) {
        rows = sample_prior(sde, dim, e - b, first, *noise);
      } else if (again) {
        rows = options.init->middleRows(static_cast<Eigen::Index>(b), rows.rows());
      }
      const std::span<const int> labels =
          options.labels.empty() ? std::span<const int>() : std::span(options.labels).subspan(b, e - b);
      ChunkContext ctx(sde, model, *noise, grid, first, rows.rows(), labels);
      if (!again) ctx.set_observer(&options.observer);
      sampler.run(ctx, rows);
      ctx.finish_checks();
      if (options.denoise) {
        const std::size_t last = grid.size() - 1;
        Matrix x0(rows.rows(), dim);
        ctx.predict(Prediction::data, grid[last], rows, x0, last);
        rows = x0;
      }
      counts[begin / options.execution.chunk_rows] = {ctx.row_evaluations(), ctx.accepted_steps(),
                                                      ctx.rejected_steps()};
    });
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ChunkCounts total;
  for (const auto& c : counts) {  // serial, in chunk order
    total.evaluations += c.evaluations;
    total.accepted += c.accepted;
    total.rejected += c.rejected;
  }
  SampleResult result{std::move(x), {}};
  result.stats.sampler = sampler.traits().name;
  result.stats.steps = grid.size() - 1;
  result.stats.samples = n;
  result.stats.evaluations = total.evaluations;
  result.stats.accepted_steps = sampler.traits().adaptive ? total.accepted : n * (grid.size() - 1);
  result.stats.rejected_steps = total.rejected;
  result.stats.wall_seconds = seconds;
  detail::set_averages(result.stats);
  return result;
}

}  // namespace tweedie
