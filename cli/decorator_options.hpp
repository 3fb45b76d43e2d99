// The model decorators as flags (docs/guidance.md): guidance, an x0 hook and imputation, the same
// for every subcommand that evaluates the model.
#pragma once

#include <tweedie/tweedie.hpp>

#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

namespace tweedie::cli {

struct DecoratorOptions {
  std::optional<double> guidance;           ///< --guidance S: classifier-free guidance
  std::string unconditional;                ///< --unconditional FILE: the pair's unconditional model
  std::string classifier;                   ///< --classifier FILE|exact
  std::optional<double> classifier_scale;   ///< --classifier-scale S
  bool x0_clip = false;                     ///< --x0-clip: static clipping to [-1, 1]
  std::string threshold;                    ///< --threshold RATIO[,MAX]
  std::string round_to;                     ///< --round-to EMB.npy
  std::string observe, mask;                ///< --observe VALUES.npy --mask MASK.npy
  void add_to(CLI::App& app);
  bool any() const;
};

/// The decorated model: guidance (classifier-free or classifier) innermost, then the x0 hooks
/// (thresholding, clipping, rounding: applied to x0 in that order), then imputation. `target` is the --target mixture (for --classifier exact), `labelled` whether
/// --class or --labels was given. Bad combinations throw InvalidArgument naming the flags.
struct Decorated {
  std::shared_ptr<const ScoreModel> model;
  std::shared_ptr<const Imputation> imputation;  ///< with --observe, to restore the observation
};
/// `seed` keys the imputation's noise of the observed coordinates; `unconditional` is the loaded
/// --unconditional model (null without it).
Decorated decorate(const DecoratorOptions& options, std::shared_ptr<const ScoreModel> model, const Sde& sde,
                   const GaussianMixture* target, bool labelled, std::uint64_t seed,
                   std::shared_ptr<const ScoreModel> unconditional = nullptr);

}  // namespace tweedie::cli
