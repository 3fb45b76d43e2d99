// tweedie: sample score-based diffusion models from the command line.
#include "build_info.hpp"
#include "commands.hpp"
#include "library_terms.hpp"
#include "option_checks.hpp"

#include <tweedie/random.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <map>

int main(int argc, char** argv) {
  CLI::App app{"tweedie: score-based diffusion as SDEs and ODEs, sampled fast and reproducibly"};
  app.require_subcommand(1);
  app.set_version_flag("--version", fmt::format("tweedie {} (commit {}, noise stream layout version {})",
                                                tweedie::cli::build_version(), tweedie::cli::build_commit(),
                                                tweedie::rng_stream_version));
  std::map<CLI::App*, tweedie::cli::Runner> runners;
  auto add = [&](tweedie::cli::Runner (*adder)(CLI::App&)) {
    const std::size_t before = app.get_subcommands({}).size();
    auto runner = adder(app);
    runners[app.get_subcommands({})[before]] = std::move(runner);
  };
  add(&tweedie::cli::add_sample_command);
  add(&tweedie::cli::add_info_command);
  add(&tweedie::cli::add_likelihood_command);
  add(&tweedie::cli::add_elbo_command);
  add(&tweedie::cli::add_encode_command);
  add(&tweedie::cli::add_decode_command);
  add(&tweedie::cli::add_compare_command);
  tweedie::cli::bound_numeric_options(app);
  try {
    std::string known;
    std::vector<std::string> names;
    for (const auto* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      names.push_back(sub->get_name());
    }
    if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      const std::string near = tweedie::cli::nearest_name(argv[1], names);
      throw tweedie::InvalidArgument(fmt::format("unknown subcommand '{:.32}' ({}expected one of: {})", argv[1],
                                                 near.empty() ? "" : "did you mean '" + near + "'? ", known));
    }
    tweedie::cli::check_option_names(app, argc, argv);
    app.parse(argc, argv);
    tweedie::cli::check_option_combinations(app);
    for (auto* sub : app.get_subcommands()) runners.at(sub)();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "tweedie: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tweedie: error: {}\n", tweedie::cli::in_cli_terms(e.what()));
    return 2;
  }
  return 0;
}
