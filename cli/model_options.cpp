#include "model_options.hpp"

#include <tweedie/mlp_model.hpp>
#if TWEEDIE_WITH_TORCH
#include "torch_plugin.hpp"
#endif

#include <fmt/format.h>

#include <filesystem>

namespace tweedie::cli {

namespace {

// The family flags given on top of the model's own: each one given replaces the model's value.
SdeSpec overlay(SdeSpec base, const SdeSpec& given) {
  if (given.family != base.family) return given;
  for (auto [field, value] : {std::pair{&base.beta_min, given.beta_min}, {&base.beta_max, given.beta_max},
                              {&base.sigma_min, given.sigma_min}, {&base.sigma_max, given.sigma_max},
                              {&base.cosine_s, given.cosine_s}}) {
    if (value) *field = value;
  }
  return base;
}

LoadedModel load_safetensors(const ModelOptions& o, const std::optional<SdeSpec>& sde) {
  for (auto [flag, given] : {std::pair{"--prediction", o.prediction.has_value()},
                             {"--time-input", o.time_input.has_value()}, {"--time-scale", o.time_scale.has_value()},
                             {"--time-shift", o.time_shift.has_value()}}) {
    if (given) {
      throw InvalidArgument(fmt::format("{} is for TorchScript models: the safetensors model {} declares its own",
                                        flag, o.path));
    }
  }
  MlpOptions options;
  if (o.precision) options.precision = precision_from_string(*o.precision);
  auto model = MlpModel::load(o.path, options);
  const SdeSpec own = model->spec().sde;
  if (sde && !same_family(*make_sde(overlay(own, *sde)), model->sde())) {
    throw InvalidArgument(fmt::format("the family flags give {} but the model {} was trained with {}",
                                      describe(overlay(own, *sde)), o.path, describe(own)));
  }
  LoadedModel r;
  r.description = model->description();
  r.sde = own;
  r.model = std::move(model);
  return r;
}

LoadedModel load_torchscript([[maybe_unused]] const ModelOptions& o,
                             [[maybe_unused]] const std::optional<SdeSpec>& sde) {
#if TWEEDIE_WITH_TORCH
  if (o.precision) {
    throw InvalidArgument(fmt::format("--precision is for safetensors models: the TorchScript model {} computes "
                                      "in its own dtype",
                                      o.path));
  }
  TorchScriptOptions options;
  if (o.prediction) options.prediction = prediction_from_string(*o.prediction);
  if (o.time_input) options.time_input = time_input_from_string(*o.time_input);
  options.time_scale = o.time_scale;
  options.time_shift = o.time_shift;
  options.sde = sde;
  return load_torchscript_plugin(o.path, options);
#else
  throw InvalidArgument(fmt::format("{}: this tweedie was built without libtorch, so it cannot run TorchScript "
                                    "models (install libtorch-dev and rebuild)",
                                    o.path));
#endif
}

}  // namespace

void ModelOptions::add_to(CLI::App& app) {
  app.add_option("--model", path, "a trained network: FILE.safetensors (tweedie.mlp) or FILE.pt (TorchScript)");
  app.add_option("--precision", precision, "arithmetic of a safetensors network: float64 (default) or float32");
  app.add_option("--prediction", prediction,
                 "what a TorchScript network predicts when it does not say: score, noise, data or velocity");
  app.add_option("--time-input", time_input,
                 "the time a TorchScript network takes when it does not say: t, scaled-t, sigma or c-noise");
  app.add_option("--time-scale", time_scale, "the factor of --time-input scaled-t (default 999)");
  app.add_option("--time-shift", time_shift, "the offset of --time-input scaled-t: s = scale t + shift (default 0)");
}

LoadedModel load_model(const ModelOptions& options, const std::optional<SdeSpec>& sde) {
  const std::string ext = std::filesystem::path(options.path).extension().string();
  if (ext == ".safetensors") return load_safetensors(options, sde);
  if (ext == ".pt" || ext == ".pth" || ext == ".ts") return load_torchscript(options, sde);
  throw InvalidArgument(fmt::format("--model {}: unknown model file type (expected .safetensors or .pt)", options.path));
}

std::string describe(const SdeSpec& spec) {
  std::string params;
  for (auto [name, value] : {std::pair{"beta_min", spec.beta_min}, {"beta_max", spec.beta_max},
                             {"sigma_min", spec.sigma_min}, {"sigma_max", spec.sigma_max},
                             {"cosine_s", spec.cosine_s}}) {
    if (value) params += fmt::format("{}{} {:g}", params.empty() ? "" : ", ", name, *value);
  }
  return params.empty() ? spec.family + " (default parameters)" : fmt::format("{} ({})", spec.family, params);
}

}  // namespace tweedie::cli
