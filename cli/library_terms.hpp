// The library's errors name its parameters (LikelihoodOptions::divergence, max_steps, rtol/atol, a
// sampler's "option eta");
// the program's user knows its flags. This is where one is translated into the other.
#pragma once

#include <string>
#include <string_view>

namespace tweedie::cli {

/// `message` with every library parameter it names replaced by the flag that sets it, e.g.
/// "use LikelihoodOptions::divergence = hutchinson" -> "use --divergence hutchinson". A message
/// naming none is returned as it is.
std::string in_cli_terms(std::string_view message);

/// The flag of a sampler option: "--" and its name with '_' written '-' (s_noise: --s-noise).
std::string flag_of(std::string_view option_name);

}  // namespace tweedie::cli
