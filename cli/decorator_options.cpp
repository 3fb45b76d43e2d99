#include "decorator_options.hpp"

#include "model_options.hpp"

#include <fmt/format.h>

#include <tweedie/mlp_classifier.hpp>

#include <charconv>
#include <vector>

namespace tweedie::cli {

void DecoratorOptions::add_to(CLI::App& app) {
  app.add_option("--guidance", guidance,
                 "classifier-free guidance scale S (1 conditional, 0 unconditional; needs --class or --labels)");
  app.add_option("--unconditional", unconditional,
                 "with --guidance: classifier-free guidance over a pair, --model the conditional network and this "
                 "one (same family and dimension) the unconditional one");
  app.add_option("--classifier", classifier,
                 "classifier guidance: 'exact' (the --target mixture's closed-form classifier) or a "
                 "noise-conditional classifier network FILE.safetensors (tweedie.mlp with output.logits)");
  app.add_option("--classifier-scale", classifier_scale, "classifier guidance scale S (with --classifier)");
  app.add_flag("--x0-clip", x0_clip, "clip the data prediction to [-1, 1] at every step");
  app.add_option("--threshold", threshold,
                 "dynamic thresholding of the data prediction: RATIO[,MAX] (DPM-Solver's 0.995,1)");
  app.add_option("--round-to", round_to,
                 "round each position of the data prediction to the nearest row of EMB.npy (Diffusion-LM)");
  app.add_option("--observe", observe, "imputation: the observed values (.npy, 1 or n rows of d)");
  app.add_option("--mask", mask, "imputation: which coordinates are observed (.npy of 0/1, 1 or n rows of d)");
}

bool DecoratorOptions::any() const {
  return guidance || !unconditional.empty() || !classifier.empty() || classifier_scale || x0_clip || !threshold.empty() || !round_to.empty() ||
         !observe.empty() || !mask.empty();
}

namespace {

double parse_number(std::string_view text, const char* what) {
  double v = 0.0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    throw InvalidArgument(fmt::format("--threshold: {} '{}' is not a number (give RATIO[,MAX], e.g. 0.995,1)", what,
                                      text));
  }
  return v;
}

// The x0 hooks in the order they apply to the data prediction: thresholding, clipping, then
// rounding (last, so that the result holds table rows exactly).
std::vector<std::shared_ptr<const X0Hook>> x0_hooks(const DecoratorOptions& o) {
  std::vector<std::shared_ptr<const X0Hook>> hooks;
  if (!o.threshold.empty()) {
    const std::string_view text = o.threshold;
    const auto comma = text.find(',');
    const double ratio = parse_number(text.substr(0, comma), "RATIO");
    const double max_val = comma == std::string_view::npos ? 1.0 : parse_number(text.substr(comma + 1), "MAX");
    hooks.push_back(dynamic_threshold(ratio, max_val));
  }
  if (o.x0_clip) hooks.push_back(static_clip(1.0));
  if (!o.round_to.empty()) hooks.push_back(nearest_embedding(read_npy_matrix(o.round_to, "--round-to")));
  return hooks;
}

// The classifier's time input means noise levels of its own family: it must be the model's.
std::shared_ptr<const NoisyClassifier> network_classifier(const std::string& path, const Sde& sde) {
  std::shared_ptr<const MlpClassifier> c = MlpClassifier::load(path);
  if (!same_family(c->sde(), sde)) {
    throw InvalidArgument(fmt::format("--classifier {}: trained with another noise schedule ({} family) than the "
                                      "model's ({}): its times would be other noise levels",
                                      path, c->spec().sde.family, sde.name()));
  }
  return c;
}

std::shared_ptr<const ScoreModel> guided(const DecoratorOptions& o, std::shared_ptr<const ScoreModel> model,
                                         const Sde& sde, const GaussianMixture* target, bool labelled,
                                         std::shared_ptr<const ScoreModel> unconditional) {
  if (unconditional && !o.guidance) {
    throw InvalidArgument("--unconditional is the unconditional model of classifier-free guidance: give --guidance S");
  }
  if (o.classifier.empty() != !o.classifier_scale) {
    throw InvalidArgument("--classifier and --classifier-scale go together: give both");
  }
  if ((o.guidance || !o.classifier.empty()) && !labelled) {
    throw InvalidArgument(fmt::format("{} needs the class to guide towards: add --class K or --labels FILE.npy",
                                      o.guidance ? "--guidance" : "--classifier"));
  }
  // Classifier guidance goes over classifier-free guidance when both are given, so that the
  // library refuses the two (one guidance per model, guidance.hpp).
  if (o.guidance && unconditional) {
    model = classifier_free_guidance(std::move(model), std::move(unconditional), sde, *o.guidance);
  } else if (o.guidance) {
    model = classifier_free_guidance(std::move(model), *o.guidance);
  }
  if (o.classifier.empty()) return model;
  if (o.classifier != "exact") return classifier_guidance(std::move(model), network_classifier(o.classifier, sde), sde,
                                                          *o.classifier_scale);
  if (!target) throw InvalidArgument("--classifier exact needs --target (the mixture whose classifier it is)");
  if (target->classes() == 0) {
    throw InvalidArgument("--classifier exact needs a labelled target (\"classes\" in the target JSON)");
  }
  return classifier_guidance(std::move(model), exact_classifier(*target, sde), sde, *o.classifier_scale);
}

}  // namespace

Decorated decorate(const DecoratorOptions& o, std::shared_ptr<const ScoreModel> model, const Sde& sde,
                   const GaussianMixture* target, bool labelled, std::uint64_t seed,
                   std::shared_ptr<const ScoreModel> unconditional) {
  Decorated d;
  d.model = guided(o, std::move(model), sde, target, labelled, std::move(unconditional));
  for (auto& hook : x0_hooks(o)) d.model = apply_x0_hook(d.model, std::move(hook), sde);
  if (o.observe.empty() != o.mask.empty()) throw InvalidArgument("--observe and --mask go together: give both");
  if (!o.observe.empty()) {
    Observation observation{read_npy_matrix(o.observe, "--observe"), read_npy_matrix(o.mask, "--mask")};
    d.imputation = std::make_shared<Imputation>(d.model, sde, std::move(observation), seed);
    d.model = d.imputation;
  }
  return d;
}

}  // namespace tweedie::cli
