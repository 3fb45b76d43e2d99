#include "option_checks.hpp"

#include <tweedie/data_encoding.hpp>
#include <tweedie/random.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tweedie::cli {
namespace {

// The bounds of each numeric flag, whatever the subcommand (a sampler's options are checked by the
// library against the sampler's declaration; --rtol, --atol and --max-steps are also flow flags). Integers are checked as decimal
// digits (with '-' only when the lower bound is negative) and parsed in base 10, so the value
// CLI11 then converts is the normalised one; reals must be finite decimal numbers.
struct NumericFlag {
  const char* name;
  bool integer;
  double lo, hi;
  bool lo_open = false;  // reals: lo < value instead of lo <= value
};
constexpr double inf = std::numeric_limits<double>::infinity();
constexpr NumericFlag kNumericFlags[] = {
    {"--threads", true, 0, 1024},           // Execution::max_threads
    {"--chunk", true, 1, 16777216},         // Execution::max_chunk_rows
    {"--seed", true, 0, 4294967295.0},      // the Philox key holds 32 bits
    {"--noise-stream", true, tweedie::oldest_rng_stream_version, tweedie::rng_stream_version},
    {"--count", true, 1, 4294967296.0},     // sample indices are 32-bit counters
    {"--steps", true, 0, 10000000},         // elbo: 0 = continuous time; sample: the grid refuses 0
    {"--max-steps", true, 1, 1000000000},
    {"--every", true, 1, 10000000},         // sample --trajectory: at most --steps' bound
    {"--nfe", true, 1, 1000000},            // compare: each budget
    {"--projections", true, 1, 100000},
    {"--tolerances", false, 0, inf, true},
    {"--reference-tol", false, 0, inf, true},
    {"--probes", true, 1, 1000000},
    {"--draws", true, 1, 100000000},
    {"--bits", true, 1, tweedie::max_data_bits},
    {"--class", true, 0, 2147483647},
    {"--guidance", false, -inf, inf},
    {"--classifier-scale", false, -inf, inf},
    {"--time-scale", false, -inf, inf},
    {"--time-shift", false, -inf, inf},
    {"--t-start", false, 0, inf},
    {"--t-end", false, 0, inf},  // 0 is EDM's sigma = 0
    {"--t-min", false, 0, inf, true},
    {"--rho", false, 0, inf, true},
    {"--rtol", false, 0, inf},
    {"--atol", false, 0, inf},
    {"--beta-min", false, -inf, inf},
    {"--beta-max", false, -inf, inf},
    {"--sigma-min", false, -inf, inf},
    {"--sigma-max", false, -inf, inf},
    {"--cosine-s", false, -inf, inf},
    {"--data-scale", false, -inf, inf},
    {"--data-shift", false, -inf, inf},
};

std::string bounds_text(const NumericFlag& f) {
  if (f.integer) return fmt::format("an integer in {:.0f}..{:.0f}", f.lo, f.hi);
  if (f.lo == -inf) return "a finite number";
  return fmt::format("a finite number {} {:g}", f.lo_open ? ">" : ">=", f.lo);
}

std::string quote_cut(std::string_view s) {
  return s.size() > 32 ? fmt::format("'{}...'", s.substr(0, 32)) : fmt::format("'{}'", s);
}

// "" when `value` is acceptable (then normalised in place), else why not.
std::string check_number(const NumericFlag& f, std::string& value) {
  const std::string expected = fmt::format("must be {}, got {}", bounds_text(f), quote_cut(value));
  const char* begin = value.data();
  const char* end = begin + value.size();
  if (f.integer) {
    const bool negative = begin != end && *begin == '-';
    const char* digits = begin + (negative || (begin != end && *begin == '+'));
    if (digits == end || !std::all_of(digits, end, [](char c) { return c >= '0' && c <= '9'; })) return expected;
    std::uint64_t magnitude = 0;
    if (std::from_chars(digits, end, magnitude).ec != std::errc()) return expected;  // beyond 2^64
    const double v = negative ? -static_cast<double>(magnitude) : static_cast<double>(magnitude);
    if (v < f.lo || v > f.hi) return expected;
    value = (negative && magnitude ? "-" : "") + std::to_string(magnitude);  // no leading zeros: never octal
    return "";
  }
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || ptr != end || !std::isfinite(v)) return expected;
  if (v < f.lo || v > f.hi || (f.lo_open && v == f.lo)) return expected;
  return "";
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::vector<std::string> option_names(const CLI::App& sub) {
  std::vector<std::string> names;
  for (const CLI::Option* o : sub.get_options()) {
    for (const auto& l : o->get_lnames()) names.push_back("--" + l);
    for (const auto& s : o->get_snames()) names.push_back("-" + s);
  }
  return names;
}

bool given(const CLI::App& sub, const std::string& name) {
  const CLI::Option* o = sub.get_option_no_throw(name);
  return o && o->count() > 0;
}

}  // namespace

std::string nearest_name(const std::string& name, const std::vector<std::string>& known) {
  std::string best;
  std::size_t best_distance = name.size() / 3 + 1;
  for (const auto& k : known) {
    const std::size_t d = edit_distance(name, k);
    if (d < best_distance) {
      best = k;
      best_distance = d;
    }
  }
  return best;
}

void bound_numeric_options(CLI::App& app) {
  for (CLI::App* sub : app.get_subcommands({})) {
    for (const auto& f : kNumericFlags) {
      CLI::Option* o = sub->get_option_no_throw(f.name);
      if (!o) continue;
      o->transform(CLI::Validator([f](std::string& value) { return check_number(f, value); },
                                  bounds_text(f), "bounded number"));
    }
  }
}

void check_option_names(const CLI::App& app, int argc, const char* const* argv) {
  if (argc < 2) return;
  const CLI::App* sub = nullptr;
  for (const CLI::App* s : app.get_subcommands({})) {
    if (s->get_name() == argv[1]) sub = s;
  }
  if (!sub) return;
  const std::vector<std::string> known = option_names(*sub);
  for (int i = 2; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-' || arg == "--") continue;
    if ((arg[1] >= '0' && arg[1] <= '9') || arg[1] == '.') continue;  // a negative number: a value
    std::string name(arg.substr(0, arg.find('=')));
    if (name.size() > 2 && name[1] != '-') name = name.substr(0, 2);  // -n5: short option with its value
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    const std::string near = nearest_name(name, known);
    throw InvalidArgument(fmt::format("unknown option {} of '{}'{}", quote_cut(name), sub->get_name(),
                                      near.empty() ? " (see tweedie " + sub->get_name() + " --help)"
                                                   : fmt::format(" (did you mean '{}'?)", near)));
  }
}

void check_option_combinations(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) {
    if (sub->get_name() == "likelihood") {
      const std::string divergence = sub->get_option("--divergence")->as<std::string>();
      for (const char* flag : {"--probes", "--probe"}) {
        if (given(*sub, flag) && divergence != "hutchinson") {
          throw InvalidArgument(fmt::format("{} has no effect with --divergence {} (it sets Hutchinson's "
                                            "estimate: add --divergence hutchinson)", flag, divergence));
        }
      }
    }
    if (sub->get_name() == "sample" && given(*sub, "--every") && !given(*sub, "--trajectory")) {
      throw InvalidArgument("--every has no effect without --trajectory (it sets which steps the trajectory keeps)");
    }
    if (sub->get_name() == "sample" && given(*sub, "--init") && given(*sub, "-n")) {
      throw InvalidArgument("-n has no effect with --init (the samples are the rows of --init)");
    }
  }
}

}  // namespace tweedie::cli
