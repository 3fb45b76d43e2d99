#include <tweedie/torchscript_model.hpp>

#include "module_conventions.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/jit/python/update_graph_executor_opt.h>
#include <torch/script.h>

#include <fmt/format.h>

#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

namespace tweedie {
namespace {

using MatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The last non-empty line of a libtorch message: the error itself, after TorchScript's traceback.
std::string last_line(std::string_view what) {
  while (!what.empty() && (what.back() == '\n' || what.back() == ' ')) what.remove_suffix(1);
  const auto nl = what.rfind('\n');
  return std::string(nl == std::string_view::npos ? what : what.substr(nl + 1));
}

std::string message_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return last_line(c10->what_without_backtrace());
  return last_line(e.what());
}

/// What each call sets on its thread: libtorch's intra-op threads (the policy of
/// TorchScriptOptions::intra_op_threads) and the graph executor without optimisation, so that
/// every call runs the same kernels (no profiling runs or fused graphs that would depend on the
/// calls before). Both settings are thread-local in effect; the executor's is restored.
class CallScope {
 public:
  explicit CallScope(int threads) : optimize_(torch::jit::getGraphExecutorOptimize()) {
    torch::jit::setGraphExecutorOptimize(false);
    if (at::get_num_threads() != threads) {
      static std::mutex mutex;  // at::set_num_threads also resizes a shared pool
      const std::lock_guard lock(mutex);
      at::set_num_threads(threads);
    }
  }
  ~CallScope() { torch::jit::setGraphExecutorOptimize(optimize_); }
  CallScope(const CallScope&) = delete;
  CallScope& operator=(const CallScope&) = delete;

 private:
  bool optimize_;
};

}  // namespace

struct TorchScriptModel::Impl {
  std::filesystem::path path;
  std::string file;  // path as text, for messages
  mutable torch::jit::Module module;  // forward is not const in libtorch's API; calls are thread-safe
  torch::Dtype dtype = torch::kFloat64;
  bool conditional = false;  // forward receives y
  detail::ModuleConventions conventions;
  int threads = 1;

  [[noreturn]] void refuse(const std::string& what) const {
    throw InvalidArgument(fmt::format("TorchScript module '{}': {}", file, what));
  }

  torch::Tensor rows(const ConstMatrixRef& m) const {
    auto out = torch::empty({m.rows(), m.cols()}, torch::TensorOptions().dtype(dtype));
    if (dtype == torch::kFloat64) {
      Eigen::Map<Matrix>(out.data_ptr<double>(), m.rows(), m.cols()) = m;
    } else {
      Eigen::Map<MatrixF>(out.data_ptr<float>(), m.rows(), m.cols()) = m.cast<float>();
    }
    return out;
  }

  /// The network's time input s of each row, computed in double and then cast.
  torch::Tensor times(const ConstVectorRef& t) const {
    auto s = torch::empty({t.size()}, torch::TensorOptions().dtype(torch::kFloat64));
    auto* p = s.data_ptr<double>();
    static const VpSde unread;  // the kinds that need no family never read it
    const Sde* family = conventions.family ? conventions.family.get() : &unread;
    for (Eigen::Index i = 0; i < t.size(); ++i) p[i] = conventions.time_input(*family, t(i));
    return s.to(dtype);
  }

  std::string rows_text(const ModelInput& in) const {
    const auto n = in.rows();
    const std::string when = n > 0 ? fmt::format(" at t = {}", in.t(0)) : "";
    if (in.samples.size() != static_cast<std::size_t>(n) || n == 0) return fmt::format("{} rows{}", n, when);
    if (n == 1) return fmt::format("sample {}{}", in.samples[0], when);
    return fmt::format("samples {} to {} ({} rows){}", in.samples.front(), in.samples.back(), n, when);
  }

