// DPM-Solver (noise prediction) and DPM-Solver++ (data prediction), orders 1-3, singlestep or
// multistep (Lu et al. 2022a, 2022b; reference LuChengTHU/dpm-solver, solver_type 'dpmsolver').
#pragma once

#include "exponential.hpp"

namespace tweedie::solvers {

class DpmSolver final : public Sampler {
 public:
  enum class Method { multistep, singlestep };
  struct Options {
    int order = 2;
    Method method = Method::multistep;
    bool lower_order_final = true;
    /// Multistep order 3 only: "reference" (DPM-Solver's update, global order 2) or "taylor"
    /// (its second-derivative estimate doubled: global order 3). See multistep_update.
    bool taylor_d2 = false;
  };
  DpmSolver(ExpForm form, Options options);
  const SamplerTraits& traits() const override { return traits_; }
  void run(ChunkContext& ctx, MatrixRef x) const override;

 private:
  void run_multistep(ChunkContext& ctx, MatrixRef x) const;
  void run_singlestep(ChunkContext& ctx, MatrixRef x) const;
  ExpForm form_;
  Options options_;
  SamplerTraits traits_;
};

}  // namespace tweedie::solvers
