// Every registered sampler, with its default options, on the exact Gaussian-mixture problem:
// finite output for few and many steps (terminal steps at t_end = 1e-3 and at sigma = 0
// included), exact NFE counts, and bitwise determinism across threads and chunk sizes.
#include "sampling_util.hpp"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstring>
#include <map>

using namespace tweedie;

namespace {

struct Family {
  std::unique_ptr<Sde> sde;
  GridOptions grid;
};

std::vector<Family> families() {
  std::vector<Family> out;
  out.push_back({std::make_unique<VpSde>(), {.spacing = GridSpacing::time_uniform, .t_end = 1e-3}});
  // EDM's Karras grid down to sigma = 0: the last step lands on exact data.
  out.push_back({std::make_unique<EdmSde>(), {.spacing = GridSpacing::karras, .t_end = 0.0}});
  out.push_back({std::make_unique<VeSde>(), {.spacing = GridSpacing::log_snr, .t_end = 1e-5}});
  return out;
}

// NFE per sample that the documentation promises: N x NFE per step, except EDM's Heun and DPM-2
// (Euler on their last step), predictor-corrector (one corrector step per step by default), and
// RK4 on a grid ending at sigma = 0 (its last step is the denoiser).
std::size_t promised_nfe(const SamplerTraits& traits, std::size_t n, bool noiseless_end) {
  if (traits.name == "heun" || traits.name == "dpm2") return 2 * n - 1;
  if (traits.name == "pc") return 2 * n;
  if (traits.name == "rk4" && noiseless_end) return 4 * n - 3;
  return n * static_cast<std::size_t>(traits.nfe_per_step);
}

bool bitwise_equal(const Matrix& a, const Matrix& b) {
  return a.rows() == b.rows() && a.cols() == b.cols() &&
         std::memcmp(a.data(), b.data(), sizeof(double) * static_cast<std::size_t>(a.size())) == 0;
}

}  // namespace

TEST_CASE("every sampler gives finite samples and its promised NFE for N in {1, 2, 3, 5, 10, 50}") {
  const auto target = test::random_mixture(3, 4, 21);
  for (const auto& family : families()) {
    const auto model = exact_model(target, *family.sde);
    for (const auto& entry : sampler_entries()) {
      const auto sampler = make_sampler(entry.traits.name);
      for (int n : {1, 2, 3, 5, 10, 50}) {
        CAPTURE(family.sde->name());
        CAPTURE(entry.traits.name);
        CAPTURE(n);
        GridOptions g = family.grid;
        g.steps = n;
        SampleOptions o;
        o.num_samples = 40;
        o.seed = 5;
        SampleResult r;
        try {
          r = sample(*family.sde, *model, *sampler, make_grid(*family.sde, g), o);
        } catch (const InvalidArgument& e) {
          // A sampler may be defined for some families only (score_sde's ancestral sampling);
          // it must then say so, naming the family.
          CHECK(std::string(e.what()).find(std::string(family.sde->name())) != std::string::npos);
          continue;
        }
        CHECK(r.samples.allFinite());
        if (!entry.traits.adaptive) {
          const auto steps = static_cast<std::size_t>(n);
          const bool noiseless = family.sde->sigma(g.t_end) == 0.0;
          const std::size_t declared = noiseless ? sampler->nfe_to_noiseless(steps) : sampler->nfe(steps);
          CHECK(r.stats.nfe_per_sample == static_cast<double>(declared));
          CHECK(declared == promised_nfe(entry.traits, steps, noiseless));
        } else {
          CHECK(r.stats.nfe_per_sample > 0.0);
          CHECK(r.stats.accepted_steps_per_sample >= 1.0);
        }
      }
    }
  }
}

TEST_CASE("every sampler is bitwise reproducible across threads, chunk sizes and batch position") {
  const auto target = test::random_mixture(4, 3, 8);
  const VpSde sde;
  const auto model = exact_model(target, sde);
  const auto grid = make_grid(sde, {.spacing = GridSpacing::log_snr, .steps = 12});
  for (const auto& entry : sampler_entries()) {
    CAPTURE(entry.traits.name);
    const auto sampler = make_sampler(entry.traits.name);
    SampleOptions o;
    o.num_samples = 150;
    o.seed = 77;
    o.execution = {1, 150};
    const Matrix reference = sample(sde, *model, *sampler, grid, o).samples;
    for (auto [threads, chunk] : {std::pair{2, std::size_t{1}}, std::pair{2, std::size_t{64}},
                                  std::pair{8, std::size_t{7}}}) {
      CAPTURE(threads);
      CAPTURE(chunk);
      o.execution = {threads, chunk};
      CHECK(bitwise_equal(sample(sde, *model, *sampler, grid, o).samples, reference));
    }
    SampleOptions one = o;
    one.num_samples = 1;
    one.first_sample = 123;
    CHECK(bitwise_equal(sample(sde, *model, *sampler, grid, one).samples, reference.middleRows(123, 1)));
  }
}

TEST_CASE("every sampler declares consistent traits") {
  std::map<std::string, int> seen;
  for (const auto& entry : sampler_entries()) {
    CAPTURE(entry.traits.name);
    CHECK(++seen[entry.traits.name] == 1);
    CHECK(entry.traits.order >= 1);
    CHECK(entry.traits.nfe_per_step >= 1);
    CHECK_FALSE(entry.traits.summary.empty());
    CHECK(make_sampler(entry.traits.name)->traits().name == entry.traits.name);
  }
}
