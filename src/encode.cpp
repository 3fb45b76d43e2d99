// Encoding and decoding through the probability-flow ODE (the batched loop is in pf_ode.cpp).
#include <tweedie/encode.hpp>

#include "pf_ode.hpp"

#include <fmt/format.h>

#include <cmath>

namespace tweedie {

void FlowOptions::validate() const {
  if (!(std::isfinite(t_min) && t_min > 0.0)) {
    throw InvalidArgument(fmt::format("t_min must be > 0, got {}", t_min));
  }
  if (!(rtol >= 0.0) || !std::isfinite(rtol)) throw InvalidArgument(fmt::format("rtol must be >= 0, got {}", rtol));
  // atol > 0: with atol = 0 a component that is 0 makes the error ratio 0/0.
  if (!(atol > 0.0) || !std::isfinite(atol)) throw InvalidArgument(fmt::format("atol must be > 0, got {}", atol));
  if (max_steps < 1) throw InvalidArgument("max_steps must be >= 1");
  execution.validate();
}

namespace {

FlowResult flow(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& start,
                const FlowOptions& options, double t0, double t1) {
  const Eigen::Index d = start.cols();
  detail::FlowRun run = detail::integrate_rows(
      start, 0, t0, t1, options, [&](std::uint64_t first, Eigen::Index rows, std::span<const int> labels) {
        return std::make_unique<detail::FlowSystem>(sde, model, d, first, rows, labels);
      });
  return {std::move(run.x), std::move(run.nfe), std::move(run.accepted_steps),
          std::move(run.rejected_steps)};
}

}  // namespace

FlowResult encode(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                  const FlowOptions& options) {
  detail::check_flow_inputs(sde, model, data, options, "data");
  return flow(sde, model, data, options, options.t_min, sde.T());
}

FlowResult decode(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& latent,
                  const FlowOptions& options) {
  detail::check_flow_inputs(sde, model, latent, options, "latents");
  return flow(sde, model, latent, options, sde.T(), options.t_min);
}

RoundTrip round_trip(const Sde& sde, const ScoreModel& model, const ConstMatrixRef& data,
                     const FlowOptions& options) {
  RoundTrip r;
  r.encoded = encode(sde, model, data, options);
  r.decoded = decode(sde, model, r.encoded.x, options);
  const Matrix error = r.decoded.x - data;
  if (error.size() > 0) {
    r.max_abs_error = error.cwiseAbs().maxCoeff();
    r.rms_error = std::sqrt(error.squaredNorm() / static_cast<double>(error.size()));
  }
  return r;
}

}  // namespace tweedie
