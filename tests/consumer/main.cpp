// Samples a 2-D ring through an installed tweedie and checks the result is sane.
#include <tweedie/tweedie.hpp>

#include <cstdio>

int main() {
  const tweedie::VpSde sde;
  const auto ring = tweedie::GaussianMixture::ring();
  const auto model = tweedie::exact_model(ring, sde);
  const auto grid = tweedie::make_grid(sde, {.steps = 50});
  tweedie::SampleOptions options;
  options.num_samples = 1000;
  const auto result = tweedie::sample(sde, *model, *tweedie::make_sampler("em"), grid, options);
  const double radius = result.samples.rowwise().norm().mean();
  std::printf("consumer: %ld samples, mean radius %.3f\n", static_cast<long>(result.samples.rows()),
              radius);
  return result.samples.allFinite() && radius > 1.8 && radius < 2.2 ? 0 : 1;
}
