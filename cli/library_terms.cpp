#include "library_terms.hpp"

#include <array>
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

}  // namespace

std::string in_cli_terms(std::string_view message) {
  std::string out(message);
  for (const auto& [library, flag] : kPhrases) {
    for (auto at = out.find(library); at != std::string::npos; at = out.find(library, at + flag.size())) {
      out.replace(at, library.size(), flag);
    }
  }
  return out;
}

}  // namespace tweedie::cli
