// What reads data through the model: log_likelihood, elbo, encode and decode, with the library's
// (and so the CLI's) defaults.
#include "bindings.hpp"
#include "arrays.hpp"
#include "decorators.hpp"
#include "execution.hpp"
#include "problem.hpp"
#include "python_model.hpp"

#include <tweedie/data_encoding.hpp>
#include <tweedie/elbo.hpp>
#include <tweedie/encode.hpp>
#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/likelihood.hpp>

#include <pybind11/stl.h>

#include <fmt/format.h>

#include <functional>
#include <optional>

namespace py = pybind11;
using namespace pybind11::literals;

namespace tweedie::python {
namespace {

// The encoding of the user's data (data_encoding.hpp) from the keywords the CLI has as --data-scale,
// --data-shift, --bits and --dequantize: dequantize defaults to uniform with bits (integer data).
DataEncoding encoding_arg(double data_scale, double data_shift, int bits, const py::object& dequantize) {
  DataEncoding e;
  e.data_scale = data_scale;
  e.data_shift = data_shift;
  e.bits = bits;
  e.dequantize = dequantize.is_none() ? (bits > 0 ? Dequantization::uniform : Dequantization::none)
                                      : dequantization_from_string(dequantize.cast<std::string>());
  e.validate();
  return e;
}

// The data argument as the model's data: the user's rows y under the encoding, as the CLI reads
// --data (the dequantisation noise keyed by seed and the global sample); with the identity
// encoding the caller's rows are read where they are (no copy).
struct ModelData {
  DataEncoding encoding;
  Eigen::Map<const Matrix> y;
  std::optional<Matrix> encoded;
  ConstMatrixRef x() const { return encoded ? ConstMatrixRef(*encoded) : ConstMatrixRef(y); }
};
ModelData model_data(const RowsArray& data, const DataEncoding& e, std::uint64_t seed, const Execution& execution,
                     std::uint64_t first_sample) {
  ModelData m{e, rows_view(data, "data"), std::nullopt};
  if (e.data_scale != 1.0 || e.data_shift != 0.0 || e.bits != 0) {
    m.encoded = to_model_data(m.y, e, seed, execution, first_sample);
  }
  return m;
}

// Bits per dimension of the user's data of each log-likelihood (or bound) in nats of x.
Vector bits_of(const Vector& nats, Eigen::Index dim, const DataEncoding& e) {
  Vector bpd(nats.size());
  for (Eigen::Index i = 0; i < nats.size(); ++i) bpd(i) = bits_per_dim(nats(i), dim, e);
  return bpd;
}

// The prior= of log_likelihood: a GaussianMixture's marginal at T under `sde` (LikelihoodOptions::
// prior_log_density, called without the GIL: the mixture's own arithmetic, no Python).
std::function<double(const Eigen::Ref<const Eigen::RowVectorXd>&)> prior_arg(const py::object& prior,
                                                                             const Sde& sde, Eigen::Index dim) {
  if (!py::isinstance<GaussianMixture>(prior)) {
    throw InvalidArgument("prior must be None (the family's N(0, prior_std^2 I)) or a tweedie.GaussianMixture");
  }
  const GaussianMixture* mixture = &prior.cast<const GaussianMixture&>();
  if (mixture->dim() != dim) {
    throw InvalidArgument(fmt::format("prior has dimension {} but the data {}", mixture->dim(), dim));
  }
  return [mixture, &sde](const Eigen::Ref<const Eigen::RowVectorXd>& x) {
    Vector out(1);
    mixture->log_density(sde, Vector::Constant(1, sde.T()), Matrix(x), out);
    return out(0);
  };
}

// A result's fields as attributes.
py::object namespace_of(const py::dict& fields) {
  return py::module_::import("types").attr("SimpleNamespace")(**fields);
}

FlowOptions flow_options(double t_min, double rtol, double atol, std::size_t max_steps, std::uint64_t first_sample,
                         Execution execution, std::vector<int> labels) {
  FlowOptions o;
  o.t_min = t_min;
  o.rtol = rtol;
  o.atol = atol;
  o.max_steps = max_steps;
  o.first_sample = first_sample;
  o.execution = std::move(execution);
  o.labels = std::move(labels);
  return o;
}

using FlowFunction = FlowResult (*)(const Sde&, const ScoreModel&, const ConstMatrixRef&, const FlowOptions&);

// encode and decode take the same arguments.
template <FlowFunction flow>
py::object run_flow(const py::object& target, const RowsArray& data, const py::object& sde, double t_min, double rtol,
                    double atol, std::size_t max_steps, const py::object& labels, std::uint64_t first_sample,
                    int threads, std::size_t chunk, const py::object& progress) {
  const Problem p = resolve_problem(target, sde);
  require_labels(p, labels);
  const auto x = rows_view(data, "data");
  const FlowOptions o = flow_options(t_min, rtol, atol, max_steps, first_sample,
                                     execution_arg(threads, chunk, progress),
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
        py::arg("threads") = Execution{}.threads, py::arg("chunk") = Execution{}.chunk_rows,
        py::arg("progress") = py::none(), doc);
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
         std::size_t chunk, const py::object& progress, const py::object& prior, double data_scale,
         double data_shift, int bits, const py::object& dequantize) {
        const Problem p = resolve_problem(target, sde);
        require_labels(p, labels);
        const ModelData data_rows = model_data(data, encoding_arg(data_scale, data_shift, bits, dequantize), seed,
                                               {threads, chunk}, first_sample);
        const ConstMatrixRef x = data_rows.x();
        LikelihoodOptions o;
        static_cast<FlowOptions&>(o) =
            flow_options(t_min, rtol, atol, max_steps, first_sample, execution_arg(threads, chunk, progress),
                         labels_arg(labels, static_cast<std::size_t>(x.rows())));
        o.divergence = divergence_from_string(divergence);
        if (o.divergence == Divergence::exact && !p.model->has_divergence() && !p.model->has_jvp() &&
            dynamic_cast<const PythonModel*>(&unwrapped(*p.model))) {
          throw InvalidArgument("the exact divergence needs the callable's Jacobian-vector product: give "
                                "PythonModel(fn, jvp=...) (docs/python.md) or log_likelihood(..., "
                                "divergence=\"hutchinson\")");
        }
        if (!prior.is_none()) o.prior_log_density = prior_arg(prior, *p.sde, x.cols());
        o.probes = probes;
        o.probe_kind = probe_kind_from_string(probe);
        o.seed = seed;
        o.noise_stream = noise_stream;
        LikelihoodResult r = without_gil([&] { return tweedie::log_likelihood(*p.sde, *p.model, x, o); });
        Vector bpd = bits_of(r.log_likelihood, x.cols(), data_rows.encoding);
        return namespace_of(py::dict("log_likelihood"_a = to_numpy(std::move(r.log_likelihood)),
                                     "bits_per_dim"_a = to_numpy(std::move(bpd)),
                                     "latent"_a = to_numpy(std::move(r.latent)), "nfe"_a = to_numpy(std::move(r.nfe))));
      },
      py::arg("target"), py::arg("data"), py::kw_only(), py::arg("sde") = py::none(), py::arg("t_min") = ld.t_min,
      py::arg("rtol") = ld.rtol, py::arg("atol") = ld.atol, py::arg("max_steps") = ld.max_steps,
      py::arg("divergence") = std::string(to_string(ld.divergence)), py::arg("probes") = ld.probes,
      py::arg("probe") = std::string(to_string(ld.probe_kind)), py::arg("seed") = 0,
      py::arg("noise_stream") = rng_stream_version, py::arg("labels") = py::none(), py::arg("first_sample") = 0,
      py::arg("threads") = Execution{}.threads, py::arg("chunk") = Execution{}.chunk_rows,
      py::arg("progress") = py::none(), py::arg("prior") = py::none(), py::arg("data_scale") = DataEncoding{}.data_scale,
      py::arg("data_shift") = DataEncoding{}.data_shift, py::arg("bits") = DataEncoding{}.bits,
      py::arg("dequantize") = py::none(),
      "log p(x) of each row through the probability-flow ODE, x = data_scale * data + data_shift (dequantised "
      "with bits): namespace(log_likelihood (nats of x), bits_per_dim (of the data), latent, nfe). prior: None "
      "(the family's N(0, prior_std^2 I)) or a GaussianMixture, whose marginal at T under sde is the prior "
      "(then the exact score of that mixture gives its log p_{t_min}(x) to the solver's tolerance)");