  /// forward(x, s[, y]) with the shape of the result checked against x.
  torch::Tensor forward(const ModelInput& in, const torch::Tensor& x) const {
    std::vector<c10::IValue> args{x, times(in.t)};
    if (conditional) {
      // No labels: every row unconditional, which is the null class (the drivers pass labels
      // whenever the model has none).
      const int null_class = conventions.conditioning.null_class;
      if (in.labels.empty() && null_class < 0) {
        refuse(fmt::format("the module is conditional without a null class, and the call on {} gives no labels",
                           rows_text(in)));
      }
      if (!in.labels.empty() && in.labels.size() != static_cast<std::size_t>(in.rows())) {
        refuse(fmt::format("the call on {} gives {} labels", rows_text(in), in.labels.size()));
      }
      auto y = torch::empty({in.rows()}, torch::TensorOptions().dtype(torch::kInt64));
      auto* p = y.data_ptr<std::int64_t>();
      for (Eigen::Index i = 0; i < in.rows(); ++i) p[i] = in.label(i, null_class);
      args.emplace_back(std::move(y));
    }
    c10::IValue result;
    try {
      result = module.forward(std::move(args));
    } catch (const std::exception& e) {
      refuse(fmt::format("forward failed on {}: {}", rows_text(in), message_of(e)));
    }
    if (!result.isTensor()) refuse(fmt::format("forward returned a {}, not a tensor", result.type()->str()));
    auto out = result.toTensor();
    if (out.dim() != 2 || out.size(0) != x.size(0) || out.size(1) != x.size(1) || !out.is_floating_point()) {
      refuse(fmt::format("forward returned a {} tensor of shape [{}] for x of shape [{}, {}] (expected "
                         "the shape of x)", c10::toString(out.scalar_type()), fmt::join(out.sizes(), ", "),
                         x.size(0), x.size(1)));
    }
    return out;
  }

  /// x as a leaf that requires grad, and forward(x) recorded by autograd (what jvp and vjp
  /// differentiate; the caller enables grad mode).
  std::pair<torch::Tensor, torch::Tensor> recorded_forward(const ModelInput& in) const {
    auto x = rows(in.x).requires_grad_(true);
    auto y = forward(in, x);
    return {std::move(x), std::move(y)};
  }

  static void to_matrix(const torch::Tensor& y, MatrixRef out) {
    const auto yd = y.detach().to(torch::kFloat64).contiguous();
    out = Eigen::Map<const Matrix>(yd.data_ptr<double>(), out.rows(), out.cols());
  }
};

TorchScriptModel::TorchScriptModel(const std::filesystem::path& path, const TorchScriptOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = path.string();
  if (options.intra_op_threads < 1) {
    impl->refuse(fmt::format("intra_op_threads = {} must be at least 1", options.intra_op_threads));
  }
  impl->threads = options.intra_op_threads;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) impl->refuse("no such file");
  try {
    impl->module = torch::jit::load(impl->file);
  } catch (const std::exception& e) {
    impl->refuse(fmt::format("does not load as TorchScript: {}", message_of(e)));
  }
  impl->module.eval();

  const auto forward = impl->module.find_method("forward");
  if (!forward) impl->refuse("has no forward method");
  const auto& schema = forward->function().getSchema();
  const auto& args = schema.arguments();  // args[0] is self
  std::vector<std::string> names;
  for (std::size_t i = 1; i < args.size(); ++i) names.push_back(args[i].name() + ": " + args[i].type()->str());
  auto is_tensor = [&](std::size_t i) { return args[i].type()->kind() == c10::TypeKind::TensorType; };
  auto is_optional_tensor = [&](std::size_t i) {
    const auto optional = args[i].type()->cast<c10::OptionalType>();
    return optional && optional->getElementType()->kind() == c10::TypeKind::TensorType;
  };
  const bool xs = args.size() >= 3 && is_tensor(1) && is_tensor(2);
  auto labels = detail::LabelArgument::none;
  if (xs && args.size() == 4) {
    labels = is_tensor(3) ? detail::LabelArgument::required
             : is_optional_tensor(3) && args[3].default_value() ? detail::LabelArgument::optional
                                                                : labels;
  }
  if (!xs || args.size() > 4 || (args.size() == 4 && labels == detail::LabelArgument::none)) {
    impl->refuse(fmt::format("forward must take tensors (x, s) or (x, s, y); it takes ({})", fmt::join(names, ", ")));
  }
  const auto& returns = schema.returns();
  if (returns.size() != 1 || returns[0].type()->kind() != c10::TypeKind::TensorType) {
    std::vector<std::string> types;
    for (const auto& r : returns) types.push_back(r.type()->str());
    impl->refuse(fmt::format("forward must return one Tensor; it returns {}", fmt::join(types, ", ")));
  }

  std::optional<c10::ScalarType> dtype;
  auto visit = [&](const at::Tensor& p) {
    if (!p.is_floating_point()) return;
    if (dtype && *dtype != p.scalar_type()) {
      impl->refuse(fmt::format("mixes parameter dtypes {} and {}", c10::toString(*dtype),
                               c10::toString(p.scalar_type())));
    }
    dtype = p.scalar_type();
  };
  // The parameters set the dtype; buffers (frequency tables, kept in float64 by tweedie_net's
  // export whatever the weights) only when there are no parameters.
  for (const auto& p : impl->module.parameters()) visit(p);
  if (!dtype) {
    for (const auto& b : impl->module.buffers()) visit(b);
  }
  impl->dtype = dtype.value_or(torch::kFloat64);
  if (impl->dtype != torch::kFloat64 && impl->dtype != torch::kFloat32) {
    impl->refuse(fmt::format("computes in {}; float32 and float64 are supported", c10::toString(impl->dtype)));
  }

  impl->conventions = detail::read_conventions(impl->module, labels, options, impl->file);
  impl->conditional = impl->conventions.conditioning.classes > 0;
  impl_ = std::move(impl);
}

