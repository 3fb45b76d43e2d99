#include "module_conventions.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <utility>

namespace tweedie::detail {
namespace {

using Value = std::optional<c10::IValue>;

/// Reads the module's attributes and constants by name, with one error prefix.
class Attributes {
 public:
  Attributes(const torch::jit::Module& module, std::string file) : module_(module), file_(std::move(file)) {}

  [[noreturn]] void refuse(const std::string& what) const {
    throw InvalidArgument(fmt::format("TorchScript module '{}': {}", file_, what));
  }

  std::optional<std::string> text(const std::string& name) const {
    const Value v = find(name);
    if (!v) return std::nullopt;
    if (!v->isString()) wrong_type(name, "str", *v);
    return v->toStringRef();
  }
  std::optional<double> real(const std::string& name) const {
    const Value v = find(name);
    if (!v) return std::nullopt;
    if (v->isDouble()) return v->toDouble();
    if (v->isInt()) return static_cast<double>(v->toInt());
    wrong_type(name, "float", *v);
  }
  std::optional<std::int64_t> integer(const std::string& name) const {
    const Value v = find(name);
    if (!v) return std::nullopt;
    if (!v->isInt()) wrong_type(name, "int", *v);
    return v->toInt();
  }

  /// The value given both ways must agree; either one alone is taken.
  template <class T, class Show>
  std::optional<T> merge(const std::string& name, std::optional<T> attribute, std::optional<T> option,
                         Show show) const {
    if (attribute && option && !(*attribute == *option)) {
      refuse(fmt::format("its attribute {} = {} disagrees with the option {} = {}", name, show(*attribute),
                         name, show(*option)));
    }
    return attribute ? attribute : option;
  }

 private:
  Value find(const std::string& name) const {
    if (module_.hasattr(name)) return module_.attr(name);
    const auto type = module_.type();
    if (type->hasConstant(name)) return type->getConstant(name);
    return std::nullopt;
  }
  [[noreturn]] void wrong_type(const std::string& name, std::string_view want, const c10::IValue& v) const {
    refuse(fmt::format("attribute {} must be a {}, not {}", name, want, v.type()->str()));
  }

