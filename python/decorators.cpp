// The model decorators of the CLI's flags (cli/decorator_options.cpp) as functions over a model:
// classifier_free_guidance (--guidance, --unconditional), classifier_guidance (--classifier,
// --classifier-scale), dynamic_threshold / static_clip / nearest_embedding (--threshold,
// --x0-clip, --round-to) and impute (--observe, --mask). Each wraps the resolved model in a
// FamilyModel that keeps the family the decorator refers to alive and names it, so that the
// drivers run in it; they stack in the order they are applied.
#include "decorators.hpp"

#include "arrays.hpp"
#include "bindings.hpp"
#include "family_model.hpp"
#include "problem.hpp"

#include <tweedie/decorator.hpp>
#include <tweedie/gaussian_mixture.hpp>
#include <tweedie/guidance.hpp>
#include <tweedie/mlp_classifier.hpp>
#include <tweedie/random.hpp>
#include <tweedie/x0_hooks.hpp>

#include <pybind11/stl.h>

#include <fmt/format.h>

namespace py = pybind11;

namespace tweedie::python {

const ScoreModel& unwrapped(const ScoreModel& model) {
  const ScoreModel* m = &model;
  while (const auto* family = dynamic_cast<const FamilyModel*>(m)) m = family->inner().get();
  return *m;
}

const Imputation* imputation_of(const ScoreModel& model) {
  for (const ScoreModel* m = &unwrapped(model); m;) {
    if (const auto* imputation = dynamic_cast<const Imputation*>(m)) return imputation;
    const auto* decorator = dynamic_cast<const ModelDecorator*>(m);
    m = decorator ? &unwrapped(decorator->inner()) : nullptr;
  }
  return nullptr;
}

std::vector<std::string> decorator_lines(const ScoreModel& model) {
  std::vector<std::string> lines;
  for (const ScoreModel* m = &unwrapped(model); const auto* decorator = dynamic_cast<const ModelDecorator*>(m);
       m = &unwrapped(decorator->inner())) {
    lines.push_back(describe_stack(*decorator).front());
  }
  return lines;
}

namespace {

// The decorator make(problem) over the model resolved as a driver resolves its target, with the
// family. The decorator wraps the model without its FamilyModels, so that the library sees the
// whole stack (one guidance per model, guidance.hpp); the new FamilyModel keeps the family alive
// (p.sde is the one they held). A guided model (needs_labels) keeps its message through the
// decorators stacked on it.
template <class Make>
std::shared_ptr<FamilyModel> decorated(const py::object& model, const py::object& sde, Make&& make,
                                       std::string needs_labels = {}) {
  Problem p = resolve_problem(model, sde);
  while (const auto family = std::dynamic_pointer_cast<const FamilyModel>(p.model)) p.model = family->inner();
  std::shared_ptr<const ScoreModel> decorator = make(p);
  return std::make_shared<FamilyModel>(p.sde, std::move(decorator),
                                       needs_labels.empty() ? p.needs_labels : std::move(needs_labels));
}

std::string needs_labels(const char* guidance) {
  return fmt::format("{} needs the class to guide towards: give labels=K (every sample) or one label per sample",
                     guidance);
}

// The unconditional model of a guidance pair: a mixture's exact score under the conditional
// model's family, or a model, which must then have been trained with that family.
std::shared_ptr<const ScoreModel> unconditional_model(const py::object& unconditional, const Problem& p) {
  if (py::isinstance<GaussianMixture>(unconditional)) {
    return exact_model(unconditional.cast<const GaussianMixture&>(), *p.sde);
  }
  const Problem u = resolve_problem(unconditional, py::none());
  if (!py::getattr(unconditional, "sde", py::none()).is_none() && !same_family(*u.sde, *p.sde)) {
    throw InvalidArgument(fmt::format("unconditional: trained with another noise schedule ({} family) than the "
                                      "conditional model's ({})",
                                      u.sde->name(), p.sde->name()));
  }
  return u.model;
}

// A labelled mixture's exact classifier under the model's family, or a classifier network, whose
// time input means noise levels of its own family: it must be the model's.
std::shared_ptr<const NoisyClassifier> classifier_arg(const py::object& classifier, const Sde& sde) {
  if (py::isinstance<GaussianMixture>(classifier)) return exact_classifier(classifier.cast<const GaussianMixture&>(), sde);
  if (!py::isinstance<MlpClassifier>(classifier)) {
    throw InvalidArgument(
        "classifier must be a labelled tweedie.GaussianMixture (its exact classifier) or a tweedie.MlpClassifier");
  }
  auto c = classifier.cast<std::shared_ptr<MlpClassifier>>();
  if (!same_family(c->sde(), sde)) {
    throw InvalidArgument(fmt::format("classifier {}: trained with another noise schedule ({} family) than the "
                                      "model's ({}): its times would be other noise levels",
                                      c->description(), c->spec().sde.family, sde.name()));
  }
  return c;
}

void bind_classifiers(py::module_& m) {
  py::class_<NoisyClassifier, std::shared_ptr<NoisyClassifier>>(m, "NoisyClassifier",
                                                                "A noise-conditional classifier p_t(y | x)")
      .def_property_readonly("classes", &NoisyClassifier::classes)
      .def_property_readonly("dim", &NoisyClassifier::dim)
      .def_property_readonly("description", &NoisyClassifier::description);
  py::class_<MlpClassifier, NoisyClassifier, std::shared_ptr<MlpClassifier>>(
      m, "MlpClassifier", "A tweedie.mlp classifier network (output.logits) from a safetensors file")
      .def_static(
          "load",
          [](const std::string& path, const std::string& precision) {
            return std::shared_ptr<MlpClassifier>(MlpClassifier::load(path, MlpOptions{precision_from_string(precision)}));
          },
          py::arg("path"), py::arg("precision") = "float64")
      .def_property_readonly(
          "sde", [](const std::shared_ptr<MlpClassifier>& c) { return std::shared_ptr<Sde>(c, const_cast<Sde*>(&c->sde())); },
          "the family it was trained with");
}

}  // namespace

void bind_decorators(py::module_& m) {
  bind_classifiers(m);
  m.def(
      "classifier_free_guidance",
      [](const py::object& model, double scale, const py::object& unconditional, const py::object& sde) {
        return decorated(model, sde, [&](const Problem& p) -> std::shared_ptr<const ScoreModel> {
          if (unconditional.is_none()) return classifier_free_guidance(p.model, scale);
          return classifier_free_guidance(p.model, unconditional_model(unconditional, p), *p.sde, scale);
        }, needs_labels("classifier-free guidance"));
      },
      py::arg("model"), py::arg("scale"), py::kw_only(), py::arg("unconditional") = py::none(),
      py::arg("sde") = py::none(),
      "Classifier-free guidance (--guidance S): (1 - S) out_null + S out_y over a conditional model with a null "
      "class, or over the pair (model, unconditional) (--unconditional). The drivers then need labels.");
  m.def(
      "classifier_guidance",
      [](const py::object& model, const py::object& classifier, double scale, const py::object& sde) {
        return decorated(model, sde, [&](const Problem& p) -> std::shared_ptr<const ScoreModel> {
          return classifier_guidance(p.model, classifier_arg(classifier, *p.sde), *p.sde, scale);
        }, needs_labels("classifier guidance"));
      },
      py::arg("model"), py::arg("classifier"), py::arg("scale"), py::kw_only(), py::arg("sde") = py::none(),
      "Classifier guidance (--classifier, --classifier-scale S): score_u + S grad log p_t(y | x), the classifier "
      "a labelled GaussianMixture (--classifier exact) or an MlpClassifier. The drivers then need labels.");
  m.def(
      "dynamic_threshold",
      [](const py::object& model, double ratio, double max_val, const py::object& sde) {
        return decorated(model, sde, [&](const Problem& p) {
          return apply_x0_hook(p.model, dynamic_threshold(ratio, max_val), *p.sde);
        });
      },
      py::arg("model"), py::arg("ratio") = 0.995, py::arg("max_val") = 1.0, py::kw_only(), py::arg("sde") = py::none(),
      "Dynamic thresholding of the data prediction (--threshold RATIO,MAX)");
  m.def(
      "static_clip",
      [](const py::object& model, double bound, const py::object& sde) {
        return decorated(model, sde, [&](const Problem& p) { return apply_x0_hook(p.model, static_clip(bound), *p.sde); });
      },
      py::arg("model"), py::arg("bound") = 1.0, py::kw_only(), py::arg("sde") = py::none(),
      "The data prediction clipped to [-bound, bound] (--x0-clip: bound 1)");
  m.def(
      "nearest_embedding",
      [](const py::object& model, const RowsArray& table, const py::object& sde) {
        Matrix rows = rows_view(table, "table");
        return decorated(model, sde, [&](const Problem& p) {
          return apply_x0_hook(p.model, nearest_embedding(std::move(rows)), *p.sde);
        });
      },
      py::arg("model"), py::arg("table"), py::kw_only(), py::arg("sde") = py::none(),
      "Each position of the data prediction rounded to the nearest row of table (--round-to)");
  m.def(
      "impute",
      [](const py::object& model, const RowsArray& observe, const RowsArray& mask, std::uint64_t seed,
         int noise_stream, const py::object& sde) {
        Observation observation{rows_view(observe, "observe"), rows_view(mask, "mask")};
        return decorated(model, sde, [&](const Problem& p) {
          return std::make_shared<Imputation>(p.model, *p.sde, std::move(observation), seed, noise_stream);
        });
      },
      py::arg("model"), py::arg("observe"), py::arg("mask"), py::kw_only(), py::arg("seed") = 0,
      py::arg("noise_stream") = rng_stream_version, py::arg("sde") = py::none(),
      "Imputation by replacement (--observe, --mask): observe and mask have 1 or n rows of d; the noise of the "
      "observed coordinates is keyed by seed (the CLI's --seed: give sample's seed for its bits). sample writes "
      "the observation into its result.");
}

}  // namespace tweedie::python
