// tweedie: sample score-based diffusion models from the command line.
#include "build_info.hpp"
#include "commands.hpp"
#include "interrupt.hpp"
#include "library_terms.hpp"
#include "option_checks.hpp"
#include "ranks.hpp"

#include <tweedie/random.hpp>
#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <exception>
#include <map>
#include <optional>
#include <string>

namespace {

/// The program on one rank: its exit status. Every rank settles its run once (ranks.hpp), so an
/// error on any rank ends all of them with the one message rank 0 prints (status 2, or 130 for an
/// interrupt: interrupt.hpp).
int run(tweedie::cli::Ranks& ranks, int argc, char** argv) {
  const auto fail = [&ranks](const std::string& line) {
    if (ranks.settled()) {  // after the exchange: this rank's own failure (rank 0 writing the output)
      fmt::print(stderr, "{}\n", line);
      return tweedie::cli::failure_status(line);
    }
    const auto first = ranks.settle(line, 0);
    if (ranks.root()) fmt::print(stderr, "{}\n", *first);
    return tweedie::cli::failure_status(*first);
  };
  // What a rank does at the end of a command that returned: it has not failed, unless an
  // interrupt came after the computation's last chunk (the outputs it was writing are complete).
  const auto finish = [&ranks](int status) {
    const std::optional<std::string> late =
        tweedie::cli::interrupted() ? std::optional<std::string>(tweedie::cli::interrupted_line) : std::nullopt;
    if (ranks.settled()) {
      if (!late) return status;
      if (ranks.root()) fmt::print(stderr, "{}\n", *late);
      return tweedie::cli::interrupted_status;
    }
    if (const auto first = ranks.settle(late, 0)) {
      if (ranks.root()) fmt::print(stderr, "{}\n", *first);
      return tweedie::cli::failure_status(*first);
    }
    return status;
  };
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
    for (auto* sub : app.get_subcommands()) {
      if (sub->get_name() != "info") tweedie::cli::catch_interrupts();  // the computing subcommands
      runners.at(sub)();
    }
  } catch (const CLI::CallForHelp& e) {
    return finish(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    return finish(app.exit(e));
  } catch (const CLI::CallForVersion& e) {
    return finish(app.exit(e));
  } catch (const tweedie::cli::RunFailed& e) {
    if (ranks.root()) fmt::print(stderr, "{}\n", e.what());
    return tweedie::cli::failure_status(e.what());
  } catch (...) {
    return fail(tweedie::cli::error_line(std::current_exception()));
  }
  return finish(0);
}

}  // namespace

int main(int argc, char** argv) {
  tweedie::cli::Ranks* ranks = nullptr;
  try {
    ranks = &tweedie::cli::Ranks::get();
  } catch (...) {
    fmt::print(stderr, "{}\n", tweedie::cli::error_line(std::current_exception()));
    return 2;
  }
  const int status = run(*ranks, argc, argv);
  ranks->finish();
  return status;
}
