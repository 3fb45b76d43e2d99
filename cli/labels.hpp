// --class and --labels: the class labels of a conditional model, the same flags for every
// subcommand that evaluates the model.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace tweedie::cli {

struct LabelOptions {
  std::optional<int> label;  ///< --class K: every sample
  std::string path;          ///< --labels FILE.npy: one integer per sample
  void add_to(CLI::App& app);
  /// The labels of n samples: empty without either flag, n copies of --class, or the file's
  /// (which must hold n integers). The model checks that they are its classes.
  std::vector<int> labels(std::size_t n) const;
  /// Whether --class or --labels was given.
  bool given() const { return label.has_value() || !path.empty(); }
};

}  // namespace tweedie::cli
