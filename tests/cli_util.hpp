// Runs the tweedie program (its path is TWEEDIE_CLI) and captures what it prints.
#pragma once

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace tweedie::test {

struct Outcome {
  int status;          ///< exit status, -1 if it did not exit normally
  std::string output;  ///< stdout and stderr
};

inline Outcome run_cli(const std::string& args) {
  const std::string command = fmt::format("'{}' {} 2>&1", TWEEDIE_CLI, args);
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string output;
  std::array<char, 4096> buffer{};
  while (std::fgets(buffer.data(), buffer.size(), pipe)) output += buffer.data();
  const int raw = ::pclose(pipe);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, output};
}

}  // namespace tweedie::test
