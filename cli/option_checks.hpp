// Checks of the command line that CLI11 does not make: numbers read strictly and bounded before any
// arithmetic, unknown options named with the nearest known one, options that would have no effect.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace tweedie::cli {

/// Adds to every numeric option of every subcommand a transform that accepts only a decimal
/// number in the option's bounds ("-n 010" is 10; "0x10", "1e3" for an integer, "-3" for a count,
/// "1e400" or "nan" for a real are refused naming the flag and its bounds).
void bound_numeric_options(CLI::App& app);

/// Before parsing: refuses an option the subcommand does not know, suggesting the nearest known
/// one ("unknown option '--sampelr' of 'sample' (did you mean '--sampler'?)").
void check_option_names(const CLI::App& app, int argc, const char* const* argv);

/// After parsing: refuses options that have no effect with the others given, naming both.
void check_option_combinations(const CLI::App& app);

/// The known name closest to `name` in edit distance, or "" when none is within a third of its
/// length (options and subcommands).
std::string nearest_name(const std::string& name, const std::vector<std::string>& known);

}  // namespace tweedie::cli
