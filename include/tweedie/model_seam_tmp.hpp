// TEMPORARY (branch nets): a private copy of the model seam's declarations being written on
// main (/work/wt/SEAM.md), so that MlpModel compiles before main has them. Removed at the merge.
#pragma once

#include <tweedie/types.hpp>

#include <cstdint>
#include <span>

namespace tweedie {
struct ModelInput {
  ConstVectorRef t;
  ConstMatrixRef x;
  std::span<const std::uint64_t> samples;
  std::span<const int> labels;
  Eigen::Index rows() const { return x.rows(); }
};
struct Conditioning {
  int classes = 0;
  int null_class = -1;
};
}  // namespace tweedie
