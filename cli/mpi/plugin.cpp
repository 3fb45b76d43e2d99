// The MPI plugin of the tweedie program: the ranks' collectives (ranks.hpp) over tweedie::mpi.
// A module loaded only under an MPI launcher, so that the program never links MPI's libraries.
#include "ranks.hpp"

#include <tweedie/mpi.hpp>

namespace {

class MpiCollectives final : public tweedie::cli::Collectives {
 public:
  int rank() const override { return session_.rank(); }
  int size() const override { return session_.size(); }
  std::optional<std::string> first_failure(const std::optional<std::string>& failure, int phase) override {
    return tweedie::mpi::first_failure(session_.comm(), failure, phase);
  }
  tweedie::Matrix gather_rows(const tweedie::ConstMatrixRef& block) override {
    return tweedie::mpi::gather_rows(session_.comm(), block);
  }
  void broadcast(std::vector<double>& values) override { tweedie::mpi::broadcast(session_.comm(), values); }

 private:
  tweedie::mpi::Session session_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) tweedie::cli::Collectives* tweedie_cli_mpi_collectives() {
  return new MpiCollectives();
}
