// The tweedie.mlp schema (version 1): parsing and checking the architecture of a network.
#include <tweedie/mlp_model.hpp>

#include "names.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <initializer_list>

namespace tweedie {

std::string_view to_string(Precision p) { return p == Precision::float64 ? "float64" : "float32"; }
Precision precision_from_string(std::string_view name) {
  return detail::from_name(name, std::array{Precision::float64, Precision::float32}, "precision");
}

std::string_view to_string(Activation a) {
  switch (a) {
    case Activation::silu: return "silu";
    case Activation::gelu: return "gelu";
    case Activation::relu: return "relu";
    case Activation::tanh: return "tanh";
    case Activation::none: return "none";
  }
  return "?";
}

std::string_view to_string(TimeEmbeddingKind k) {
  return k == TimeEmbeddingKind::sinusoidal ? "sinusoidal" : "fourier";
}

namespace {

using Json = nlohmann::json;

// Reads one JSON object of the spec, refusing unknown keys, with messages naming the file and
// the path of the field ("blocks[2].hidden").
class Fields {
 public:
  Fields(const Json& j, std::string path, const std::string& source,
         std::initializer_list<std::string_view> known)
      : j_(j), path_(std::move(path)), source_(source) {
    if (!j.is_object()) fail(path_.empty() ? "the spec" : path_, "is not a JSON object");
    for (const auto& [key, value] : j.items()) {
      bool ok = false;
      for (std::string_view k : known) ok = ok || k == key;
      if (!ok) fail(name(key), "is not a field of the tweedie.mlp schema");
    }
  }
  [[noreturn]] void fail(std::string_view field, std::string_view what) const {
    throw InvalidArgument(fmt::format("{}: tweedie.mlp spec: {} {}", source_, field, what));
  }
  std::string name(std::string_view key) const {
    return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
  }
  bool has(const char* key) const { return j_.contains(key); }
  const Json& at(const char* key) const {
    if (!j_.contains(key)) fail(name(key), "is missing");
    return j_.at(key);
  }
  std::string string(const char* key) const {
    const Json& v = at(key);
    if (!v.is_string()) fail(name(key), "is not a string");
    return v.get<std::string>();
  }
  std::string string_or(const char* key, const char* fallback) const {
    return has(key) ? string(key) : fallback;
  }
  double number(const char* key) const {
    const Json& v = at(key);
    if (!v.is_number() || !std::isfinite(v.get<double>())) fail(name(key), "is not a finite number");
    return v.get<double>();
  }
  Eigen::Index positive(const char* key) const { return positive(at(key), name(key)); }
  Eigen::Index positive(const Json& v, const std::string& field) const {
    if (!v.is_number_unsigned() || v.get<std::uint64_t>() == 0 || v.get<std::uint64_t>() > (1u << 24)) {
      fail(field, "is not a positive integer (at most 2^24)");
    }
    return static_cast<Eigen::Index>(v.get<std::uint64_t>());
  }
  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!at(key).is_boolean()) fail(name(key), "is not true or false");
    return at(key).get<bool>();
  }
  const std::string& path() const { return path_; }
  const std::string& source() const { return source_; }

 private:
  const Json& j_;
  std::string path_;
  const std::string& source_;
};

Activation activation(const Fields& f, const char* key, bool allow_none) {
  const std::string name = f.string(key);
  for (Activation a : {Activation::silu, Activation::gelu, Activation::relu, Activation::tanh}) {
    if (name == to_string(a)) return a;
  }
  if (allow_none && name == "none") return Activation::none;
  f.fail(f.name(key), fmt::format("'{}' is not an activation (silu, gelu, relu, tanh{})", name,
                                  allow_none ? " or none" : ""));
}

