// Gaussian mixtures with diagonal covariances: the exact ground truth of every test.
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/random.hpp>
#include <tweedie/sde.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

namespace tweedie {

/// p_0(x) = sum_k w_k N(x; mu_k, diag(s_k^2)). Under any linear-Gaussian forward process the
/// marginal p_t is again a mixture, with components N(alpha mu_k, alpha^2 diag(s_k^2) + sigma^2 I),
/// so its score, log-density, divergence of the score and exact samples are closed-form at
/// every t. Immutable after construction, hence safe to share between threads.
class GaussianMixture {
 public:
  /// weights: K positive numbers (normalised here); means, stds: K x d, stds >= 0.
  GaussianMixture(Vector weights, Matrix means, Matrix stds);

  /// A labelled mixture: `classes` gives one label in [0, C) per component, and every label
  /// 0 .. C-1 labels at least one component. p(x | y) is the mixture of y's components with
  /// their weights renormalised.
  GaussianMixture(Vector weights, Matrix means, Matrix stds, std::vector<int> classes);

  /// Parses a target file: {"weights": [...], "means": [[...], ...], "stds": [[...], ...]}
  /// with an optional "classes": [c_1, ..., c_K] (one integer label per component; the mixture is
  /// then labelled). Optional "dim", "n_components" are checked, "name" and "description" are free text;
  /// any other key, a duplicate key, trailing text, a number beyond double range or nesting deeper
  /// than the tables need is refused (InvalidArgument). `source`
  /// names the file in error messages.
  static GaussianMixture from_json(const std::string& text, const std::string& source = "target");
  static GaussianMixture load(const std::string& path);
  /// k components of standard deviation `std` evenly spaced on a circle of `radius` in 2-D.
  static GaussianMixture ring(int k = 8, double radius = 2.0, double std = 0.15);
  /// A built-in target with fixed parameters (docs/compare.md), by name without "builtin:":
  /// ring and ring2d (ring()), checker2d (a 4 x 4 checkerboard on [-2, 2]^2, each of its 8 dark
  /// unit squares 2 x 2 Gaussians of std 0.2 at the centres of its quarters), mix16 and mix64 (6
  /// Gaussians in 16 and 64 dimensions, the parameters drawn once from Philox seed 2024 in noise
  /// layout 2: means 2 z, stds 0.3 |z| + 0.1, weights |z| + 0.2 before normalisation). Throws
  /// InvalidArgument naming the known ones for another name.
  static GaussianMixture builtin(const std::string& name);
  /// The names builtin() knows, in the order documented.
  static std::vector<std::string> builtin_names();

  Eigen::Index dim() const { return means_.cols(); }
  Eigen::Index components() const { return means_.rows(); }
  const Vector& weights() const { return weights_; }
  const Matrix& means() const { return means_; }
  const Matrix& stds() const { return stds_; }
  /// The label of each component (empty when the mixture is unlabelled).
  const std::vector<int>& component_classes() const { return classes_; }
  /// Number of class labels C (0 when unlabelled).
  int classes() const { return classes_.empty() ? 0 : *std::max_element(classes_.begin(), classes_.end()) + 1; }
  /// p_0(x | y): the components labelled y with their weights renormalised (an unlabelled
  /// mixture). Throws InvalidArgument when the mixture is unlabelled or y is not a label.
  GaussianMixture conditional(int y) const;
  /// The exact classifier log p_t(y | x) = log sum_{k in y} w_k N_k(x) - log p_t(x), per row
  /// (x.row(i), t(i)), for each class: out is n x C.
  void class_log_posterior(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                           MatrixRef out) const;

  /// Score grad_x log p_t at each row (x.row(i), t(i)).
  void score(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) const;
  /// log p_t(x) per row.
  void log_density(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                   VectorRef out) const;
  /// Divergence (trace of the Jacobian) of the score per row.
  void score_divergence(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                        VectorRef out) const;
  /// The score and its divergence in one pass (the same bits as the two separate calls).
  void score_and_divergence(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                            MatrixRef score, VectorRef divergence) const;
  /// Hessian-vector product of log p_t per row (the JVP of the score): out.row(i) = H v.row(i)
  /// with H = sum_k r_k (s_k s_k^T - C_k^{-1}) - s s^T at (x.row(i), t(i)), where r_k are the
  /// responsibilities, C_k the component covariances, s_k their scores and s the score.
  void score_jvp(const Sde& sde, const ConstVectorRef& t, const ConstMatrixRef& x,
                 const ConstMatrixRef& v, MatrixRef out) const;
  /// Exact samples of p_t for the global sample indices first_row .. first_row + n - 1.
  Matrix sample(const Sde& sde, double t, std::size_t n, const PhiloxNoise& noise,
                std::uint64_t first_row = 0) const;
  /// Exact mean and covariance of p_t.
  Eigen::RowVectorXd mean(const Sde& sde, double t) const;
  Eigen::MatrixXd covariance(const Sde& sde, double t) const;

 private:
  Vector weights_;
  Matrix means_, stds_;
  std::vector<int> classes_;
};

/// The mixture as a ScoreModel (Prediction::score, with the closed-form divergence and JVP,
/// batch-invariant) under `sde`, which must outlive the model. A labelled mixture gives a
/// conditional model: label y in [0, C) is the score of p_t(x | y), and the null class C (or no
/// labels) is the score of the whole mixture p_t(x).
std::unique_ptr<ScoreModel> exact_model(const GaussianMixture& mixture, const Sde& sde);

}  // namespace tweedie
