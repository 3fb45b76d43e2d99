// libFuzzer harness: the command-line parser (CLI11 with tweedie's checks) on arbitrary argument
// lists, one argument per line; the commands are built as main.cpp builds them but never run.
// One app serves every input (building it costs ~10 ms under ASan, 100x a parse): CLI11's clear()
// resets what a parse recorded, and the commands' fields, which only the runners read, may keep
// values of earlier inputs.
#include "../cli/commands.hpp"
#include "../cli/option_checks.hpp"

#include <tweedie/types.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace {

struct Program {
  CLI::App app{"tweedie"};
  std::vector<tweedie::cli::Runner> runners;  // they own the commands the options write into
  Program() {
    app.require_subcommand(1);
    for (auto* add : {&tweedie::cli::add_sample_command, &tweedie::cli::add_info_command,
                      &tweedie::cli::add_likelihood_command, &tweedie::cli::add_elbo_command,
                      &tweedie::cli::add_encode_command, &tweedie::cli::add_decode_command}) {
      runners.push_back(add(app));
    }
    tweedie::cli::bound_numeric_options(app);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Program* const program = new Program;  // never destroyed: no order-of-exit issues
  std::vector<std::string> args = {"tweedie"};
  std::string cur;
  for (std::size_t i = 0; i < size && args.size() < 64; ++i) {
    if (data[i] == '\n') {
      args.push_back(cur);
      cur.clear();
    } else if (data[i] != 0) {
      cur += static_cast<char>(data[i]);
    }
  }
  args.push_back(cur);
  std::vector<const char*> argv;
  for (const auto& a : args) argv.push_back(a.c_str());
  CLI::App& app = program->app;
  app.clear();
  try {
    tweedie::cli::check_option_names(app, static_cast<int>(argv.size()), argv.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
    tweedie::cli::check_option_combinations(app);
  } catch (const CLI::Error&) {
  } catch (const tweedie::InvalidArgument&) {
  }
  return 0;
}
