// What the examples of the shipped models share: where the models are, command-line arguments
// (positional numbers, a few options) and the checks that `--check` turns into an exit status.
#pragma once

#include <tweedie/types.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace example {

/// The folder of the shipped models: $TWEEDIE_MODELS_DIR, or the source tree's models/
/// (TWEEDIE_MODELS_DIR, set by examples/CMakeLists.txt).
inline std::string models_dir() {
  if (const char* dir = std::getenv("TWEEDIE_MODELS_DIR")) return dir;
  return TWEEDIE_MODELS_DIR;
}

/// Positional numbers and `--name value` options / `--flag`s; anything else is refused.
class Args {
 public:
  Args(int argc, char** argv, std::vector<std::string> options, std::vector<std::string> flags) {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      if (std::find(flags.begin(), flags.end(), a) != flags.end()) {
        values_[a] = "";
      } else if (std::find(options.begin(), options.end(), a) != options.end()) {
        if (i + 1 == argc) throw tweedie::InvalidArgument(fmt::format("{} needs a value", a));
        values_[a] = argv[++i];
      } else if (a.starts_with("-")) {
        throw tweedie::InvalidArgument(fmt::format("unknown option {}", a));
      } else {
        positional_.push_back(a);
      }
    }
  }
  /// Positional argument i as a positive integer, or `fallback` when absent.
  long number(std::size_t i, long fallback) const {
    if (i >= positional_.size()) return fallback;
    char* end = nullptr;
    const long v = std::strtol(positional_[i].c_str(), &end, 10);
    if (*end != '\0' || v < 0) {
      throw tweedie::InvalidArgument(fmt::format("argument {} must be a non-negative integer, not '{}'", i + 1,
                                                 positional_[i]));
    }
    return v;
  }
  std::string option(const std::string& name, const std::string& fallback) const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  bool flag(const std::string& name) const { return values_.contains(name); }

 private:
  std::vector<std::string> positional_;
  std::map<std::string, std::string> values_;
};

/// What an example claims about its figures; with --check a failed claim makes the exit status 1.
class Claims {
 public:
  void expect(bool holds, const std::string& what) {
    fmt::print("{} {}\n", holds ? "[holds]" : "[FAILS]", what);
    failed_ += holds ? 0 : 1;
  }
  int exit_status(bool check) const { return check && failed_ > 0 ? EXIT_FAILURE : EXIT_SUCCESS; }

 private:
  int failed_ = 0;
};

}  // namespace example
