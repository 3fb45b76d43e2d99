#include "sample_by_rank.hpp"

#include <tweedie/split.hpp>

#include <exception>
#include <string>

namespace tweedie::cli {
namespace {

// The kind of a failure, sent as the first character of the message the ranks exchange, so that
// every rank rethrows the winner's as the same type.
constexpr char failure_bad_input = 'I', failure_of_run = 'R', failure_fatal = 'F';

std::string tagged_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const InvalidArgument& e) {
    return failure_bad_input + std::string(e.what());
  } catch (const NonFiniteError& e) {
    return failure_of_run + std::string(e.what());
  } catch (const StepLimitError& e) {
    return failure_of_run + std::string(e.what());
  } catch (...) {
    return failure_fatal + error_line(error);
  }
}

[[noreturn]] void rethrow_tagged(const std::string& failure) {
  if (failure.empty()) throw RunFailed("tweedie: error: a rank failed without a message");
  const std::string text = failure.substr(1);
  switch (failure.front()) {
    case failure_bad_input:
      throw InvalidArgument(text);
    case failure_of_run:
      throw SampleRunError(text);
    case failure_fatal:
      throw RunFailed(text);
    default:  // the line another rank settled the run with ("tweedie: ..."): it has ended
      throw RunFailed(failure);
  }
}

}  // namespace

std::optional<SampleResult> sample_by_rank(const Sde& sde, const ScoreModel& model, const Sampler& sampler,
                                           std::span<const double> grid, const SampleOptions& whole) {
  Ranks& ranks = Ranks::get();
  const SampleBlock block = ranks.block(whole.num_samples);
  SampleResult mine;
  std::optional<std::string> failure;
  try {
    validate_sample_job(sde, model, grid, whole);  // one call's messages, on every rank
    if (block.count > 0) {
      SampleOptions part = whole;
      part.first_sample = block.first;
      part.num_samples = block.count;
      part.labels = labels_of(whole.labels, block);
      mine = sample(sde, model, sampler, grid, part);
    }
  } catch (...) {
    failure = tagged_failure(std::current_exception());
  }
  if (const auto first = ranks.exchange(failure)) rethrow_tagged(*first);
  SampleResult all;
  all.samples = ranks.gather_rows(mine.samples);
  all.stats = gather_sample_stats(ranks, mine.stats, block.count);
  if (!ranks.root()) return std::nullopt;
  return all;
}

std::vector<double> computed_at_root(const std::function<std::vector<double>()>& compute) {
  Ranks& ranks = Ranks::get();
  if (ranks.size() == 1) return compute();
  std::vector<double> values;
  std::optional<std::string> failure;
  if (ranks.root()) {
    try {
      values = compute();
    } catch (...) {
      failure = tagged_failure(std::current_exception());
    }
  }
  if (const auto first = ranks.exchange(failure)) rethrow_tagged(*first);
  ranks.broadcast(values);
  return values;
}

}  // namespace tweedie::cli
