// The demo: 10^5 samples of a 2-D ring of Gaussians through the reverse SDE (Euler-Maruyama)
// and the probability-flow ODE (Euler), compared with exact samples of the target.
//
//   ring_demo [samples] [steps] [threads]
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 100'000;
  const int steps = argc > 2 ? std::stoi(argv[2]) : 500;
  const int threads = argc > 3 ? std::stoi(argv[3]) : 0;

  const tweedie::VpSde sde;                                   // beta in [0.1, 20]
  const auto ring = tweedie::GaussianMixture::ring(8, 2.0, 0.15);
  const auto model = tweedie::exact_model(ring, sde);        // exact score at every t
  const auto grid = tweedie::make_grid(sde, {.spacing = tweedie::GridSpacing::time_uniform,
                                             .steps = steps, .t_end = 1e-3});
  const tweedie::Matrix truth = ring.sample(sde, grid.back(), n, tweedie::PhiloxNoise(12345));
  const Eigen::RowVectorXd mean = ring.mean(sde, grid.back());
  const Eigen::MatrixXd cov = ring.covariance(sde, grid.back());

  fmt::print("target: ring of 8 Gaussians (radius 2, std 0.15), VP SDE, {} samples, {} steps\n", n,
             steps);
  fmt::print("{:<6} {:>10} {:>12} {:>12} {:>10} {:>12}\n", "sampler", "|mean err|", "|cov err|_F",
             "sliced W2", "seconds", "samples/s");
  fmt::print("{:<6} {:>10.2e} {:>12.2e} {:>12.2e} {:>10} {:>12}\n", "exact",
             (tweedie::sample_mean(truth) - mean).norm(), (tweedie::sample_covariance(truth) - cov).norm(),
             tweedie::sliced_wasserstein(truth, ring.sample(sde, grid.back(), n, tweedie::PhiloxNoise(999))),
             "-", "-");
  for (const char* name : {"em", "euler"}) {
    const auto sampler = tweedie::make_sampler(name);
    tweedie::SampleOptions options;
    options.num_samples = n;
    options.seed = 7;
    options.execution.threads = threads;
    const auto r = tweedie::sample(sde, *model, *sampler, grid, options);
    fmt::print("{:<6} {:>10.2e} {:>12.2e} {:>12.2e} {:>10.3f} {:>12.4g}\n", name,
               (tweedie::sample_mean(r.samples) - mean).norm(),
               (tweedie::sample_covariance(r.samples) - cov).norm(),
               tweedie::sliced_wasserstein(r.samples, truth), r.stats.wall_seconds,
               r.stats.samples_per_second);
  }
  fmt::print("(the 'exact' row is two independent exact sample sets: the Monte Carlo floor)\n");
  return EXIT_SUCCESS;
}
