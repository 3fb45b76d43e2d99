// Every sampler with every decorator: finite samples, the sampler's declared NFE (the decorated
// model counts as one model: CFG's two inner rows per evaluation are its own business), and the
// same bits for every thread count and chunk size (the decorators keep batch invariance).
#include "guidance_util.hpp"
#include "test_util.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace tweedie;
using tweedie::test::bitwise_equal;

namespace {

struct Decorated {
  const char* name;
  std::shared_ptr<const ScoreModel> model;
  bool smooth;  ///< continuous derivatives in x and t: adaptive step control converges on it
};

}  // namespace

TEST_CASE("every sampler with every decorator: finite, declared NFE, bitwise across threads and chunks") {
  const GaussianMixture g = test::labelled_mixture();
  const VpSde sde;
  const std::shared_ptr<const ScoreModel> exact = exact_model(g, sde);
  const std::shared_ptr<const ScoreModel> cfg = classifier_free_guidance(exact, 2.0);
  Observation observation;
  observation.values = Matrix::Constant(1, 3, 0.5);
  observation.mask = Matrix::Zero(1, 3);
  observation.mask(0, 1) = 1.0;
  test::Inputs in(4);
  const std::vector<Decorated> decorated{
      {"cfg", cfg, true},
      {"classifier", classifier_guidance(exact, exact_classifier(g, sde), sde, 2.0), true},
      {"threshold", apply_x0_hook(cfg, dynamic_threshold(0.9, 1.5), sde), false},
      {"round", apply_x0_hook(exact, nearest_embedding(in.uniform(6, 3, -2.0, 2.0)), sde), false},
      // imputation draws a fresh z at every evaluation time, so the model is not smooth in t
      // either: an adaptive controller shrinks its steps to the floor
      {"impute", std::make_shared<Imputation>(cfg, sde, observation, 1), false}};
  const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 8});
  const std::size_t n = 30;
  std::vector<int> labels(n);
  for (std::size_t i = 0; i < n; ++i) labels[i] = static_cast<int>(i % 4);  // 3 is the null class
  for (const auto& d : decorated) {
    CHECK(d.model->batch_invariant());
    for (const auto& entry : sampler_entries()) {
      // a piecewise-constant x0 (rounding) or a kinked one (thresholding) has no error estimate
      // that an adaptive controller can drive down: fixed grids only
      if (entry.traits.adaptive && !d.smooth) continue;
      CAPTURE(d.name);
      CAPTURE(entry.traits.name);
      const auto sampler = make_sampler(entry.traits.name);
      SampleOptions o;
      o.num_samples = n;
      o.seed = 21;
      o.labels = labels;
      o.execution = {1, n};
      const SampleResult reference = sample(sde, *d.model, *sampler, grid, o);
      CHECK(reference.samples.allFinite());
      if (!entry.traits.adaptive) CHECK(reference.stats.nfe_per_sample == static_cast<double>(sampler->nfe(8)));
      for (auto [threads, chunk] : {std::pair{2, std::size_t{1}}, std::pair{2, std::size_t{7}}}) {
        o.execution = {threads, chunk};
        CHECK(bitwise_equal(sample(sde, *d.model, *sampler, grid, o).samples, reference.samples));
      }
    }
  }
}
