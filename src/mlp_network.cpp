#include "mlp_network.hpp"

#include "mlp_layers.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <tbb/enumerable_thread_specific.h>

#include <cmath>
#include <numbers>
#include <set>

namespace tweedie::detail {
namespace {

// Rows per tile: a multiple of Eigen's GEBP row blocking (3 packets) for SSE2, AVX and AVX-512,
// for doubles (6, 12, 24) and floats (12, 24, 48), so that every row of a tile takes the same
// kernel path; the last tile of a call is zero-padded to the full size.
template <class S>
constexpr Eigen::Index kTileRows = sizeof(S) == 8 ? 24 : 48;

// Hands out the tensors that the spec implies, checking their shapes, and then checks that the
// file holds nothing else.
class TensorReader {
 public:
  explicit TensorReader(const SafetensorsFile& file) : file_(file) {}
  const Tensor& take(const std::string& name, const std::vector<std::int64_t>& shape) {
    if (!file_.contains(name)) {
      throw InvalidArgument(fmt::format("{}: tensor '{}' is missing (the spec needs one of shape [{}])",
                                        file_.source(), name, fmt::join(shape, ", ")));
    }
    const Tensor& t = file_.tensor(name);
    if (t.shape != shape) {
      throw InvalidArgument(fmt::format("{}: tensor '{}' has shape [{}], and the spec needs [{}]", file_.source(),
                                        name, fmt::join(t.shape, ", "), fmt::join(shape, ", ")));
    }
    used_.insert(name);
    return t;
  }
  void check_all_used() const {
    for (const std::string& name : file_.names()) {
      if (used_.count(name) == 0) {
        throw InvalidArgument(fmt::format("{}: tensor '{}' is not part of the network that the spec describes",
                                          file_.source(), name));
      }
    }
  }

