// Inpainting by imputation: the lower half of real held-out digits completed from their upper
// half by the shipped digits model (unconditional: its null class) under the replacement
// method (tweedie::Imputation, score_sde's inpainting), with the error of the completed half
// against the truth next to two baselines: unconditional samples (what the model draws without
// the observation) and the mean lower half of the other held-out digits. The classifier's
// accuracy on the completed images says whether the completion kept the digit.
// docs/examples.md has the figures.
//
//   inpainting [images] [steps] [threads] [--png FILE] [--check]
//
// The first `images` held-out digits (default all 360), `steps` steps (default 50) of each
// sampler. --check: exit status 1 when the completion does not beat its baselines.
#include <tweedie/mlp_model.hpp>
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include "digits_support.hpp"

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

using tweedie::Matrix;

namespace {

constexpr Eigen::Index observed = 32;  // the upper 4 rows of pixels
constexpr Eigen::Index missing = 32;   // the lower 4

// Root mean square error per pixel of the lower halves.
double lower_rmse(const Matrix& x, const Matrix& truth) {
  return std::sqrt((x.rightCols(missing) - truth.rightCols(missing)).squaredNorm() /
                   static_cast<double>(x.rows() * missing));
}

}  // namespace

int main(int argc, char** argv) try {
  const example::Args args(argc, argv, {"--png"}, {"--check"});
  const std::string dir = example::models_dir();
  const Matrix all = tweedie::read_npy_matrix(dir + "/digits.heldout.npy", "digits.heldout.npy");
  const Eigen::Index n = std::min<Eigen::Index>(static_cast<Eigen::Index>(args.number(0, all.rows())), all.rows());
  const int steps = static_cast<int>(args.number(1, 50));
  const int threads = static_cast<int>(args.number(2, 0));
  const std::string png = args.option("--png", "digits_inpainting.png");
  if (n < 2) throw tweedie::InvalidArgument("images must be at least 2");
  const Matrix truth = all.topRows(n);
  std::vector<int> labels;
  for (double v : tweedie::read_npy_vector(dir + "/digits.heldout_labels.npy")) labels.push_back(static_cast<int>(v));
  labels.resize(static_cast<std::size_t>(n));

  const std::shared_ptr<const tweedie::MlpModel> model =
      tweedie::MlpModel::load(dir + "/digits.safetensors", {.precision = tweedie::Precision::float32});
  const tweedie::Sde& sde = model->sde();
  const digits_example::DigitsClassifier classifier(dir + "/digits_classifier.safetensors");

  tweedie::Observation observation;
  observation.values = truth;  // row i observes image i (its lower half is never read)
  observation.mask = Matrix::Zero(1, 64);
  observation.mask.leftCols(observed).setOnes();

  fmt::print("inpainting: the lower half of {} held-out digits from their upper half, {} steps\n\n", n, steps);
  fmt::print("{:<44} {:>12} {:>10} {:>8}\n", "completion", "lower RMSE", "accuracy", "NFE");
  const auto row = [&](const std::string& what, const Matrix& x, double nfe) {
    fmt::print("{:<44} {:>12.4f} {:>10.4f} {:>8g}\n", what, lower_rmse(x, truth), classifier.accuracy(x, labels), nfe);
  };

  tweedie::SampleOptions o;
  o.num_samples = static_cast<std::size_t>(n);
  o.execution.threads = threads;
  const auto grid = tweedie::make_grid(sde, {.spacing = tweedie::GridSpacing::log_snr, .steps = steps});

  // Imputation, by two samplers; for the stochastic one also the mean of four completions (an
  // estimate of the posterior mean E[lower | upper], which minimises the expected squared error).
  Matrix first;
  double first_rmse = 0.0, mean_rmse = 0.0;
  for (const char* name : {"em", "dpm-solver++"}) {
    const auto sampler = tweedie::make_sampler(name);
    Matrix mean = Matrix::Zero(n, 64);
    const int draws = std::string(name) == "em" ? 4 : 1;
    double nfe = 0.0;
    for (int k = 0; k < draws; ++k) {
      const tweedie::Imputation imputed(model, sde, observation, 100 + static_cast<std::uint64_t>(k));
      o.seed = 1 + static_cast<std::uint64_t>(k);
      auto r = tweedie::sample(sde, imputed, *sampler, grid, o);
      imputed.restore_observed(0, r.samples);
      if (k == 0) {
        row(fmt::format("imputation, {}", name), r.samples, r.stats.nfe_per_sample);
        if (first.size() == 0) {
          first = r.samples;
          first_rmse = lower_rmse(first, truth);
        }
      }
      mean += r.samples / draws;
      nfe += r.stats.nfe_per_sample;
    }
    if (draws > 1) {
      row(fmt::format("mean of {} imputations, {}", draws, name), mean, nfe);
      mean_rmse = lower_rmse(mean, truth);
    }
  }
  // Baseline 1: the lower half of the model's samples drawn without the observation, under the
  // true upper half (so that the accuracy, too, judges the lower half alone).
  o.seed = 1;
  const auto unconditional = tweedie::sample(sde, *model, *tweedie::make_sampler("em"), grid, o);
  Matrix spliced = unconditional.samples;
  spliced.leftCols(observed) = truth.leftCols(observed);
  row("unconditional samples' lower half (em)", spliced, unconditional.stats.nfe_per_sample);
  // Baseline 2: the mean lower half of the other held-out digits (leave one out).
  Matrix others = truth;
  const Eigen::RowVectorXd total = truth.colwise().sum();
  for (Eigen::Index i = 0; i < n; ++i) {
    others.row(i).rightCols(missing) = (total.rightCols(missing) - truth.row(i).rightCols(missing)) / static_cast<double>(n - 1);
  }
  row("mean lower half of the other digits", others, 0);

  std::vector<std::vector<Eigen::RowVectorXd>> tiles(3);
  Matrix masked = truth;
  masked.rightCols(missing).setConstant(-1.0);
  for (Eigen::Index i = 0; i < std::min<Eigen::Index>(n, 16); ++i) {
    tiles[0].push_back(truth.row(i));
    tiles[1].push_back(masked.row(i));
    tiles[2].push_back(first.row(i));
  }
  digits_example::write_digit_grid(png, tiles);
  fmt::print("\nwrote {}: the truth, the observed upper half, the completion (em), for the first {} digits\n\n", png,
             tiles[0].size());

  example::Claims claims;
  claims.expect((first.leftCols(observed) - truth.leftCols(observed)).cwiseAbs().maxCoeff() == 0.0,
                "the observed upper half is the observation exactly (restore_observed)");
  claims.expect(first_rmse < lower_rmse(spliced, truth), "imputation beats unconditional samples");
  claims.expect(mean_rmse < lower_rmse(others, truth), "the mean of imputations beats the mean digit");
  claims.expect(classifier.accuracy(first, labels) > classifier.accuracy(spliced, labels),
                "completed digits keep their class more often than spliced unconditional halves");
  return claims.exit_status(args.flag("--check"));
} catch (const std::exception& e) {
  fmt::print(stderr, "inpainting: {}\n", e.what());
  return 2;
}
