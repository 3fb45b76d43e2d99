#include "library_terms.hpp"

#include <tweedie/sampler.hpp>

#include <array>
#include <set>
#include <utility>

namespace tweedie::cli {
namespace {

// Each phrase as the library writes it (src/likelihood.cpp, src/sde.cpp, src/adaptive_control.cpp),
// and its CLI wording. Whole phrases, so that a name inside other text is never rewritten.
constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kPhrases{{
    {"LikelihoodOptions::divergence = hutchinson", "--divergence hutchinson"},
    {"raise max_steps or loosen rtol/atol", "raise --max-steps or loosen --rtol/--atol"},
    {"raise rtol/atol", "raise --rtol/--atol"},
}};

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

bool name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

// The samplers' messages say "option NAME" for a declared option (src/sampler.cpp, solvers/):
// "option NAME" becomes "option --FLAG" where NAME is a whole word.
void sampler_options_as_flags(std::string& s) {
  std::set<std::string> names;
  for (const auto& e : sampler_entries()) {
    for (const auto& o : e.options) names.insert(o.name);
  }
  for (const auto& name : names) {
    const std::string from = "option " + name, to = "option " + flag_of(name);
    for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + 1)) {
      const std::size_t end = at + from.size();
      if (end < s.size() && name_char(s[end])) continue;
      s.replace(at, from.size(), to);
    }
  }
}

}  // namespace

std::string flag_of(std::string_view option_name) {
  std::string flag = "--" + std::string(option_name);
  for (char& c : flag) {
    if (c == '_') c = '-';
  }
  return flag;
}

std::string in_cli_terms(std::string_view message) {
  std::string out(message);
  for (const auto& [library, flag] : kPhrases) replace_all(out, library, flag);
  sampler_options_as_flags(out);
  return out;
}

}  // namespace tweedie::cli