  const torch::jit::Module& module_;
  std::string file_;
};

auto quoted = [](const auto& s) { return fmt::format("'{}'", s); };
auto plain = [](const auto& v) { return fmt::format("{}", v); };

/// Parses a name with the library's parser, prefixing its error with the file.
template <class Parse>
auto parse(const Attributes& a, Parse parse_name, const std::string& name) {
  try {
    return parse_name(name);
  } catch (const InvalidArgument& e) {
    a.refuse(e.what());
  }
}

/// The family's parameters that a JSON `spec` attribute holds under "sde" (the modules that
/// examples/train/tweedie_net.py exports carry the family's name as `sde` and its parameters
/// there), or nothing.
std::optional<nlohmann::json> spec_family(const Attributes& a) {
  const auto text = a.text("spec");
  if (!text) return std::nullopt;
  const auto spec = nlohmann::json::parse(*text, nullptr, false);
  if (spec.is_discarded() || !spec.is_object()) a.refuse("attribute spec is not a JSON object");
  if (!spec.contains("sde")) return std::nullopt;
  if (!spec["sde"].is_object()) a.refuse("attribute spec: \"sde\" is not a JSON object");
  return spec["sde"];
}

std::optional<SdeSpec> merge_family(const Attributes& a, const std::optional<SdeSpec>& option) {
  const auto json = spec_family(a);
  auto json_text = [&](const char* key) -> std::optional<std::string> {
    if (!json || !json->contains(key)) return std::nullopt;
    if (!(*json)[key].is_string()) a.refuse(fmt::format("attribute spec: sde.{} is not a string", key));
    return (*json)[key].get<std::string>();
  };
  auto json_number = [&](const char* key) -> std::optional<double> {
    if (!json || !json->contains(key)) return std::nullopt;
    if (!(*json)[key].is_number()) a.refuse(fmt::format("attribute spec: sde.{} is not a number", key));
    return (*json)[key].get<double>();
  };
  // The module's own values: the attribute, and the spec's which must agree with it.
  const auto module_family = a.merge("sde", a.text("sde"), json_text("family"), quoted);
  const std::optional<std::string> family =
      a.merge("sde", module_family, option ? std::optional(option->family) : std::nullopt, quoted);
  using Field = std::optional<double> SdeSpec::*;
  const std::array<std::pair<const char*, Field>, 5> fields{{{"beta_min", &SdeSpec::beta_min},
                                                             {"beta_max", &SdeSpec::beta_max},
                                                             {"sigma_min", &SdeSpec::sigma_min},
                                                             {"sigma_max", &SdeSpec::sigma_max},
                                                             {"cosine_s", &SdeSpec::cosine_s}}};
  SdeSpec spec;
  bool any_parameter = false;
  for (const auto& [name, field] : fields) {
    const auto module_value = a.merge(name, a.real(name), json_number(name), plain);
    spec.*field = a.merge(name, module_value, option ? (*option).*field : std::nullopt, plain);
    any_parameter = any_parameter || (spec.*field).has_value();
  }
  if (!family) {
    if (any_parameter) a.refuse("family parameters are given but no family (attribute or option sde)");
    return std::nullopt;
  }
  spec.family = *family;
  return spec;
}

/// The time input: its kind, and scale and shift for scaled_t. Other kinds accept only the
/// identity (scale 1, shift 0: what an exporter may store for every kind).
TimeInput merge_time_input(const Attributes& a, const TorchScriptOptions& options) {
  const auto kind_name = a.merge(
      "time_input", a.text("time_input"),
      options.time_input ? std::optional(std::string(to_string(*options.time_input))) : std::nullopt, quoted);
  if (!kind_name) {
    a.refuse("no time input: give the module a 'time_input' attribute or set the option time_input");
  }
  TimeInput ti;
  ti.kind = parse(a, time_input_from_string, *kind_name);
  const auto scale = a.merge("time_scale", a.real("time_scale"), options.time_scale, plain);
  const auto shift = a.merge("time_shift", a.real("time_shift"), options.time_shift, plain);
  if (ti.kind != TimeInputKind::scaled_t) {
    if (scale.value_or(1.0) != 1.0 || shift.value_or(0.0) != 0.0) {
      a.refuse(fmt::format("time_scale = {} and time_shift = {} apply only to the time input 'scaled_t', not '{}'",
                           scale.value_or(1.0), shift.value_or(0.0), *kind_name));
    }
    return ti;
  }
  if (!scale) a.refuse("the time input 'scaled_t' needs time_scale (attribute or option)");
  if (!(std::isfinite(*scale) && *scale > 0.0) || !std::isfinite(shift.value_or(0.0))) {
    a.refuse(fmt::format("time_scale = {} must be positive and finite, time_shift = {} finite", *scale,
                         shift.value_or(0.0)));
  }
  ti.scale = *scale;
  ti.shift = shift.value_or(0.0);
  return ti;
}

}  // namespace

ModuleConventions read_conventions(const torch::jit::Module& module, LabelArgument labels,
                                   const TorchScriptOptions& options, const std::string& file) {
  const Attributes a(module, file);
  ModuleConventions c;

  const auto prediction_name = a.merge(
      "prediction", a.text("prediction"),
      options.prediction ? std::optional(std::string(to_string(*options.prediction))) : std::nullopt, quoted);
  if (!prediction_name) {
    a.refuse("no prediction: give the module a 'prediction' attribute or set the option prediction");
  }
  c.prediction = parse(a, prediction_from_string, *prediction_name);

  c.sde = merge_family(a, options.sde);
  if (c.sde) {
    try {
      c.family = make_sde(*c.sde);
    } catch (const InvalidArgument& e) {
      a.refuse(e.what());
    }
  }

  c.time_input = merge_time_input(a, options);
  if (c.time_input.needs_family() && !c.family) {
    a.refuse(fmt::format("the time input '{}' needs the family's sigma(t): give the module an 'sde' "
                         "attribute or set the option sde", to_string(c.time_input.kind)));
  }

  const auto dim = a.merge("dim", a.integer("dim"),
                           options.dim ? std::optional<std::int64_t>(*options.dim) : std::nullopt, plain);
  if (dim && *dim < 1) a.refuse(fmt::format("dim = {} must be positive", *dim));
  c.dim = dim.value_or(0);

  auto as_int64 = [](const std::optional<int>& v) {
    return v ? std::optional<std::int64_t>(*v) : std::nullopt;
  };
  // classes = 0 and null_class = -1 mean "unconditional" and "no null class", as exported.
  const auto classes = a.merge("classes", a.integer("classes"), as_int64(options.classes), plain);
  const auto null_class = a.merge("null_class", a.integer("null_class"), as_int64(options.null_class), plain);
  const bool conditional = classes.value_or(0) != 0;
  if (!conditional) {
    if (labels == LabelArgument::required) {
      a.refuse("forward takes labels (x, s, y), but the number of classes is given neither as the "
               "attribute 'classes' nor as the option classes");
    }
    if (null_class.value_or(-1) != -1) {
      a.refuse(fmt::format("null_class = {} is given for a module without classes", *null_class));
    }
    return c;
  }
  if (labels == LabelArgument::none) {
    a.refuse(fmt::format("forward takes no labels (x, s), but classes = {} is given", *classes));
  }
  if (*classes < 1 || *classes > (1 << 30)) a.refuse(fmt::format("classes = {} must be positive", *classes));
  if (null_class && *null_class != -1 && (*null_class < *classes || *null_class > (1 << 30))) {
    a.refuse(fmt::format("null_class = {} must not be a class label 0..{} (or be -1: none)", *null_class,
                         *classes - 1));
  }
  c.conditioning.classes = static_cast<int>(*classes);
  c.conditioning.null_class = static_cast<int>(null_class.value_or(-1));
  return c;
}

}  // namespace tweedie::detail
