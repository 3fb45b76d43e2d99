// What reads data through the model: log_likelihood, elbo, encode and decode, with the library's
// (and so the CLI's) defaults.
#include "bindings.hpp"
#include "arrays.hpp"
#include "problem.hpp"

#include <tweedie/elbo.hpp>
#include <tweedie/encode.hpp>
#include <tweedie/likelihood.hpp>

#include <pybind11/stl.h>

namespace py = pybind11;
using namespace pybind11::literals;

namespace tweedie::python {
namespace {

// A result's fields as attributes.
py::object namespace_of(const py::dict& fields) {
  return py::module_::import("types").attr("SimpleNamespace")(**fields);
}

FlowOptions flow_options(double t_min, double rtol, double atol, std::size_t max_steps, std::uint64_t first_sample,
                         int threads, std::size_t chunk, std::vector<int> labels) {
  FlowOptions o;
  o.t_min = t_min;
  o.rtol = rtol;
  o.atol = atol;
  o.max_steps = max_steps;
  o.first_sample = first_sample;
  o.execution = {threads, chunk};
  o.labels = std::move(labels);
  return o;
}

using FlowFunction = FlowResult (*)(const Sde&, const ScoreModel&, const ConstMatrixRef&, const FlowOptions&);

// encode and decode take the same arguments.
template <FlowFunction flow>
py::object run_flow(const py::object& target, const RowsArray& data, const py::object& sde, double t_min, double rtol,
                    double atol, std::size_t max_steps, const py::object& labels, std::uint64_t first_sample,
                    int threads, std::size_t chunk) {
  const Problem p = resolve_problem(target, sde);
  const auto x = rows_view(data, "data");
  const FlowOptions o = flow_options(t_min, rtol, atol, max_steps, first_sample, threads, chunk,
                                     labels_arg(labels, static_cast<std::size_t>(x.rows())));
  FlowResult r = without_gil([&] { return flow(*p.sde, *p.model, x, o); });
  return namespace_of(py::dict("x"_a = to_numpy(std::move(r.x)), "nfe"_a = to_numpy(std::move(r.nfe)),
                               "accepted_steps"_a = to_numpy(std::move(r.accepted_steps)),
                               "rejected_steps"_a = to_numpy(std::move(r.rejected_steps))));
}

template <FlowFunction flow>
void def_flow(py::module_& m, const char* name, const char* doc) {
  const FlowOptions defaults;
  m.def(name, &run_flow<flow>, py::arg("target"), py::arg("data"), py::kw_only(), py::arg("sde") = py::none(),
        py::arg("t_min") = defaults.t_min, py::arg("rtol") = defaults.rtol, py::arg("atol") = defaults.atol,
        py::arg("max_steps") = defaults.max_steps, py::arg("labels") = py::none(), py::arg("first_sample") = 0,
        py::arg("threads") = Execution{}.threads, py::arg("chunk") = Execution{}.chunk_rows, doc);
}

}  // namespace

void bind_flows(py::module_& m) {
  def_flow<encode>(m, "encode",
                   "The probability-flow latents at T of each row of data at t_min (dopri5 per sample): "
                   "namespace(x, nfe, accepted_steps, rejected_steps)");
  def_flow<decode>(m, "decode", "The data at t_min of each latent at T: the inverse of encode up to the tolerance");

  const LikelihoodOptions ld;
  m.def(
      "log_likelihood",
      [](const py::object& target, const RowsArray& data, const py::object& sde, double t_min, double rtol,
         double atol, std::size_t max_steps, const std::string& divergence, int probes, const std::string& probe,
         std::uint64_t seed, int noise_stream, const py::object& labels, std::uint64_t first_sample, int threads,
         std::size_t chunk) {
        const Problem p = resolve_problem(target, sde);
        const auto x = rows_view(data, "data");
        LikelihoodOptions o;
        static_cast<FlowOptions&>(o) = flow_options(t_min, rtol, atol, max_steps, first_sample, threads, chunk,
                                                    labels_arg(labels, static_cast<std::size_t>(x.rows())));
        o.divergence = divergence_from_string(divergence);
        o.probes = probes;
        o.probe_kind = probe_kind_from_string(probe);
        o.seed = seed;
        o.noise_stream = noise_stream;
        LikelihoodResult r = without_gil([&] { return tweedie::log_likelihood(*p.sde, *p.model, x, o); });
        return namespace_of(py::dict("log_likelihood"_a = to_numpy(std::move(r.log_likelihood)),
                                     "latent"_a = to_numpy(std::move(r.latent)), "nfe"_a = to_numpy(std::move(r.nfe))));
      },
      py::arg("target"), py::arg("data"), py::kw_only(), py::arg("sde") = py::none(), py::arg("t_min") = ld.t_min,
      py::arg("rtol") = ld.rtol, py::arg("atol") = ld.atol, py::arg("max_steps") = ld.max_steps,
      py::arg("divergence") = std::string(to_string(ld.divergence)), py::arg("probes") = ld.probes,
      py::arg("probe") = std::string(to_string(ld.probe_kind)), py::arg("seed") = 0,
      py::arg("noise_stream") = rng_stream_version, py::arg("labels") = py::none(), py::arg("first_sample") = 0,
      py::arg("threads") = Execution{}.threads, py::arg("chunk") = Execution{}.chunk_rows,
      "log p(x) of each row through the probability-flow ODE: namespace(log_likelihood, latent, nfe)");

  const ElboOptions ed;
  m.def(
      "elbo",
      [](const py::object& target, const RowsArray& data, const py::object& sde, double t_min, int steps,
         const std::string& spacing, const std::string& time_sampling, int draws, std::uint64_t seed,
         int noise_stream, const py::object& labels, std::uint64_t first_sample, int threads, std::size_t chunk) {
        const Problem p = resolve_problem(target, sde);
        const auto x = rows_view(data, "data");
        ElboOptions o;
        o.t_min = t_min;
        o.steps = steps;
        o.spacing = grid_spacing_from_string(spacing);
        o.time_sampling = elbo_time_sampling_from_string(time_sampling);
        o.draws = draws;
        o.seed = seed;
        o.noise_stream = noise_stream;
        o.first_sample = first_sample;
        o.execution = {threads, chunk};
        o.labels = labels_arg(labels, static_cast<std::size_t>(x.rows()));
        ElboResult r = without_gil([&] { return tweedie::elbo(*p.sde, *p.model, x, o); });
        return namespace_of(py::dict("elbo"_a = to_numpy(std::move(r.elbo)),
                                     "standard_error"_a = to_numpy(std::move(r.standard_error)),
                                     "reconstruction"_a = to_numpy(std::move(r.reconstruction)),
                                     "prior_kl"_a = to_numpy(std::move(r.prior_kl)),
                                     "diffusion"_a = to_numpy(std::move(r.diffusion)), "nfe"_a = r.nfe));
      },
      py::arg("target"), py::arg("data"), py::kw_only(), py::arg("sde") = py::none(), py::arg("t_min") = ed.t_min,
      py::arg("steps") = ed.steps, py::arg("spacing") = std::string(to_string(ed.spacing)),
      py::arg("time_sampling") = std::string(to_string(ed.time_sampling)), py::arg("draws") = ed.draws,
      py::arg("seed") = 0, py::arg("noise_stream") = rng_stream_version, py::arg("labels") = py::none(),
      py::arg("first_sample") = 0, py::arg("threads") = Execution{}.threads,
      py::arg("chunk") = Execution{}.chunk_rows,
      "The evidence lower bound of each row and its terms: namespace(elbo, standard_error, reconstruction, "
      "prior_kl, diffusion, nfe)");
}

}  // namespace tweedie::python
