// Class-conditional digits with classifier-free guidance: samples of the shipped 8x8 digits
// model (models/digits.safetensors, trained with a null class) for every class at guidance
// scales 0, 1, 2 and 4, as one PNG grid, and per scale the accuracy of the digits classifier
// (models/digits_classifier.safetensors) on the samples for their requested class and the
// Frechet distance between the samples and the real held-out digits in the classifier's
// 256 penultimate features (an FID for 8x8 digits). Then the same table for classifier
// guidance: the model's null-class prediction guided by the input gradient of the
// noise-conditional classifier models/digits_noisy_classifier.safetensors (run by the MlpModel
// runtime, its gradient by reverse mode). docs/examples.md and docs/guidance.md have the figures.
//
//   digits [per_class] [steps] [threads] [--png FILE] [--check]
//
// per_class samples of each class (default 36: 360 per scale, as many as the held-out digits),
// DPM-Solver++ (2M) with `steps` steps on a log-SNR grid (default 20). --check: exit status 1
// when the trade-off does not show (the tests run it small).
#include <tweedie/mlp_classifier.hpp>
#include <tweedie/mlp_model.hpp>
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include "digits_support.hpp"

#include <cstdlib>
#include <string>
#include <vector>

using tweedie::Matrix;

int main(int argc, char** argv) try {
  const example::Args args(argc, argv, {"--png"}, {"--check"});
  const auto per_class = static_cast<Eigen::Index>(args.number(0, 36));
  const int steps = static_cast<int>(args.number(1, 20));
  const int threads = static_cast<int>(args.number(2, 0));
  const std::string png = args.option("--png", "digits_guidance.png");
  if (per_class < 2) throw tweedie::InvalidArgument("per_class must be at least 2");

  const std::string dir = example::models_dir();
  const std::shared_ptr<const tweedie::MlpModel> model =
      tweedie::MlpModel::load(dir + "/digits.safetensors", {.precision = tweedie::Precision::float32});
  const tweedie::Sde& sde = model->sde();
  const digits_example::DigitsClassifier classifier(dir + "/digits_classifier.safetensors");
  const Matrix held = tweedie::read_npy_matrix(dir + "/digits.heldout.npy", "digits.heldout.npy");
  std::vector<int> held_labels;
  for (double v : tweedie::read_npy_vector(dir + "/digits.heldout_labels.npy")) held_labels.push_back(static_cast<int>(v));
  const Matrix held_features = classifier.features(held);

  constexpr int classes = 10;
  std::vector<int> labels;
  for (int k = 0; k < classes; ++k) labels.insert(labels.end(), static_cast<std::size_t>(per_class), k);
  const auto sampler = tweedie::make_sampler("dpm-solver++");
  const auto grid = tweedie::make_grid(sde, {.spacing = tweedie::GridSpacing::log_snr, .steps = steps});

  fmt::print("digits: {} samples per class and scale, dpm-solver++ with {} steps (log-SNR grid)\n", per_class, steps);
  fmt::print("held-out digits: {} images, classifier accuracy {:.4f}\n\n", held.rows(),
             classifier.accuracy(held, held_labels));
  fmt::print("{:>6} {:>10} {:>10} {:>8} {:>9}\n", "scale", "accuracy", "Frechet", "NFE", "seconds");

  const std::vector<double> scales = {0.0, 1.0, 2.0, 4.0};
  const Eigen::Index shown = std::min<Eigen::Index>(per_class, 6);  // samples per class and scale in the PNG
  const Eigen::RowVectorXd blank = Eigen::RowVectorXd::Constant(64, -1.0);
  std::vector<std::vector<Eigen::RowVectorXd>> tiles(classes);
  std::vector<double> accuracy, frechet;
  // Samples of the requested labels from a guided model, with a row of the table.
  auto run = [&](const tweedie::ScoreModel& guided, double scale, std::vector<double>& acc, std::vector<double>& fd) {
    tweedie::SampleOptions o;
    o.num_samples = labels.size();
    o.seed = 1;  // the same prior draws at every scale
    o.labels = labels;
    o.execution.threads = threads;
    auto r = tweedie::sample(sde, guided, *sampler, grid, o);
    acc.push_back(classifier.accuracy(r.samples, labels));
    fd.push_back(tweedie::frechet_distance(classifier.features(r.samples), held_features));
    fmt::print("{:>6g} {:>10.4f} {:>10.3f} {:>8g} {:>9.2f}\n", scale, acc.back(), fd.back(), r.stats.nfe_per_sample,
               r.stats.wall_seconds);
    return r;
  };
  for (const double scale : scales) {
    const auto r = run(*tweedie::classifier_free_guidance(model, scale), scale, accuracy, frechet);
    for (int k = 0; k < classes; ++k) {
      auto& row = tiles[static_cast<std::size_t>(k)];
      if (!row.empty()) row.push_back(blank);
      for (Eigen::Index j = 0; j < shown; ++j) row.push_back(r.samples.row(k * per_class + j));
    }
  }
  digits_example::write_digit_grid(png, tiles);
  fmt::print("\nwrote {}: one row per class 0..9, {} samples at each scale 0, 1, 2, 4 (left to right)\n\n", png, shown);

  // Classifier guidance: score = score(null class) + scale grad_x log p_t(y | x_t).
  const std::shared_ptr<const tweedie::MlpClassifier> noisy =
      tweedie::MlpClassifier::load(dir + "/digits_noisy_classifier.safetensors");
  fmt::print("classifier guidance by {}:\n", noisy->spec().description());
  fmt::print("{:>6} {:>10} {:>10} {:>8} {:>9}\n", "scale", "accuracy", "Frechet", "NFE", "seconds");
  std::vector<double> cg_accuracy, cg_frechet;
  for (const double scale : scales) run(*tweedie::classifier_guidance(model, noisy, sde, scale), scale, cg_accuracy, cg_frechet);
  fmt::print("\n");

  // NFE: the sampler's model calls per sample; under classifier-free guidance each of them
  // evaluates the network on two rows (the label and the null class) in one batch.
  example::Claims claims;
  claims.expect(accuracy[0] < 0.35, "scale 0 is the unconditional model: accuracy near chance (0.1)");
  claims.expect(accuracy[1] > 0.8, "scale 1 (the conditional model) draws the requested class");
  claims.expect(accuracy[2] > accuracy[1], "guidance (scale 2) raises the accuracy above the conditional model's");
  claims.expect(frechet[3] > frechet[1], "strong guidance (scale 4) moves the samples away from the data (Frechet distance up)");
  claims.expect(cg_accuracy[0] < 0.35, "classifier guidance at scale 0 is the unconditional model: near chance");
  claims.expect(cg_accuracy[1] > cg_accuracy[0] + 0.3 && cg_accuracy[2] > cg_accuracy[0] + 0.3,
                "classifier guidance (scales 1 and 2) draws the requested class far more often than scale 0");
  return claims.exit_status(args.flag("--check"));
} catch (const std::exception& e) {
  fmt::print(stderr, "digits: {}\n", e.what());
  return 2;
}
