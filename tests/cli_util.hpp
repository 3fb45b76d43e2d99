// Runs the tweedie program (its path is TWEEDIE_CLI) and captures what it prints.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace tweedie::test {

struct Outcome {
  int status;          ///< exit status, -1 if it did not exit normally
  std::string output;  ///< stdout and stderr
};

/// Runs `program` (a copy of the tweedie program, say) with `args` through the shell.
inline Outcome run_program(const std::string& program, const std::string& args) {
  const std::string command = fmt::format("'{}' {} 2>&1", program, args);
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
  const int raw = ::pclose(pipe);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, output};
}

inline Outcome run_cli(const std::string& args) { return run_program(TWEEDIE_CLI, args); }

struct SplitOutcome {
  int status;       ///< exit status, -1 if it did not exit normally
  std::string out;  ///< standard output
  std::string err;  ///< standard error
};

/// Runs the program through the shell with stdout and stderr captured apart (in `scratch`, a
/// folder the caller owns; the two capture files are removed before returning).
inline SplitOutcome run_cli_split(const std::string& args, const std::string& scratch) {
  const std::string out = scratch + "/.stdout", err = scratch + "/.stderr";
  const int raw = std::system(fmt::format("'{}' {} >'{}' 2>'{}'", TWEEDIE_CLI, args, out, err).c_str());
  auto slurp = [](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  SplitOutcome r{WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, slurp(out), slurp(err)};
  std::remove(out.c_str());
  std::remove(err.c_str());
  return r;
}

/// Starts `argv` (argv[0] a path; no shell), its output discarded; returns its process id.
inline pid_t spawn_program(std::vector<std::string> argv_storage) {
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::FILE* null = std::fopen("/dev/null", "w");
    if (null) {
      ::dup2(::fileno(null), STDOUT_FILENO);
      ::dup2(::fileno(null), STDERR_FILENO);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

/// Starts the program with `args` (no shell), its output discarded; returns its process id.
inline pid_t spawn_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {TWEEDIE_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  return spawn_program(std::move(argv));
}

}  // namespace tweedie::test
