// Forward SDE families dx = f(t) x dt + g(t) dW with Gaussian marginals x_t = alpha(t) x_0 + sigma(t) eps.
#pragma once

#include <tweedie/types.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tweedie {

/// Options of the families (defaults as in score_sde, DPM-Solver and EDM).
struct VpOptions {
  double beta_min = 0.1;
  double beta_max = 20.0;
};
struct VeOptions {
  double sigma_min = 0.01;
  double sigma_max = 50.0;
};
struct CosineOptions {
  double s = 0.008;
  double t_max = 0.9946;  ///< T: DPM-Solver's choice (alpha vanishes at t = 1)
};
struct EdmOptions {
  double sigma_min = 0.002;  ///< default end of a sampling grid
  double sigma_max = 80.0;   ///< T
};

/// A linear-Gaussian forward process. Every family gives its coefficients in closed form:
///   f(t), g(t)^2, alpha(t), sigma(t), lambda(t) = log(alpha/sigma) and its inverse t(lambda),
/// the end time T and the prior N(0, prior_std^2 I) assumed at T.
/// Objects are immutable after construction (options are validated there), hence thread-safe.
class Sde {
 public:
  virtual ~Sde() = default;

  virtual std::string_view name() const = 0;
  virtual double T() const = 0;                  ///< end of the forward process
  virtual double f(double t) const = 0;          ///< drift coefficient: drift = f(t) x
  virtual double g2(double t) const = 0;         ///< squared diffusion coefficient g(t)^2
  virtual double alpha(double t) const = 0;      ///< mean scale of p(x_t | x_0)
  virtual double sigma(double t) const = 0;      ///< standard deviation of p(x_t | x_0)
  virtual double lambda(double t) const = 0;     ///< log-SNR / 2 = log(alpha / sigma)
  virtual double t_of_lambda(double l) const = 0;  ///< inverse of lambda on [0, T]
  virtual double prior_std() const = 0;          ///< the prior is N(0, prior_std^2 I)
  /// Default end of a sampling grid (score_sde's sampling eps; EDM's sigma_min).
  virtual double default_t_end() const = 0;
  /// Whether t = 0 is a valid time for a model call (sigma(0) > 0 or the model predicts data).
  virtual bool allows_zero_time() const = 0;

  double g(double t) const;
  /// sigma / alpha: the noise level of the scaled variable x / alpha (k-diffusion's sigma).
  double noise_level(double t) const;
  /// Inverse of noise_level, through lambda = -log(noise_level).
  double t_of_noise_level(double s) const;
  /// log N(x; 0, prior_std^2 I) for one row.
  double prior_log_density(const Eigen::Ref<const Eigen::RowVectorXd>& x) const;
  /// Throws InvalidArgument naming `what` when t is outside the family's domain.
  void check_time(double t, std::string_view what) const;
};

/// Variance preserving, beta(t) = beta_min + t (beta_max - beta_min) on [0, 1] (DDPM's limit).
class VpSde final : public Sde {
 public:
  using Options = VpOptions;
  explicit VpSde(Options o = {});
  std::string_view name() const override { return "vp"; }
  double T() const override { return 1.0; }
  double f(double t) const override;
  double g2(double t) const override;
  double alpha(double t) const override;
  double sigma(double t) const override;
  double lambda(double t) const override;
  double t_of_lambda(double l) const override;
  double prior_std() const override { return 1.0; }
  double default_t_end() const override { return 1e-3; }
  bool allows_zero_time() const override { return false; }
  const Options& options() const { return o_; }
  double beta(double t) const;
  double log_mean_coeff(double t) const;  ///< log alpha(t) = -t^2 (b1 - b0)/4 - t b0 / 2
  /// t such that the integral of beta over [0, t] equals u (the root of a quadratic).
  double t_of_integrated_beta(double u) const;

 private:
  Options o_;
};