 private:
  const SafetensorsFile& file_;
  std::set<std::string> used_;
};

template <class S>
Dense<S> read_dense(TensorReader& r, const std::string& prefix, Eigen::Index in, Eigen::Index out) {
  const Tensor& w = r.take(prefix + ".weight", {out, in});
  const Tensor& b = r.take(prefix + ".bias", {out});
  Dense<S> d;
  // torch's row-major [out, in] is the column-major [in, out] of W^T.
  d.wt = Eigen::Map<const Eigen::MatrixXd>(w.values.data(), in, out).cast<S>();
  d.b = Eigen::Map<const Eigen::RowVectorXd>(b.values.data(), out).cast<S>();
  d.pack(kTileRows<S>);
  return d;
}

template <class S>
LayerNorm<S> read_norm(TensorReader& r, const std::string& prefix, Eigen::Index width, double eps) {
  LayerNorm<S> ln;
  ln.w = Eigen::Map<const Eigen::RowVectorXd>(r.take(prefix + ".weight", {width}).values.data(), width).cast<S>();
  ln.b = Eigen::Map<const Eigen::RowVectorXd>(r.take(prefix + ".bias", {width}).values.data(), width).cast<S>();
  ln.eps = static_cast<S>(eps);
  return ln;
}

template <class S>
struct Block {
  Activation act = Activation::silu;
  bool norm = false;
  LayerNorm<S> ln;
  Dense<S> dense1, time, dense2;
  RowVec<S> bias;  // dense1's and time's biases, summed once
};

// One thread's scratch, sized at its first call and reused (no allocation after that).
template <class S>
struct Scratch {
  bool ready = false;
  GemmBuffers<S> gemm;
  TileVector<S> s, mean, mean2;
  Eigen::VectorXd c_skip, c_out, c_in;  // EDM preconditioning per row
  TileMatrix<S> x, emb, temb, tact;
  std::vector<TileMatrix<S>> time_layers;
  std::vector<TileMatrix<S>> h;      // residual stream before each block, and after the last
  std::vector<TileMatrix<S>> y;      // each block's (and the head's) activation input
  std::vector<NormState<S>> norms;   // each block's (and the head's) LayerNorm state
  std::vector<TileMatrix<S>> u, z;   // each block's hidden pre-activation, and work of its width
  TileMatrix<S> a, out, g, gy;       // width-sized work; the tile's output
  TileMatrix<S> d, dout;             // tangent/adjoint at the input (tile x D) and output (tile x outputs)
};

template <class S>
class NetworkImpl final : public MlpModel::Network {
 public:
  NetworkImpl(const MlpSpec& spec, const Sde& sde, const SafetensorsFile& file) : spec_(spec), sde_(sde) {
    TensorReader r(file);
    const Eigen::Index d = spec.dim, c = spec.width, e = spec.embedding_dim, half = e / 2, tw = spec.time_width();
    input_ = read_dense<S>(r, "input", d, c);
    freqs_.resize(half);
    if (spec.embedding == TimeEmbeddingKind::fourier) {
      const Tensor& w = r.take("time_embedding.W", {half});
      // W in the precision, then 2 pi W in double rounded once, as tweedie_net.TimeEmbedding does.
      for (Eigen::Index k = 0; k < half; ++k) {
        freqs_(k) = static_cast<S>(static_cast<double>(static_cast<S>(w.values[k])) * (2.0 * std::numbers::pi));
      }
    } else {
      for (Eigen::Index k = 0; k < half; ++k) {
        freqs_(k) = static_cast<S>(std::exp(-std::log(10000.0) * static_cast<double>(k) / static_cast<double>(half - 1)));
      }
    }
    Eigen::Index prev = e;
    for (std::size_t i = 0; i < spec.time_mlp_widths.size(); ++i) {
      time_mlp_.push_back(read_dense<S>(r, fmt::format("time_mlp.{}", i), prev, spec.time_mlp_widths[i]));
      prev = spec.time_mlp_widths[i];
    }
    if (spec.conditioning.classes > 0) {
      const Eigen::Index rows = spec.conditioning.classes + (spec.conditioning.null_class >= 0 ? 1 : 0);
      const Tensor& t = r.take("class_embedding.weight", {rows, tw});
      classes_ = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                     t.values.data(), rows, tw)
                     .cast<S>();
    }
    for (std::size_t k = 0; k < spec.blocks.size(); ++k) {
      const auto& b = spec.blocks[k];
      const std::string p = fmt::format("blocks.{}", k);
      Block<S> blk;
      blk.act = b.activation;
      blk.norm = b.norm;
      if (b.norm) blk.ln = read_norm<S>(r, p + ".norm", c, spec.layer_norm_eps);
      blk.dense1 = read_dense<S>(r, p + ".dense1", c, b.hidden);
      blk.time = read_dense<S>(r, p + ".time", tw, b.hidden);
      blk.dense2 = read_dense<S>(r, p + ".dense2", b.hidden, c);
      blk.bias = blk.dense1.b + blk.time.b;
      blocks_.push_back(std::move(blk));
    }
    if (spec.output_norm) out_ln_ = read_norm<S>(r, "output.norm", c, spec.layer_norm_eps);
    output_ = read_dense<S>(r, "output.dense", c, spec.outputs());
    r.check_all_used();
  }

