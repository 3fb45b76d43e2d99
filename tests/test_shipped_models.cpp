// The trained models shipped in models/: the Eigen runtime against PyTorch's outputs, samples
// against held-out data, and the CLI's --model.
#include "cli_util.hpp"
#include "test_util.hpp"

#include <tweedie/tweedie.hpp>
#include <tweedie/mlp_classifier.hpp>
#include <tweedie/mlp_model.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

using namespace tweedie;

namespace {

std::string shipped(const std::string& name, const std::string& suffix) {
  return fmt::format("{}/{}.{}", TWEEDIE_MODELS, name, suffix);
}

// max over rows of |a_i - b_i|_inf / max(|b_i|_inf, 1e-300).
double max_row_error(const Matrix& a, const Matrix& b) {
  double worst = 0.0;
  for (Eigen::Index i = 0; i < a.rows(); ++i) {
    const double scale = std::max(b.row(i).lpNorm<Eigen::Infinity>(), 1e-300);
    worst = std::max(worst, (a.row(i) - b.row(i)).lpNorm<Eigen::Infinity>() / scale);
  }
  return worst;
}

// dopri5 at rtol = atol = 1e-3: its ODE error (~1e-3) is far below the SW2 floors these tests
// compare with (~0.075), at 100 NFE per sample instead of the default 1e-5's 285.
std::unique_ptr<Sampler> coarse_sampler(const std::string& name) {
  return name == "dopri5" ? make_sampler(name, {{"rtol", "1e-3"}, {"atol", "1e-3"}}) : make_sampler(name);
}

}  // namespace

TEST_CASE("every shipped model gives PyTorch's outputs on its reference inputs") {
  for (const std::string name : {"ring", "moons", "swissroll", "checkerboard", "digits", "diffusion_lm"}) {
    CAPTURE(name);
    const Matrix x = read_npy_matrix(shipped(name, "ref.x.npy"));
    const std::vector<double> tv = read_npy_vector(shipped(name, "ref.t.npy"));
    const Vector t = Eigen::Map<const Vector>(tv.data(), static_cast<Eigen::Index>(tv.size()));
    std::vector<int> labels;
    for (double v : read_npy(shipped(name, "ref.labels.npy")).values) labels.push_back(static_cast<int>(v));
    for (const Precision p : {Precision::float64, Precision::float32}) {
      const auto model = MlpModel::load(shipped(name, "safetensors"), {.precision = p});
      Matrix out(x.rows(), x.cols());
      model->evaluate(ModelInput{t, x, {}, labels}, out);
      const Matrix ref = read_npy_matrix(shipped(name, p == Precision::float64 ? "ref.out64.npy" : "ref.out32.npy"));
      CHECK(max_row_error(out, ref) < (p == Precision::float64 ? 1e-12 : 1e-5));
    }
  }
}

TEST_CASE("samples of the shipped ring model are as close to held-out data as the data to itself") {
  // The bound: the same sampler with the exact score of the ring's mixture (builtin:ring) measures
  // the sampler's own error and the noise of n samples; the sliced W2 distance between two
  // independent halves of the held-out data is the noise of the measurement itself (~0.075 at
  // n = 2000). A faithful model is within one floor of the exact score; a model of another data
  // set (moons) is at ~2.
  const auto model = MlpModel::load(shipped("ring", "safetensors"));
  const auto sde = make_sde(model->spec().sde);
  const Matrix held = read_npy_matrix(shipped("ring", "heldout.npy"));
  const Eigen::Index n = 2000;
  REQUIRE(held.rows() >= 2 * n);
  const double floor = sliced_wasserstein(held.topRows(n), held.middleRows(n, n), 256, 3);
  MESSAGE(fmt::format("data floor {:.4f}", floor));
  struct Case {
    const char* sampler;
    GridSpacing spacing;
    int steps;
  };
  for (const Case c : {Case{"em", GridSpacing::time_uniform, 200}, Case{"dpm-solver++", GridSpacing::log_snr, 20},
                       Case{"dopri5", GridSpacing::log_snr, 1}}) {
    CAPTURE(c.sampler);
    SampleOptions o;
    o.num_samples = static_cast<std::size_t>(n);
    o.seed = 17;
    const auto sampler = coarse_sampler(c.sampler);
    const Matrix x = sample(*sde, *model, *sampler, make_grid(*sde, {.spacing = c.spacing, .steps = c.steps}), o).samples;
    const double d = sliced_wasserstein(x, held.topRows(n), 256, 3);
    const auto exact = exact_model(GaussianMixture::ring(), *sde);
    const Matrix y = sample(*sde, *exact, *sampler, make_grid(*sde, {.spacing = c.spacing, .steps = c.steps}), o).samples;
    const double d_exact = sliced_wasserstein(y, held.topRows(n), 256, 3);
    MESSAGE(fmt::format("{}: SW2 {:.4f}, exact score {:.4f}, floor {:.4f}", c.sampler, d, d_exact, floor));
    CHECK(d < d_exact + floor);
  }
  // The bound can fail: another data set's model is far off.
  const auto moons = MlpModel::load(shipped("moons", "safetensors"));
  const auto moons_sde = make_sde(moons->spec().sde);
  SampleOptions o;
  o.num_samples = static_cast<std::size_t>(n);
  const Matrix wrong = sample(*moons_sde, *moons, *make_sampler("dpm-solver++"),
                              make_grid(*moons_sde, {.spacing = GridSpacing::log_snr, .steps = 20}), o).samples;
  CHECK(sliced_wasserstein(wrong, held.topRows(n), 256, 3) > 4.0 * floor);
}

