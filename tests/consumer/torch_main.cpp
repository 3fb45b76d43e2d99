// Loads a TorchScript module through an installed tweedie::torch and evaluates it once.
#include <tweedie/torchscript_model.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const tweedie::TorchScriptModel model(argv[1]);
  const tweedie::Matrix x = tweedie::Matrix::Ones(3, model.dim());
  const tweedie::Vector t = tweedie::Vector::Constant(3, 0.5);
  tweedie::Matrix out(3, model.dim());
  model.evaluate({t, x, {}, {}}, out);
  std::printf("consumer_torch: %s, %s, |out| = %.6f\n", argv[1], model.dtype().c_str(), out.norm());
  return out.allFinite() ? 0 : 1;
}