TorchScriptModel::~TorchScriptModel() = default;

Prediction TorchScriptModel::prediction() const { return impl_->conventions.prediction; }
Eigen::Index TorchScriptModel::dim() const { return impl_->conventions.dim; }
Conditioning TorchScriptModel::conditioning() const { return impl_->conventions.conditioning; }
const std::optional<SdeSpec>& TorchScriptModel::sde_spec() const { return impl_->conventions.sde; }
TimeInput TorchScriptModel::time_input() const { return impl_->conventions.time_input; }
std::string TorchScriptModel::dtype() const { return impl_->dtype == torch::kFloat32 ? "float32" : "float64"; }
const std::filesystem::path& TorchScriptModel::path() const { return impl_->path; }

void TorchScriptModel::evaluate(const ModelInput& in, MatrixRef out) const {
  if (in.rows() == 0) return;
  const CallScope scope(impl_->threads);
  const c10::InferenceMode inference;
  Impl::to_matrix(impl_->forward(in, impl_->rows(in.x)), out);
}

void TorchScriptModel::vjp(const ModelInput& in, const ConstMatrixRef& w, MatrixRef out) const {
  if (in.rows() == 0) return;
  const CallScope scope(impl_->threads);
  const torch::AutoGradMode grad_mode(true);
  const auto [x, y] = impl_->recorded_forward(in);
  // Rows do not interact, so the gradient of sum_i <w_i, y_i> in x_i is J_i^T w_i.
  const auto g = torch::autograd::grad({y}, {x}, {impl_->rows(w)}, false, false, true)[0];
  if (!g.defined()) {
    out.setZero();  // the output does not depend on x
    return;
  }
  Impl::to_matrix(g, out);
}

void TorchScriptModel::jvp(const ModelInput& in, const ConstMatrixRef& v, MatrixRef out) const {
  if (in.rows() == 0) return;
  const CallScope scope(impl_->threads);
  const torch::AutoGradMode grad_mode(true);
  const auto [x, y] = impl_->recorded_forward(in);
  // The double-backward trick: g(u) = J^T u is linear in u, and d/du <g(u), v> = J v.
  const auto u = torch::zeros_like(y).requires_grad_(true);
  const auto g = torch::autograd::grad({y}, {x}, {u}, true, true, true)[0];
  if (!g.defined() || !g.requires_grad()) {
    out.setZero();  // J^T u does not depend on u: the output is constant in x
    return;
  }
  const auto jv = torch::autograd::grad({g}, {u}, {impl_->rows(v)}, false, false, true)[0];
  if (!jv.defined()) {
    out.setZero();
    return;
  }
  Impl::to_matrix(jv, out);
}

}  // namespace tweedie
