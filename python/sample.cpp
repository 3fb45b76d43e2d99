// tweedie.sample: what `tweedie sample` does, with the same defaults, so the same arguments give
// the same bits.
#include "bindings.hpp"
#include "arrays.hpp"
#include "decorators.hpp"
#include "execution.hpp"
#include "problem.hpp"

#include <tweedie/sample.hpp>

#include <pybind11/stl.h>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {
namespace {

py::dict stats_dict(const SampleStats& s) {
  py::dict d;
  d["sampler"] = s.sampler;
  d["steps"] = s.steps;
  d["samples"] = s.samples;
  d["evaluations"] = s.evaluations;
  d["accepted_steps"] = s.accepted_steps;
  d["rejected_steps"] = s.rejected_steps;
  d["nfe_per_sample"] = s.nfe_per_sample;
  d["accepted_steps_per_sample"] = s.accepted_steps_per_sample;
  d["rejected_steps_per_sample"] = s.rejected_steps_per_sample;
  d["wall_seconds"] = s.wall_seconds;
  d["samples_per_second"] = s.samples_per_second;
  return d;
}

}  // namespace

void bind_sample(py::module_& m) {
  m.def(
      "sample",
      [](const py::object& target, const py::object& sde, const std::string& sampler, int steps, std::size_t n,
         std::uint64_t seed, const py::object& grid, std::optional<double> t_start, std::optional<double> t_end,
         double rho, const py::object& times, const py::object& init, bool denoise, const py::object& labels,
         std::uint64_t first_sample, int threads, std::size_t chunk, const py::object& progress, int noise_stream,
         bool stats,
         const py::kwargs& options) -> py::object {
        const Problem p = resolve_problem(target, sde);
        require_labels(p, labels);
        auto solver = make_sampler(sampler, sampler_options(options));
        const GridPilot pilot{*p.model, *solver, seed};
        const std::vector<double> grid_times = run_grid(sampler, *p.sde, {steps, grid, t_start, t_end, rho, times}, &pilot);
        std::optional<Matrix> start;  // SampleOptions takes a Matrix: the one copy of init
        if (!init.is_none()) {
          start = rows_view(init.cast<RowsArray>(), "init");
          if (p.model->dim() != 0 && start->cols() != p.model->dim()) {
            throw InvalidArgument(fmt::format("init has {} columns but the model's dimension is {}", start->cols(),
                                              p.model->dim()));
          }
        }
        SampleOptions o;
        o.num_samples = n;
        o.seed = seed;
        o.noise_stream = noise_stream;
        o.first_sample = first_sample;
        o.execution = execution_arg(threads, chunk, progress);
        o.denoise = denoise;
        o.init = start ? &*start : nullptr;
        const std::size_t rows = start ? static_cast<std::size_t>(start->rows()) : n;
        o.labels = labels_arg(labels, rows);
        const Imputation* imputation = imputation_of(*p.model);
        if (imputation && imputation->observation_rows() > 1 &&
            static_cast<std::size_t>(imputation->observation_rows()) != rows) {
          throw InvalidArgument(fmt::format("observe/mask have {} rows for {} samples (give 1 or {})",
                                            imputation->observation_rows(), rows, rows));
        }
        SampleResult r = without_gil([&] {
          SampleResult result = tweedie::sample(*p.sde, *p.model, *solver, grid_times, o);
          if (imputation) imputation->restore_observed(first_sample, result.samples);
          return result;
        });
        py::object x = to_numpy(std::move(r.samples));
        if (!stats) return x;
        return py::make_tuple(x, stats_dict(r.stats));
      },
      py::arg("target"), py::kw_only(), py::arg("sde") = py::none(), py::arg("sampler") = "em",
      py::arg("steps") = 100, py::arg("n") = 1000, py::arg("seed") = 0, py::arg("grid") = py::none(),
      py::arg("t_start") = py::none(), py::arg("t_end") = py::none(), py::arg("rho") = GridOptions{}.rho,
      py::arg("times") = py::none(), py::arg("init") = py::none(), py::arg("denoise") = false,
      py::arg("labels") = py::none(), py::arg("first_sample") = 0, py::arg("threads") = Execution{}.threads,
      py::arg("chunk") = Execution{}.chunk_rows, py::arg("progress") = py::none(),
      py::arg("noise_stream") = rng_stream_version,
      py::arg("stats") = false,
      "Samples of `target` (a GaussianMixture or a ScoreModel) by the reverse SDE or the probability-flow "
      "ODE, as `tweedie sample` with the same arguments: an (n, d) array, or (array, stats) with stats=True. "
      "Further keywords are the sampler's options (tweedie.samplers()), checked by its declarations.");
}

}  // namespace tweedie::python
