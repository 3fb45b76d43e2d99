#include "ranks.hpp"

#include "interrupt.hpp"
#include "library_terms.hpp"
#include "plugins.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace tweedie::cli {
namespace {

class OneProcess final : public Collectives {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::optional<std::string> first_failure(const std::optional<std::string>& failure, int) override {
    return failure;
  }
  Matrix gather_rows(const ConstMatrixRef& block) override { return block; }
  void broadcast(std::vector<double>&) override {}
};

/// The first of the launchers' variables that is set, as a number (Open MPI's, MPICH's and
/// Slurm's PMI, PMIx).
std::optional<long> launcher_value(std::initializer_list<const char*> names) {
  for (const char* name : names) {
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  }
  return std::nullopt;
}

std::unique_ptr<Collectives> make_collectives() {
  const auto size = launcher_value({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
  const bool launched = size || launcher_value({"PMIX_RANK"});
  if (!launched) return std::make_unique<OneProcess>();
#if TWEEDIE_WITH_MPI
  // RTLD_GLOBAL: Open MPI's own components, which it opens in MPI_Init, resolve symbols of
  // libmpi that the plugin brings in.
  const auto make = reinterpret_cast<MpiCollectivesMaker>(
      plugin_symbol(TWEEDIE_MPI_PLUGIN_FILE, mpi_collectives_symbol, "MPI", RTLD_NOW | RTLD_GLOBAL));
  return std::unique_ptr<Collectives>(make());
#else
  if (size && *size > 1) {
    throw std::runtime_error(fmt::format(
        "launched as {} MPI ranks, but this tweedie was built without MPI (install libopenmpi-dev and rebuild)",
        *size));
  }
  return std::make_unique<OneProcess>();
#endif
}

}  // namespace

std::string error_line(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const RunFailed& e) {
    return e.what();
  } catch (const Cancelled&) {  // only the progress callback cancels, at an interrupt
    return interrupted_line;
  } catch (const CLI::ParseError& e) {
    return fmt::format("tweedie: error: {}", e.what());
  } catch (const std::exception& e) {
    return fmt::format("tweedie: error: {}", in_cli_terms(e.what()));
  } catch (...) {
    return "tweedie: error: an unknown exception";
  }
}

Ranks& Ranks::get() {
  static Ranks ranks = [] {
    Ranks r(make_collectives());
    if (!r.root()) {  // rank 0 alone prints (and writes standard output with --out -)
      const int null = ::open("/dev/null", O_WRONLY);
      if (null >= 0) ::dup2(null, STDOUT_FILENO);
    }
    return r;
  }();
  return ranks;
}

std::optional<std::string> Ranks::settle(const std::optional<std::string>& failure, int phase) {
  if (settled_) throw std::logic_error("the ranks settle once per run");
  settled_ = true;
  return collectives_->first_failure(failure, phase);
}

}  // namespace tweedie::cli