/// Sub-variance-preserving: VP's mean, sigma(t) = 1 - exp(-int beta) (not square-rooted).
class SubVpSde final : public Sde {
 public:
  using Options = VpOptions;
  explicit SubVpSde(Options o = {});
  std::string_view name() const override { return "subvp"; }
  double T() const override { return 1.0; }
  double f(double t) const override { return vp_.f(t); }
  double g2(double t) const override;
  double alpha(double t) const override { return vp_.alpha(t); }
  double sigma(double t) const override;
  double lambda(double t) const override;
  double t_of_lambda(double l) const override;
  double prior_std() const override { return 1.0; }
  double default_t_end() const override { return 1e-3; }
  bool allows_zero_time() const override { return false; }

 private:
  VpSde vp_;
};

/// Variance exploding: sigma(t) = sigma_min (sigma_max / sigma_min)^t, alpha = 1 (as score_sde).
class VeSde final : public Sde {
 public:
  using Options = VeOptions;
  explicit VeSde(Options o = {});
  std::string_view name() const override { return "ve"; }
  double T() const override { return 1.0; }
  double f(double) const override { return 0.0; }
  double g2(double t) const override;
  double alpha(double) const override { return 1.0; }
  double sigma(double t) const override;
  double lambda(double t) const override;
  double t_of_lambda(double l) const override;
  double prior_std() const override { return o_.sigma_max; }
  double default_t_end() const override { return 1e-5; }
  bool allows_zero_time() const override { return true; }

 private:
  Options o_;
  double log_ratio_;  // log(sigma_max / sigma_min)
};

/// Cosine VP schedule (Nichol & Dhariwal): alpha(t) = cos((t + s)/(1 + s) pi/2) / cos(s/(1 + s) pi/2).
/// T = 0.9946 by default, as DPM-Solver sets it (at t = 1 alpha = 0 and lambda = -inf).
class CosineSde final : public Sde {
 public:
  using Options = CosineOptions;
  explicit CosineSde(Options o = {});
  std::string_view name() const override { return "cosine"; }
  double T() const override { return o_.t_max; }
  double f(double t) const override;
  double g2(double t) const override { return -2.0 * f(t); }
  double alpha(double t) const override;
  double sigma(double t) const override;
  double lambda(double t) const override;
  double t_of_lambda(double l) const override;
  double prior_std() const override { return 1.0; }
  double default_t_end() const override { return 1e-3; }
  bool allows_zero_time() const override { return false; }

 private:
  double log_alpha(double t) const;  ///< log alpha(t), accurate near t = 0
  Options o_;
};

/// EDM (Karras et al. 2022): alpha = 1, sigma(t) = t on [0, sigma_max]; t = 0 is exact data.
class EdmSde final : public Sde {
 public:
  using Options = EdmOptions;
  explicit EdmSde(Options o = {});
  std::string_view name() const override { return "edm"; }
  double T() const override { return o_.sigma_max; }
  double f(double) const override { return 0.0; }
  double g2(double t) const override { return 2.0 * t; }
  double alpha(double) const override { return 1.0; }
  double sigma(double t) const override { return t; }
  double lambda(double t) const override;
  double t_of_lambda(double l) const override;
  double prior_std() const override { return o_.sigma_max; }
  double default_t_end() const override { return o_.sigma_min; }
  bool allows_zero_time() const override { return true; }

 private:
  Options o_;
};

/// Family options as a command line gives them: unset fields keep the family's defaults; a field
/// that the chosen family does not use is refused.
struct SdeSpec {
  std::string family = "vp";  ///< vp | subvp | ve | cosine | edm
  std::optional<double> beta_min, beta_max, sigma_min, sigma_max, cosine_s;
};
std::unique_ptr<Sde> make_sde(const SdeSpec& spec);
/// The family names make_sde accepts.
std::vector<std::string> sde_names();

/// Whether two families have the same name, T and alpha, sigma (at 11 times, bitwise): whether a
/// model's times mean the same noise levels under both (a classifier and its score model, the two
/// models of a guidance pair).
bool same_family(const Sde& a, const Sde& b);

}  // namespace tweedie
