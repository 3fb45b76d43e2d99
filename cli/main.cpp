// tweedie: sample score-based diffusion models from the command line.
#include "commands.hpp"

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <exception>
#include <map>

int main(int argc, char** argv) {
  CLI::App app{"tweedie: score-based diffusion as SDEs and ODEs, sampled fast and reproducibly"};
  app.require_subcommand(1);
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
  try {
    std::string known;
    bool found = false;
    for (const auto* sub : app.get_subcommands({})) {
      known += (known.empty() ? "" : ", ") + sub->get_name();
      found = found || (argc > 1 && sub->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !found) {
      throw tweedie::InvalidArgument(
          fmt::format("unknown subcommand '{}' (expected one of: {})", argv[1], known));
    }
    app.parse(argc, argv);
    for (auto* sub : app.get_subcommands()) runners.at(sub)();
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "tweedie: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "tweedie: error: {}\n", e.what());
    return 2;
  }
  return 0;
}
