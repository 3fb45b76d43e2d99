#include <tweedie/sde.hpp>

#include "numeric.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

namespace tweedie {
namespace {

void require(bool ok, std::string_view family, std::string_view what) {
  if (!ok) throw InvalidArgument(fmt::format("{} family: {}", family, what));
}

bool positive_finite(double v) { return std::isfinite(v) && v > 0.0; }

}  // namespace

NonFiniteError::NonFiniteError(std::size_t sample, std::size_t step, double t, std::string what)
    : std::runtime_error(
          fmt::format("non-finite value at sample {}, step {}, t = {}: {}", sample, step, t, what)),
      sample_(sample), step_(step), t_(t) {}

StepLimitError::StepLimitError(std::size_t sample, double t, std::size_t steps)
    : std::runtime_error(fmt::format(
          "sample {} reached the cap of {} steps at t = {} without finishing (raise max_steps or "
          "loosen rtol/atol)", sample, steps, t)),
      sample_(sample), t_(t) {}

// ---- Sde ---------------------------------------------------------------------------------

double Sde::g(double t) const { return std::sqrt(g2(t)); }

double Sde::noise_level(double t) const { return sigma(t) / alpha(t); }

double Sde::t_of_noise_level(double s) const { return t_of_lambda(-std::log(s)); }

double Sde::prior_log_density(const Eigen::Ref<const Eigen::RowVectorXd>& x) const {
  const double s = prior_std();
  const auto d = static_cast<double>(x.size());
  return -0.5 * d * (detail::log_two_pi + 2.0 * std::log(s)) - 0.5 * x.squaredNorm() / (s * s);
}

void Sde::check_time(double t, std::string_view what) const {
  const bool ok = std::isfinite(t) && t <= T() && (t > 0.0 || (t == 0.0 && allows_zero_time()));
  if (!ok) {
    throw InvalidArgument(fmt::format("{} = {} is outside the {} family's time domain {}0, {}]",
                                      what, t, name(), allows_zero_time() ? "[" : "(", T()));
  }
}

// ---- VP ----------------------------------------------------------------------------------

VpSde::VpSde(Options o) : o_(o) {
  require(positive_finite(o.beta_min), "vp", "beta_min must be positive and finite");
  require(positive_finite(o.beta_max), "vp", "beta_max must be positive and finite");
}

double VpSde::beta(double t) const { return o_.beta_min + t * (o_.beta_max - o_.beta_min); }
double VpSde::log_mean_coeff(double t) const {
  return -0.25 * t * t * (o_.beta_max - o_.beta_min) - 0.5 * t * o_.beta_min;
}
double VpSde::f(double t) const { return -0.5 * beta(t); }
double VpSde::g2(double t) const { return beta(t); }
double VpSde::alpha(double t) const { return std::exp(log_mean_coeff(t)); }
double VpSde::sigma(double t) const { return std::sqrt(-std::expm1(2.0 * log_mean_coeff(t))); }
double VpSde::lambda(double t) const {
  const double lmc = log_mean_coeff(t);
  return lmc - 0.5 * std::log(-std::expm1(2.0 * lmc));
}
double VpSde::t_of_integrated_beta(double u) const {
  // 0.5 (b1 - b0) t^2 + b0 t = u, the root written without cancellation.
  const double b0 = o_.beta_min;
  return 2.0 * u / (b0 + std::sqrt(b0 * b0 + 2.0 * (o_.beta_max - b0) * u));
}
double VpSde::t_of_lambda(double l) const {
  // alpha^2 = 1 / (1 + exp(-2 lambda)), so int_0^t beta = log(1 + exp(-2 lambda)).
  return t_of_integrated_beta(detail::logaddexp(0.0, -2.0 * l));
}

// ---- sub-VP ------------------------------------------------------------------------------

SubVpSde::SubVpSde(Options o) : vp_(o) {}

double SubVpSde::g2(double t) const {
  return vp_.beta(t) * -std::expm1(4.0 * vp_.log_mean_coeff(t));
}
double SubVpSde::sigma(double t) const { return -std::expm1(2.0 * vp_.log_mean_coeff(t)); }
double SubVpSde::lambda(double t) const {
  const double lmc = vp_.log_mean_coeff(t);
  return lmc - std::log(-std::expm1(2.0 * lmc));
}
double SubVpSde::t_of_lambda(double l) const {
  // With u = int beta: exp(lambda) = e^{-u/2} / (1 - e^{-u}) = 1 / (2 sinh(u/2)).
  return vp_.t_of_integrated_beta(2.0 * std::asinh(0.5 * std::exp(-l)));
}

// ---- VE ----------------------------------------------------------------------------------

VeSde::VeSde(Options o) : o_(o) {
  require(positive_finite(o.sigma_min), "ve", "sigma_min must be positive and finite");
  require(std::isfinite(o.sigma_max) && o.sigma_max > o.sigma_min, "ve",
          "sigma_max must be finite and greater than sigma_min");
  log_ratio_ = std::log(o.sigma_max / o.sigma_min);
}

double VeSde::sigma(double t) const { return o_.sigma_min * std::exp(t * log_ratio_); }
double VeSde::g2(double t) const {
  const double s = sigma(t);
  return 2.0 * log_ratio_ * s * s;
}
double VeSde::lambda(double t) const { return -(std::log(o_.sigma_min) + t * log_ratio_); }
double VeSde::t_of_lambda(double l) const { return (-l - std::log(o_.sigma_min)) / log_ratio_; }

// ---- cosine ------------------------------------------------------------------------------

CosineSde::CosineSde(Options o) : o_(o) {
  require(std::isfinite(o.s) && o.s >= 0.0, "cosine", "s must be finite and non-negative");
  require(std::isfinite(o.t_max) && o.t_max > 0.0 && o.t_max < 1.0, "cosine",
          "t_max must lie in (0, 1)");
}

// With k = pi / (2 (1 + s)), u0 = s k and u = u0 + t k, alpha = cos(u) / cos(u0). Both the ratio
// and its inverse are written without cancellation near t = 0:
//   cos(u) / cos(u0) = 1 - 2 sin((u + u0)/2) sin(t k / 2) / cos(u0),
//   sin(u) = sqrt(sin^2 u0 - cos^2 u0 expm1(2 log alpha)).
double CosineSde::log_alpha(double t) const {
  const double k = 0.5 * std::numbers::pi / (1.0 + o_.s), u0 = o_.s * k, u = u0 + t * k;
  return std::log1p(-2.0 * std::sin(0.5 * (u + u0)) * std::sin(0.5 * t * k) / std::cos(u0));
}
double CosineSde::f(double t) const {
  return -0.5 * std::numbers::pi / (1.0 + o_.s) *
         std::tan((t + o_.s) / (1.0 + o_.s) * 0.5 * std::numbers::pi);
}
double CosineSde::alpha(double t) const { return std::exp(log_alpha(t)); }
double CosineSde::sigma(double t) const { return std::sqrt(-std::expm1(2.0 * log_alpha(t))); }
double CosineSde::lambda(double t) const {
  const double la = log_alpha(t);
  return la - 0.5 * std::log(-std::expm1(2.0 * la));
}
double CosineSde::t_of_lambda(double l) const {
  const double k = 0.5 * std::numbers::pi / (1.0 + o_.s), u0 = o_.s * k;
  const double la = -0.5 * detail::logaddexp(0.0, -2.0 * l);
  const double c0 = std::cos(u0), s0 = std::sin(u0);
  const double u = std::atan2(std::sqrt(s0 * s0 - c0 * c0 * std::expm1(2.0 * la)), c0 * std::exp(la));
  return (u - u0) / k;
}

// ---- EDM ---------------------------------------------------------------------------------

EdmSde::EdmSde(Options o) : o_(o) {
  require(std::isfinite(o.sigma_min) && o.sigma_min >= 0.0, "edm",
          "sigma_min must be finite and non-negative");
  require(std::isfinite(o.sigma_max) && o.sigma_max > o.sigma_min, "edm",
          "sigma_max must be finite and greater than sigma_min");
}

double EdmSde::lambda(double t) const { return -std::log(t); }
double EdmSde::t_of_lambda(double l) const { return std::exp(-l); }

// ---- factory -----------------------------------------------------------------------------

std::vector<std::string> sde_names() { return {"vp", "subvp", "ve", "cosine", "edm"}; }

bool same_family(const Sde& a, const Sde& b) {
  if (a.name() != b.name() || a.T() != b.T()) return false;
  for (int k = 0; k <= 10; ++k) {
    const double t = a.T() * (0.001 + 0.0999 * k);
    if (a.alpha(t) != b.alpha(t) || a.sigma(t) != b.sigma(t)) return false;
  }
  return true;
}

std::unique_ptr<Sde> make_sde(const SdeSpec& spec) {
  const auto& f = spec.family;
  auto refuse = [&](const std::optional<double>& v, std::string_view opt) {
    if (v) throw InvalidArgument(fmt::format("--{} does not apply to the {} family", opt, f));
  };
  if (f == "vp" || f == "subvp") {
    refuse(spec.sigma_min, "sigma-min");
    refuse(spec.sigma_max, "sigma-max");
    refuse(spec.cosine_s, "cosine-s");
    VpSde::Options o;
    o.beta_min = spec.beta_min.value_or(o.beta_min);
    o.beta_max = spec.beta_max.value_or(o.beta_max);
    if (f == "vp") return std::make_unique<VpSde>(o);
    return std::make_unique<SubVpSde>(o);
  }
  if (f == "ve" || f == "edm") {
    refuse(spec.beta_min, "beta-min");
    refuse(spec.beta_max, "beta-max");
    refuse(spec.cosine_s, "cosine-s");
    if (f == "ve") {
      VeSde::Options o;
      o.sigma_min = spec.sigma_min.value_or(o.sigma_min);
      o.sigma_max = spec.sigma_max.value_or(o.sigma_max);
      return std::make_unique<VeSde>(o);
    }
    EdmSde::Options o;
    o.sigma_min = spec.sigma_min.value_or(o.sigma_min);
    o.sigma_max = spec.sigma_max.value_or(o.sigma_max);
    return std::make_unique<EdmSde>(o);
  }
  if (f == "cosine") {
    refuse(spec.sigma_min, "sigma-min");
    refuse(spec.sigma_max, "sigma-max");
    refuse(spec.beta_min, "beta-min");
    refuse(spec.beta_max, "beta-max");
    CosineSde::Options o;
    o.s = spec.cosine_s.value_or(o.s);
    return std::make_unique<CosineSde>(o);
  }
  throw InvalidArgument(
      fmt::format("unknown SDE family '{}' (expected vp, subvp, ve, cosine or edm)", f));
}

}  // namespace tweedie
