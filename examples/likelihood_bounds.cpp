// Likelihoods of a diffusion model three ways, against the closed form: the exact
// log-likelihood through the probability-flow ODE, the continuous-time variational bound (ELBO)
// and the bound of discrete-time models of N steps (DDPM), on a 2-D ring of Gaussians whose
// score is exact. With the exact score the ODE gives log p_{t_min} to the solver's tolerance and
// the continuous ELBO is tight (docs/math.md); a discrete model of N steps loses ~1/N.
//
//   likelihood_bounds [samples] [draws] [threads]
#include <tweedie/tweedie.hpp>

#include <fmt/format.h>

#include <cmath>
#include <cstdlib>
#include <string>

namespace {

struct Summary {
  double mean, se;
};

Summary summarize(const tweedie::Vector& v) {
  const double m = v.mean();
  const double var = (v.array() - m).square().sum() / static_cast<double>(v.size() - 1);
  return {m, std::sqrt(var / static_cast<double>(v.size()))};
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t n = argc > 1 ? std::stoul(argv[1]) : 2000;
  const int draws = argc > 2 ? std::stoi(argv[2]) : 1024;
  const int threads = argc > 3 ? std::stoi(argv[3]) : 0;

  const tweedie::VpSde sde;
  const auto ring = tweedie::GaussianMixture::ring(8, 2.0, 0.15);
  const auto model = tweedie::exact_model(ring, sde);
  const tweedie::Matrix x = ring.sample(sde, 0.0, n, tweedie::PhiloxNoise(1));  // data: p_0
  tweedie::Vector exact(x.rows());
  ring.log_density(sde, tweedie::Vector::Zero(x.rows()), x, exact);
  const Summary truth = summarize(exact);
  const auto bpd = [&](double nats) { return tweedie::bits_per_dim(nats, x.cols(), {}); };

  fmt::print("ring of 8 Gaussians (radius 2, std 0.15), VP SDE, {} data points of p_0\n", n);
  fmt::print("{:<34} {:>10} {:>9} {:>9} {:>10} {:>8}\n", "method", "nats", "+-", "bits/dim",
             "- exact", "NFE");
  fmt::print("{:<34} {:>10.4f} {:>9.4f} {:>9.4f} {:>10} {:>8}\n", "closed form log p_0", truth.mean,
             truth.se, bpd(truth.mean), "-", "-");

  tweedie::LikelihoodOptions lo;
  lo.execution.threads = threads;
  const auto ode = tweedie::log_likelihood(sde, *model, x, lo);
  const Summary ll = summarize(ode.log_likelihood);
  fmt::print("{:<34} {:>10.4f} {:>9.4f} {:>9.4f} {:>10.4f} {:>8.1f}\n",
             "PF-ODE log p_{t_min}, dopri5 1e-5", ll.mean, ll.se, bpd(ll.mean),
             (ode.log_likelihood - exact).mean(), ode.nfe.mean());

  tweedie::ElboOptions eo;
  eo.draws = draws;
  eo.execution.threads = threads;
  const auto bound = tweedie::elbo(sde, *model, x, eo);
  const Summary b = summarize(bound.elbo);
  fmt::print("{:<34} {:>10.4f} {:>9.4f} {:>9.4f} {:>10.4f} {:>8.0f}\n", "ELBO, continuous time", b.mean,
             b.se, bpd(b.mean), (bound.elbo - exact).mean(), bound.nfe);

  // DDPM of N timesteps: latents at k/N, decoder on the first (elbo.hpp).
  for (const int steps : {10, 100, 1000}) {
    tweedie::ElboOptions d = eo;
    d.steps = steps - 1;
    d.t_min = sde.T() / steps;
    const auto r = tweedie::elbo(sde, *model, x, d);
    const Summary s = summarize(r.elbo);
    fmt::print("{:<34} {:>10.4f} {:>9.4f} {:>9.4f} {:>10.4f} {:>8.0f}\n",
               fmt::format("ELBO, DDPM of {} steps", steps), s.mean, s.se, bpd(s.mean),
               (r.elbo - exact).mean(), r.nfe);
  }
  fmt::print("(+- is the standard error of the mean over data points; the exact score makes the\n"
             " continuous ELBO tight up to the truncation at t_min and the prior mismatch at T)\n");
  return EXIT_SUCCESS;
}