TEST_CASE("samples of the other shipped 2-D models are within twice the data's own noise of held-out data") {
  // No exact score here, so the bound is the data's: two independent halves of the held-out set
  // are `floor` apart (the sampling noise of SW2 at n = 2000); samples of a faithful model are
  // one floor plus the model's and the sampler's errors away. For the ring, where both are
  // measured, the exact score's samples are 1.3 floors away and the model's 1.35 to 1.7; a model
  // of another data set is 4 or more (above).
  const Eigen::Index n = 2000;
  for (const std::string name : {"moons", "swissroll", "checkerboard"}) {
    CAPTURE(name);
    const auto model = MlpModel::load(shipped(name, "safetensors"));
    const auto sde = make_sde(model->spec().sde);
    const Matrix held = read_npy_matrix(shipped(name, "heldout.npy"));
    REQUIRE(held.rows() >= 2 * n);
    const double floor = sliced_wasserstein(held.topRows(n), held.middleRows(n, n), 256, 3);
    for (const auto& [sampler, steps] : {std::pair{"em", 200}, {"dpm-solver++", 20}, {"dopri5", 1}}) {
      CAPTURE(sampler);
      SampleOptions o;
      o.num_samples = static_cast<std::size_t>(n);
      o.seed = 23;
      const Matrix x = sample(*sde, *model, *coarse_sampler(sampler),
                              make_grid(*sde, {.spacing = GridSpacing::log_snr, .steps = steps}), o).samples;
      const double d = sliced_wasserstein(x, held.topRows(n), 256, 3);
      MESSAGE(fmt::format("{} {}: SW2 {:.4f}, floor {:.4f} ({:.2f} floors)", name, sampler, d, floor, d / floor));
      CHECK(d < 2.0 * floor);
    }
  }
}

TEST_CASE("the shipped ring model's exact-divergence likelihood agrees with Hutchinson's estimate") {
  const auto model = MlpModel::load(shipped("ring", "safetensors"));
  const auto sde = make_sde(model->spec().sde);
  const Matrix held = read_npy_matrix(shipped("ring", "heldout.npy")).topRows(64);
  LikelihoodOptions exact;
  exact.t_min = 1e-3;
  const LikelihoodResult e = log_likelihood(*sde, *model, held, exact);
  LikelihoodOptions hutch = exact;
  hutch.divergence = Divergence::hutchinson;
  hutch.probes = 16;  // the standard error below is measured, so fewer probes only widen it
  hutch.seed = 5;
  const LikelihoodResult h = log_likelihood(*sde, *model, held, hutch);
  // Per sample the difference is Hutchinson's Monte Carlo error; its mean over 64 samples is
  // compared with the standard error of the mean difference.
  const Vector diff = h.log_likelihood - e.log_likelihood;
  const double se = std::sqrt((diff.array() - diff.mean()).square().sum() / 63.0 / 64.0);
  MESSAGE(fmt::format("mean log-likelihood {:.4f} (exact), {:.4f} (Hutchinson); data entropy 1.1258 "
                      "(-mean log p should be near it)", e.log_likelihood.mean(), h.log_likelihood.mean()));
  CHECK(std::abs(diff.mean()) < 3.0 * se + 1e-6);
  CHECK(-e.log_likelihood.mean() == doctest::Approx(1.15).epsilon(0.15));  // its card: 1.152 +- 0.032
}

TEST_CASE("tweedie sample --classifier FILE: the shipped noise-conditional digits classifier guides the digits model") {
  tweedie::test::TempDir dir;
  const std::string model = shipped("digits", "safetensors"), classifier = shipped("digits_noisy_classifier", "safetensors");
  const std::string common = fmt::format("sample --model {} --sampler ddim --steps 8 -n 6 --seed 3 ", model);
  const auto run = [&](const std::string& extra, const std::string& out) {
    const auto r = tweedie::test::run_cli(common + extra + " --out " + dir.file(out));
    INFO(r.output);
    REQUIRE(r.status == 0);
    return read_npy_matrix(dir.file(out));
  };
  // Scale 0 is the model's null-class (unconditional) prediction, bitwise.
  const Matrix unconditional = run("", "u.npy");
  const Matrix zero = run(fmt::format("--class 3 --classifier {} --classifier-scale 0", classifier), "z.npy");
  CHECK(tweedie::test::bitwise_equal(zero, unconditional));
  const Matrix guided = run(fmt::format("--class 3 --classifier {} --classifier-scale 2", classifier), "g.npy");
  CHECK(guided.allFinite());
  CHECK((guided - unconditional).cwiseAbs().maxCoeff() > 1e-3);
  const auto info = tweedie::test::run_cli(
      fmt::format("info --model {} --class 3 --classifier {} --classifier-scale 2", model, classifier));
  CHECK(info.status == 0);
  CHECK(info.output.find("classifier guidance (scale 2, MLP classifier 64 -> 64 x 2 residual blocks -> 10 logits") !=
        std::string::npos);
}

