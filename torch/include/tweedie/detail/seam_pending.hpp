// TEMPORARY: the model seam of /work/wt/SEAM.md until main has it (then this file goes and
// TorchScriptModel derives from ScoreModel directly).
#pragma once

#include <tweedie/model.hpp>
#include <tweedie/model_seam_tmp.hpp>  // ModelInput, Conditioning (branch nets' copy)

#include <cstdint>
#include <span>

namespace tweedie {

namespace detail {
class SeamScoreModel : public ScoreModel {
 public:
  using ScoreModel::evaluate;
  using ScoreModel::jvp;
  virtual Conditioning conditioning() const { return {}; }
  virtual bool batch_invariant() const { return false; }
  virtual void evaluate(const ModelInput& in, MatrixRef out) const = 0;
  virtual void jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const = 0;
  virtual bool has_vjp() const { return false; }
  virtual void vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const = 0;
  void evaluate(const ConstVectorRef& t, const ConstMatrixRef& x, MatrixRef out) const final {
    evaluate(ModelInput{t, x, {}, {}}, out);
  }
  void jvp(const ConstVectorRef& t, const ConstMatrixRef& x, const ConstMatrixRef& v,
           MatrixRef out) const final {
    jvp(ModelInput{t, x, {}, {}}, v, out);
  }
};
}  // namespace detail
}  // namespace tweedie