  void run(NetworkMode mode, const ModelInput& in, const ConstMatrixRef* dir, MatrixRef out) const override {
    Scratch<S>& sc = scratch_.local();
    if (!sc.ready) prepare(sc);
    const Eigen::Index n = in.rows(), tile = kTileRows<S>;
    const bool edm = spec_.edm_sigma_data.has_value();
    for (Eigen::Index r0 = 0; r0 < n; r0 += tile) {
      const Eigen::Index rows = std::min(tile, n - r0);
      load_tile(in, r0, rows, sc);
      forward(sc);
      auto result = out.middleRows(r0, rows);
      if (mode == NetworkMode::evaluate) {
        result = sc.out.topRows(rows).template cast<double>();
        if (edm) {
          const auto x = in.x.middleRows(r0, rows);
          result = (x.array().colwise() * sc.c_skip.head(rows).array() +
                    result.array().colwise() * sc.c_out.head(rows).array()).matrix();
        }
        continue;
      }
      const auto v = dir->middleRows(r0, rows);
      // The network F sees c_in x and is scaled by c_out, so J v = c_skip v + c_out J_F (c_in v)
      // and J^T w = c_skip w + c_in J_F^T (c_out w). The tangent goes from d (at the input) to
      // dout (at the output), the adjoint the other way (they differ for a classifier's logits).
      const Eigen::VectorXd& pre = mode == NetworkMode::jvp ? sc.c_in : sc.c_out;
      const Eigen::VectorXd& post = mode == NetworkMode::jvp ? sc.c_out : sc.c_in;
      TileMatrix<S>& seed = mode == NetworkMode::jvp ? sc.d : sc.dout;
      const TileMatrix<S>& answer = mode == NetworkMode::jvp ? sc.dout : sc.d;
      seed.setZero();
      for (Eigen::Index i = 0; i < rows; ++i) {
        if (edm) {
          seed.row(i) = (pre(i) * v.row(i)).template cast<S>();
        } else {
          seed.row(i) = v.row(i).template cast<S>();
        }
      }
      if (mode == NetworkMode::jvp) {
        tangent(sc);
      } else {
        adjoint(sc);
      }
      result = answer.topRows(rows).template cast<double>();
      if (edm) {
        result = (result.array().colwise() * post.head(rows).array() +
                  v.array().colwise() * sc.c_skip.head(rows).array()).matrix();
      }
    }
  }

 private:
  void prepare(Scratch<S>& sc) const {
    const Eigen::Index t = kTileRows<S>, c = spec_.width, nb = static_cast<Eigen::Index>(blocks_.size());
    sc.s.resize(t);
    sc.mean.resize(t);
    sc.mean2.resize(t);
    sc.c_skip.resize(t);
    sc.c_out.resize(t);
    sc.c_in.resize(t);
    sc.x.resize(t, spec_.dim);
    sc.emb.resize(t, spec_.embedding_dim);
    for (const auto& l : time_mlp_) sc.time_layers.emplace_back(t, l.out());
    sc.temb.resize(t, spec_.time_width());
    sc.tact.resize(t, spec_.time_width());
    sc.h.assign(nb + 1, TileMatrix<S>(t, c));
    sc.y.assign(nb + 1, TileMatrix<S>(t, c));
    sc.norms.assign(nb + 1, NormState<S>{TileMatrix<S>(t, c), TileVector<S>(t)});
    for (const auto& b : blocks_) {
      sc.u.emplace_back(t, b.dense1.out());
      sc.z.emplace_back(t, b.dense1.out());
    }
    sc.a.resize(t, c);
    sc.g.resize(t, c);
    sc.gy.resize(t, c);
    sc.out.resize(t, spec_.outputs());
    sc.d.resize(t, spec_.dim);
    sc.dout.resize(t, spec_.outputs());
    sc.ready = true;
  }