TEST_CASE("the shipped noise-conditional digits classifier reproduces PyTorch's logits (1e-12)") {
  const auto c = tweedie::MlpClassifier::load(shipped("digits_noisy_classifier", "safetensors"));
  const Matrix x = read_npy_matrix(shipped("digits_noisy_classifier", "ref.x.npy"));
  const std::vector<double> tv = read_npy_vector(shipped("digits_noisy_classifier", "ref.t.npy"));
  const tweedie::Vector t = Eigen::Map<const tweedie::Vector>(tv.data(), static_cast<Eigen::Index>(tv.size()));
  const Matrix want = read_npy_matrix(shipped("digits_noisy_classifier", "ref.out64.npy"));
  Matrix logits(x.rows(), 10);
  c->logits({t, x, {}, {}}, logits);
  CHECK((logits - want).cwiseAbs().maxCoeff() <= 1e-12 * (1.0 + want.cwiseAbs().maxCoeff()));
}

TEST_CASE("tweedie --model: sample, likelihood, info, and a family that contradicts the model") {
  tweedie::test::TempDir dir;
  const std::string ring = shipped("ring", "safetensors");
  const auto r = tweedie::test::run_cli(fmt::format(
      "sample --model {} --sampler dpm-solver++ --steps 10 --grid log-snr -n 50 --out {}", ring, dir.file("x.npy")));
  CHECK(r.status == 0);
  CHECK(read_npy_matrix(dir.file("x.npy")).rows() == 50);
  const auto digits = tweedie::test::run_cli(fmt::format(
      "sample --model {} --sampler em --steps 20 -n 4 --class 3 --out {}", shipped("digits", "safetensors"),
      dir.file("d.npy")));
  CHECK(digits.status == 0);
  const auto info = tweedie::test::run_cli("info --model " + ring);
  CHECK(info.status == 0);
  CHECK(info.output.find("prediction noise") != std::string::npos);
  CHECK(info.output.find("model card (") != std::string::npos);  // ring.md, printed beside the model
  CHECK(info.output.find("8 equal-weight Gaussians of std 0.15") != std::string::npos);
  const auto contradiction = tweedie::test::run_cli(fmt::format(
      "sample --model {} --sde ve --sampler ddim --steps 5 -n 2 --out {}", ring, dir.file("y.npy")));
  CHECK(contradiction.status == 2);
  CHECK(contradiction.output.find("trained with vp") != std::string::npos);
  const auto shift = tweedie::test::run_cli(fmt::format(
      "sample --model {} --time-shift 1 --sampler ddim --steps 5 -n 2 --out {}", ring, dir.file("y.npy")));
  CHECK(shift.status == 2);
  CHECK(shift.output.find("--time-shift is for TorchScript models") != std::string::npos);
  const auto pt = tweedie::test::run_cli(fmt::format(
      "sample --model {} --sampler dpm-solver++ --steps 10 --grid log-snr -n 50 --out {}", shipped("ring", "pt"),
      dir.file("p.npy")));
  if (pt.output.find("without libtorch") == std::string::npos) {
    REQUIRE(pt.status == 0);
    // The TorchScript twin (float32 weights computed in float32) gives the float64 runtime's samples
    // to float32 rounding.
    const Matrix a = read_npy_matrix(dir.file("x.npy")), b = read_npy_matrix(dir.file("p.npy"));
    CHECK((a - b).cwiseAbs().maxCoeff() < 1e-3);
  }
  // The program loads libtorch only through its plugin, found beside it: a copy of the program
  // alone refuses a .pt model with one line that names where it looked, and still runs the rest.
  const std::string alone = dir.file("tweedie");
  std::filesystem::copy_file(TWEEDIE_CLI, alone);
  std::filesystem::permissions(alone, std::filesystem::perms::owner_all);
  const auto missing = tweedie::test::run_program(
      alone, fmt::format("sample --model {} --sampler ddim --steps 5 -n 2 --out {}", shipped("ring", "pt"),
                         dir.file("q.npy")));
  CHECK(missing.status == 2);
  CHECK((missing.output.find("TorchScript plugin is missing (looked for " + dir.path().string()) != std::string::npos ||
         missing.output.find("without libtorch") != std::string::npos));
  CHECK(!std::filesystem::exists(dir.file("q.npy")));
  CHECK(tweedie::test::run_program(alone, "info").status == 0);
  const auto likelihood = tweedie::test::run_cli(fmt::format(
      "likelihood --model {} --data {} --t-min 1e-3", ring, dir.file("x.npy")));
  CHECK(likelihood.status == 0);
}
