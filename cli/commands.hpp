// The subcommands of the tweedie program; each adds itself to the app and returns its runner.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace tweedie::cli {

using Runner = std::function<void()>;
Runner add_sample_command(CLI::App& app);
Runner add_info_command(CLI::App& app);
Runner add_likelihood_command(CLI::App& app);
Runner add_elbo_command(CLI::App& app);
Runner add_encode_command(CLI::App& app);
Runner add_decode_command(CLI::App& app);
Runner add_compare_command(CLI::App& app);

}  // namespace tweedie::cli