  const ElboSettings ed;
  m.def(
      "elbo",
      [](const py::object& target, const RowsArray& data, const py::object& sde, double t_min, int steps,
         const std::string& spacing, const std::string& time_sampling, int draws, std::uint64_t seed,
         int noise_stream, const py::object& labels, std::uint64_t first_sample, int threads, std::size_t chunk,
         const py::object& progress, double data_scale, double data_shift, int bits, const py::object& dequantize) {
        const Problem p = resolve_problem(target, sde);
        require_labels(p, labels);
        const ModelData data_rows = model_data(data, encoding_arg(data_scale, data_shift, bits, dequantize), seed,
                                               {threads, chunk}, first_sample);
        const ConstMatrixRef x = data_rows.x();
        ElboOptions o = ElboSettings{t_min, steps, spacing, time_sampling, draws}.options(
            seed, noise_stream, execution_arg(threads, chunk, progress),
            labels_arg(labels, static_cast<std::size_t>(x.rows())));
        o.first_sample = first_sample;
        ElboResult r = without_gil([&] { return tweedie::elbo(*p.sde, *p.model, x, o); });
        Vector bpd = bits_of(r.elbo, x.cols(), data_rows.encoding);
        return namespace_of(py::dict("elbo"_a = to_numpy(std::move(r.elbo)), "bits_per_dim"_a = to_numpy(std::move(bpd)),
                                     "standard_error"_a = to_numpy(std::move(r.standard_error)),
                                     "reconstruction"_a = to_numpy(std::move(r.reconstruction)),
                                     "prior_kl"_a = to_numpy(std::move(r.prior_kl)),
                                     "diffusion"_a = to_numpy(std::move(r.diffusion)), "nfe"_a = r.nfe));
      },
      py::arg("target"), py::arg("data"), py::kw_only(), py::arg("sde") = py::none(), py::arg("t_min") = ed.t_min,
      py::arg("steps") = ed.steps, py::arg("spacing") = ed.spacing,
      py::arg("time_sampling") = ed.time_sampling, py::arg("draws") = ed.draws,
      py::arg("seed") = 0, py::arg("noise_stream") = rng_stream_version, py::arg("labels") = py::none(),
      py::arg("first_sample") = 0, py::arg("threads") = Execution{}.threads,
      py::arg("chunk") = Execution{}.chunk_rows, py::arg("progress") = py::none(),
      py::arg("data_scale") = DataEncoding{}.data_scale,
      py::arg("data_shift") = DataEncoding{}.data_shift, py::arg("bits") = DataEncoding{}.bits,
      py::arg("dequantize") = py::none(),
      "The evidence lower bound of each row (nats of x = data_scale * data + data_shift, dequantised with bits) "
      "and its terms: namespace(elbo, bits_per_dim (of the data: a bound), standard_error, reconstruction, "
      "prior_kl, diffusion, nfe)");
}

}  // namespace tweedie::python
