// What tweedie compare measures the distribution of the samples against: an exact target (exact
// samples, closed-form mean and covariance, the density) or, with --model, the rows of --data.
#pragma once

#include "compare_runs.hpp"

#include <tweedie/tweedie.hpp>

#include <string>

namespace tweedie::cli {

class GroundTruth {
 public:
  /// The exact target of a --target comparison, diffused by `sde` (both outlive this).
  GroundTruth(const GaussianMixture& target, const Sde& sde);
  /// The rows of --data (read_compare_data's) for a --model comparison, diffused by `sde`.
  GroundTruth(Matrix data, const Sde& sde);

  /// The two independent sets of n (= settings.count) points of the distribution at t_end that
  /// the runs ending there are measured with: `partner`, which the samples are compared with, and
  /// `second`, whose distance to `partner` is the noise floor. A target's are exact samples of
  /// p_t_end (rows 0..n-1 and n..2n-1 of its stream); --data's are its rows 0..n-1 and n..2n-1
  /// diffused to t_end, alpha(t_end) y + sigma(t_end) z, z from the same stream as a target's.
  struct Sets {
    Matrix partner, second;
  };
  Sets sets(double t_end, const CompareSettings& settings) const;

  /// The metrics of `x` against `partner` at t_end: SW2 to it, and the errors of the mean and
  /// covariance against the target's exact ones or (--data) the partner's sample ones. The mean
  /// NLL needs the density: only with a target (unset with --data).
  DistributionMetrics measure(double t_end, const Matrix& x, const Matrix& partner,
                              const CompareSettings& settings) const;

  /// The rows of --data (0 with a target).
  std::size_t data_rows() const { return static_cast<std::size_t>(data_.rows()); }

 private:
  const GaussianMixture* target_ = nullptr;
  const Sde* sde_ = nullptr;
  Matrix data_;
};

/// Reads the --data of compare: a 2-D .npy of finite values with `dim` columns and at least
/// 2 `count` rows (n to compare with and n for the floor; later rows are not used). Throws
/// InvalidArgument naming the file and what is wrong.
Matrix read_compare_data(const std::string& path, Eigen::Index dim, std::size_t count);

}  // namespace tweedie::cli