  // The tile's network input, time value and time(+class) vector; padded rows are zeros.
  void load_tile(const ModelInput& in, Eigen::Index r0, Eigen::Index rows, Scratch<S>& sc) const {
    sc.x.setZero();
    sc.s.setZero();
    if (spec_.edm_sigma_data) {
      const double sd = *spec_.edm_sigma_data;
      sc.c_skip.setZero();
      sc.c_out.setZero();
      sc.c_in.setZero();
      for (Eigen::Index i = 0; i < rows; ++i) {
        const double sigma = sde_.sigma(in.t(r0 + i)), s2 = sigma * sigma + sd * sd;
        sc.c_skip(i) = sd * sd / s2;
        sc.c_out(i) = sigma * sd / std::sqrt(s2);
        sc.c_in(i) = 1.0 / std::sqrt(s2);
        // At sigma = 0, D = x exactly (c_out = 0): any finite time value keeps F finite.
        sc.s(i) = static_cast<S>(sigma > 0.0 ? 0.25 * std::log(sigma) : 0.0);
        sc.x.row(i) = (sc.c_in(i) * in.x.row(r0 + i)).template cast<S>();
      }
    } else {
      for (Eigen::Index i = 0; i < rows; ++i) sc.s(i) = static_cast<S>(spec_.time_input(sde_, in.t(r0 + i)));
      sc.x.topRows(rows) = in.x.middleRows(r0, rows).template cast<S>();
    }
    const Eigen::Index half = spec_.embedding_dim / 2;
    for (Eigen::Index k = 0; k < half; ++k) {
      const S f = freqs_(k);
      sc.emb.col(k) = sc.s.unaryExpr([f](S s) { return std::sin(s * f); });
      sc.emb.col(half + k) = sc.s.unaryExpr([f](S s) { return std::cos(s * f); });
    }
    const TileMatrix<S>* cur = &sc.emb;
    for (std::size_t i = 0; i < time_mlp_.size(); ++i) {
      dense(*cur, time_mlp_[i], sc.time_layers[i], sc.gemm);
      if (i + 1 < time_mlp_.size()) activate(spec_.time_mlp_activation, sc.time_layers[i], sc.time_layers[i]);
      cur = &sc.time_layers[i];
    }
    sc.temb = *cur;
    if (spec_.conditioning.classes > 0) {
      const int null = spec_.conditioning.null_class;
      for (Eigen::Index i = 0; i < rows; ++i) sc.temb.row(i) += classes_.row(in.label(r0 + i, null));
    }
  }

  void norm_or_copy(bool norm, const LayerNorm<S>& ln, std::size_t k, Scratch<S>& sc) const {
    if (norm) {
      layer_norm(ln, sc.h[k], sc.norms[k], sc.y[k], sc.mean);
    } else {
      sc.y[k] = sc.h[k];
    }
  }

  void forward(Scratch<S>& sc) const {
    dense(sc.x, input_, sc.h[0], sc.gemm);
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const Block<S>& b = blocks_[k];
      norm_or_copy(b.norm, b.ln, k, sc);
      activate(b.act, sc.y[k], sc.a);
      sc.u[k].rowwise() = b.bias;
      add_product(sc.a, b.dense1, sc.u[k], sc.gemm);
      activate(b.act, sc.temb, sc.tact);
      add_product(sc.tact, b.time, sc.u[k], sc.gemm);
      activate(b.act, sc.u[k], sc.z[k]);
      sc.h[k + 1] = sc.h[k];
      sc.h[k + 1].rowwise() += b.dense2.b;
      add_product(sc.z[k], b.dense2, sc.h[k + 1], sc.gemm);
    }
    const std::size_t last = blocks_.size();
    norm_or_copy(spec_.output_norm, out_ln_, last, sc);
    activate(spec_.output_activation, sc.y[last], sc.a);
    dense(sc.a, output_, sc.out, sc.gemm);
  }

  // dy = d(norm or identity)(dh) for the state of layer k, written into sc.gy.
  void norm_tangent(bool norm, const LayerNorm<S>& ln, std::size_t k, const TileMatrix<S>& dh, Scratch<S>& sc) const {
    sc.gy = dh;
    if (!norm) return;
    normalisation_map(sc.norms[k], sc.gy, sc.mean, sc.mean2);
    sc.gy.array().rowwise() *= ln.w.array();
  }

