#include "module_conventions.hpp"

#include <fmt/format.h>

#include <array>
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

std::optional<SdeSpec> merge_family(const Attributes& a, const std::optional<SdeSpec>& option) {
  const std::optional<std::string> family =
      a.merge("sde", a.text("sde"), option ? std::optional(option->family) : std::nullopt, quoted);
  using Field = std::optional<double> SdeSpec::*;
  const std::array<std::pair<const char*, Field>, 5> fields{{{"beta_min", &SdeSpec::beta_min},
                                                             {"beta_max", &SdeSpec::beta_max},
                                                             {"sigma_min", &SdeSpec::sigma_min},
                                                             {"sigma_max", &SdeSpec::sigma_max},
                                                             {"cosine_s", &SdeSpec::cosine_s}}};
  SdeSpec spec;
  bool any_parameter = false;
  for (const auto& [name, field] : fields) {
    spec.*field = a.merge(name, a.real(name), option ? (*option).*field : std::nullopt, plain);
    any_parameter = any_parameter || (spec.*field).has_value();
  }
  if (!family) {
    if (any_parameter) a.refuse("family parameters are given but no family (attribute or option sde)");
    return std::nullopt;
  }
  spec.family = *family;
  return spec;
}

}  // namespace

ModuleConventions read_conventions(const torch::jit::Module& module, bool conditional,
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

  const auto kind_name = a.merge(
      "time_input", a.text("time_input"),
      options.time_input ? std::optional(std::string(to_string(*options.time_input))) : std::nullopt, quoted);
  if (!kind_name) {
    a.refuse("no time input: give the module a 'time_input' attribute or set the option time_input");
  }
  c.time_input.kind = parse(a, time_input_from_string, *kind_name);
  const auto scale = a.merge("time_scale", a.real("time_scale"), options.time_scale, plain);
  if (scale) {
    if (c.time_input.kind != TimeInputKind::scaled_t) {
      a.refuse(fmt::format("time_scale = {} applies only to the time input 'scaled-t', not '{}'", *scale,
                           *kind_name));
    }
    c.time_input.scale = *scale;
  }
  try {
    c.time_input.validate();
  } catch (const InvalidArgument& e) {
    a.refuse(e.what());
  }
  if (c.time_input.needs_family() && !c.family) {
    a.refuse(fmt::format("the time input '{}' needs the family's sigma(t): give the module an 'sde' "
                         "attribute or set the option sde", *kind_name));
  }

  const auto dim = a.merge("dim", a.integer("dim"),
                           options.dim ? std::optional<std::int64_t>(*options.dim) : std::nullopt, plain);
  if (dim && *dim < 1) a.refuse(fmt::format("dim = {} must be positive", *dim));
  c.dim = dim.value_or(0);

  auto as_int64 = [](const std::optional<int>& v) {
    return v ? std::optional<std::int64_t>(*v) : std::nullopt;
  };
  const auto classes = a.merge("classes", a.integer("classes"), as_int64(options.classes), plain);
  const auto null_class = a.merge("null_class", a.integer("null_class"), as_int64(options.null_class), plain);
  if (!conditional) {
    if (classes || null_class) {
      a.refuse(fmt::format("forward takes no labels (x, s), but {} = {} is given",
                           classes ? "classes" : "null_class", classes ? *classes : *null_class));
    }
    return c;
  }
  if (!classes) {
    a.refuse("forward takes labels (x, s, y), but the number of classes is given neither as the "
             "attribute 'classes' nor as the option classes");
  }
  if (*classes < 1 || *classes > (1 << 30)) a.refuse(fmt::format("classes = {} must be positive", *classes));
  if (null_class && *null_class != -1 && *null_class < *classes) {
    a.refuse(fmt::format("null_class = {} must not be a class label 0..{} (or be -1: none)", *null_class,
                         *classes - 1));
  }
  if (null_class && *null_class > (1 << 30)) a.refuse(fmt::format("null_class = {} is too large", *null_class));
  c.conditioning.classes = static_cast<int>(*classes);
  c.conditioning.null_class = static_cast<int>(null_class.value_or(-1));
  return c;
}

}  // namespace tweedie::detail