template <class Enum, std::size_t N>
Enum choice(const Fields& f, const char* key, const std::array<Enum, N>& values) {
  const std::string name = f.string(key);
  std::string expected;
  for (std::size_t i = 0; i < N; ++i) {
    if (name == to_string(values[i])) return values[i];
    expected += (i == 0 ? "" : ", ") + std::string(to_string(values[i]));
  }
  f.fail(f.name(key), fmt::format("'{}' is not one of {}", name, expected));
}

SdeSpec parse_sde(const Fields& top) {
  const Fields f(top.at("sde"), "sde", top.source(),
                 {"family", "beta_min", "beta_max", "sigma_min", "sigma_max", "cosine_s"});
  SdeSpec s;
  s.family = f.string("family");
  auto opt = [&](const char* key) -> std::optional<double> {
    return f.has(key) ? std::optional<double>(f.number(key)) : std::nullopt;
  };
  s.beta_min = opt("beta_min");
  s.beta_max = opt("beta_max");
  s.sigma_min = opt("sigma_min");
  s.sigma_max = opt("sigma_max");
  s.cosine_s = opt("cosine_s");
  try {
    make_sde(s);  // the family's own checks (names and values)
  } catch (const InvalidArgument& e) {
    f.fail("sde:", e.what());
  }
  return s;
}

std::string time_text(const TimeInput& ti) {
  if (ti.kind == TimeInputKind::scaled_t) return fmt::format("{} t{:+}", ti.scale, ti.shift);
  return std::string(to_string(ti.kind));
}

}  // namespace