  // sc.d holds the input tangent (tile x dim); sc.dout receives the output tangent.
  void tangent(Scratch<S>& sc) const {
    TileMatrix<S>& dh = sc.g;
    dh.setZero();
    add_product(sc.d, input_, dh, sc.gemm);
    for (std::size_t k = 0; k < blocks_.size(); ++k) {
      const Block<S>& b = blocks_[k];
      norm_tangent(b.norm, b.ln, k, dh, sc);
      times_derivative(b.act, sc.y[k], sc.gy);
      TileMatrix<S>& du = sc.z[k];  // z is not needed after the forward pass of this tile
      du.setZero();
      add_product(sc.gy, b.dense1, du, sc.gemm);
      times_derivative(b.act, sc.u[k], du);
      add_product(du, b.dense2, dh, sc.gemm);
    }
    const std::size_t last = blocks_.size();
    norm_tangent(spec_.output_norm, out_ln_, last, dh, sc);
    times_derivative(spec_.output_activation, sc.y[last], sc.gy);
    sc.dout.setZero();
    add_product(sc.gy, output_, sc.dout, sc.gemm);
  }

  // g (the gradient with respect to layer k's activation input) -> its contribution to dh, added to gh.
  void norm_adjoint(bool norm, const LayerNorm<S>& ln, std::size_t k, TileMatrix<S>& g, TileMatrix<S>& gh,
                    Scratch<S>& sc) const {
    if (norm) {
      g.array().rowwise() *= ln.w.array();
      normalisation_map(sc.norms[k], g, sc.mean, sc.mean2);
    }
    gh += g;
  }

  // sc.dout holds the output cotangent (tile x outputs); sc.d receives the input gradient.
  void adjoint(Scratch<S>& sc) const {
    TileMatrix<S>& gh = sc.g;
    TileMatrix<S>& ga = sc.gy;
    const std::size_t last = blocks_.size();
    ga.setZero();
    add_adjoint(sc.dout, output_, ga, sc.gemm);
    times_derivative(spec_.output_activation, sc.y[last], ga);
    gh.setZero();
    norm_adjoint(spec_.output_norm, out_ln_, last, ga, gh, sc);
    for (std::size_t k = blocks_.size(); k-- > 0;) {
      const Block<S>& b = blocks_[k];
      TileMatrix<S>& gu = sc.z[k];
      gu.setZero();
      add_adjoint(gh, b.dense2, gu, sc.gemm);
      times_derivative(b.act, sc.u[k], gu);
      ga.setZero();
      add_adjoint(gu, b.dense1, ga, sc.gemm);
      times_derivative(b.act, sc.y[k], ga);
      norm_adjoint(b.norm, b.ln, k, ga, gh, sc);
    }
    sc.d.setZero();
    add_adjoint(gh, input_, sc.d, sc.gemm);
  }

  MlpSpec spec_;
  const Sde& sde_;
  Dense<S> input_;
  RowVec<S> freqs_;  // sinusoidal frequencies, or 2 pi W
  std::vector<Dense<S>> time_mlp_;
  TileMatrix<S> classes_;
  std::vector<Block<S>> blocks_;
  LayerNorm<S> out_ln_;
  Dense<S> output_;
  mutable tbb::enumerable_thread_specific<Scratch<S>> scratch_;
};

}  // namespace

MlpSpec read_spec(const SafetensorsFile& file) {
  const auto it = file.metadata().find(mlp_metadata_key);
  if (it == file.metadata().end()) {
    throw InvalidArgument(fmt::format("{}: no '{}' entry in the metadata: not a tweedie.mlp network (see "
                                      "docs/models.md)", file.source(), mlp_metadata_key));
  }
  return MlpSpec::parse(it->second, file.source());
}

std::unique_ptr<MlpModel::Network> make_network(const MlpSpec& spec, const Sde& sde, const SafetensorsFile& file,
                                                Precision precision) {
  if (precision == Precision::float32) return std::make_unique<NetworkImpl<float>>(spec, sde, file);
  return std::make_unique<NetworkImpl<double>>(spec, sde, file);
}

}  // namespace tweedie::detail