MlpSpec MlpSpec::parse(const std::string& text, const std::string& source) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    throw InvalidArgument(fmt::format("{}: the '{}' metadata is not valid JSON", source, mlp_metadata_key));
  }
  const Fields f(j, "", source,
                 {"version", "dim", "width", "prediction", "sde", "time_input", "preconditioning",
                  "time_embedding", "time_mlp", "classes", "null_class", "blocks", "output",
                  "layer_norm_eps"});
  MlpSpec s;
  if (!f.at("version").is_number_integer() || f.at("version").get<int>() != version) {
    f.fail("version", fmt::format("is {}, and this build reads version {}", f.at("version").dump(), version));
  }
  s.dim = f.positive("dim");
  s.width = f.positive("width");
  const Fields o(f.at("output"), "output", source, {"norm", "activation", "logits"});
  if (o.has("logits")) {
    s.logits = o.positive("logits");
    for (const char* key : {"prediction", "preconditioning", "classes", "null_class"}) {
      if (f.has(key)) f.fail(key, "is not a field of a classifier (output.logits): its label is the output");
    }
  } else {
    try {
      s.prediction = prediction_from_string(f.string("prediction"));
    } catch (const InvalidArgument& e) {
      f.fail("prediction", e.what());
    }
  }
  s.sde = parse_sde(f);

  const Fields ti(f.at("time_input"), "time_input", source, {"kind", "scale", "shift"});
  s.time_input.kind = choice(ti, "kind", std::array{TimeInputKind::t, TimeInputKind::scaled_t, TimeInputKind::sigma,
                                                    TimeInputKind::log_sigma, TimeInputKind::c_noise});
  if (s.time_input.kind == TimeInputKind::scaled_t) {
    s.time_input.scale = ti.number("scale");
    s.time_input.shift = ti.has("shift") ? ti.number("shift") : 0.0;
  } else if (ti.has("scale") || ti.has("shift")) {
    ti.fail("time_input", "has a scale or shift, which only scaled_t takes");
  }

  if (f.has("preconditioning") && !f.at("preconditioning").is_null()) {
    const Fields p(f.at("preconditioning"), "preconditioning", source, {"kind", "sigma_data"});
    if (p.string("kind") != "edm") p.fail("preconditioning.kind", "must be 'edm'");
    const double sd = p.number("sigma_data");
    if (!(sd > 0.0)) p.fail("preconditioning.sigma_data", "must be positive");
    s.edm_sigma_data = sd;
    if (s.time_input.kind != TimeInputKind::sigma || (s.sde.family != "ve" && s.sde.family != "edm")) {
      p.fail("preconditioning", "needs time_input 'sigma' and a family with alpha = 1 (ve or edm)");
    }
    if (s.prediction != Prediction::data) p.fail("preconditioning", "gives the data prediction D(x; sigma)");
  }

  const Fields te(f.at("time_embedding"), "time_embedding", source, {"kind", "dim", "scale"});
  s.embedding = choice(te, "kind", std::array{TimeEmbeddingKind::sinusoidal, TimeEmbeddingKind::fourier});
  s.embedding_dim = te.positive("dim");
  if (s.embedding_dim % 2 != 0 || s.embedding_dim < 4) te.fail("time_embedding.dim", "must be even and at least 4");
  if (te.has("scale")) te.number("scale");  // the initialisation's, not used at evaluation

  if (f.has("time_mlp")) {
    const Fields tm(f.at("time_mlp"), "time_mlp", source, {"widths", "activation"});
    const Json& widths = tm.at("widths");
    if (!widths.is_array()) tm.fail("time_mlp.widths", "is not a list");
    for (std::size_t i = 0; i < widths.size(); ++i) {
      s.time_mlp_widths.push_back(tm.positive(widths[i], fmt::format("time_mlp.widths[{}]", i)));
    }
    s.time_mlp_activation = activation(tm, "activation", false);
  }

  if (f.has("classes")) {
    const Json& c = f.at("classes");
    if (!c.is_number_unsigned() || c.get<std::uint64_t>() > (1u << 24)) f.fail("classes", "is not a count");
    s.conditioning.classes = static_cast<int>(c.get<std::uint64_t>());
  }
  if (f.has("null_class")) {
    const Json& n = f.at("null_class");
    if (!n.is_number_integer() || (n.get<std::int64_t>() != -1 && n.get<std::int64_t>() != s.conditioning.classes) ||
        (s.conditioning.classes == 0 && n.get<std::int64_t>() != -1)) {
      f.fail("null_class", "must equal classes (the table's last row) or be -1");
    }
    s.conditioning.null_class = static_cast<int>(n.get<std::int64_t>());
  }

  const Json& blocks = f.at("blocks");
  if (!blocks.is_array()) f.fail("blocks", "is not a list");
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    const Fields b(blocks[i], fmt::format("blocks[{}]", i), source, {"hidden", "activation", "norm"});
    s.blocks.push_back({b.positive("hidden"), activation(b, "activation", false), b.boolean_or("norm", false)});
  }
  s.output_norm = o.boolean_or("norm", false);
  s.output_activation = o.has("activation") ? activation(o, "activation", true) : Activation::none;
  if (f.has("layer_norm_eps")) {
    s.layer_norm_eps = f.number("layer_norm_eps");
    if (!(s.layer_norm_eps > 0.0)) f.fail("layer_norm_eps", "must be positive");
  }
  return s;
}

std::string MlpSpec::description() const {
  if (is_classifier()) {
    return fmt::format("MLP classifier {} -> {} x {} residual blocks -> {} logits ({} time embedding {}), family {}, "
                       "time input {}",
                       dim, width, blocks.size(), logits, to_string(embedding), embedding_dim, sde.family,
                       time_text(time_input));
  }
  std::string cond = conditioning.classes == 0
                         ? "unconditional"
                         : fmt::format("{} classes{}", conditioning.classes,
                                       conditioning.null_class >= 0 ? " + null class" : "");
  const std::string time = time_text(time_input);
  return fmt::format(
      "MLP {} -> {} x {} residual blocks -> {} ({} time embedding {}), {}, predicts {}, family {}, "
      "time input {}{}",
      dim, width, blocks.size(), dim, to_string(embedding), embedding_dim, cond, to_string(prediction),
      sde.family, time, edm_sigma_data ? fmt::format(", EDM preconditioning sigma_data {}", *edm_sigma_data) : "");
}

}  // namespace tweedie
