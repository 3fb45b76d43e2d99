// The user's data and the model's: scale, shift, quantisation and dequantisation; bits per dimension.
#include <tweedie/data_encoding.hpp>
#include <tweedie/random.hpp>

#include "checks.hpp"
#include "names.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

namespace tweedie {

std::string_view to_string(Dequantization q) {
  switch (q) {
    case Dequantization::none: return "none";
    case Dequantization::uniform: return "uniform";
  }
  return "?";
}

Dequantization dequantization_from_string(std::string_view name) {
  return detail::from_name(name, std::array{Dequantization::uniform, Dequantization::none}, "dequantisation");
}

void DataEncoding::validate() const {
  if (!(data_scale > 0.0) || !std::isfinite(data_scale)) {
    throw InvalidArgument(fmt::format("data_scale must be a finite number > 0, got {}", data_scale));
  }
  if (!std::isfinite(data_shift)) {
    throw InvalidArgument(fmt::format("data_shift must be finite, got {}", data_shift));
  }
  if (bits < 0 || bits > max_data_bits) {
    throw InvalidArgument(
        fmt::format("bits must be in 1..{} (0 = continuous data), got {}", max_data_bits, bits));
  }
  if (bits == 0 && dequantize == Dequantization::uniform) {
    throw InvalidArgument("uniform dequantisation needs quantised data (bits > 0)");
  }
}

std::string to_string(const DataEncoding& e) {
  std::string y;
  const double levels = std::ldexp(1.0, e.bits);
  if (e.bits == 0) {
    y = "continuous data y";
  } else if (e.dequantize == Dequantization::uniform) {
    y = fmt::format("{}-bit integers k, y = (k + u) / {} with u ~ U[0, 1)", e.bits, levels);
  } else {
    y = fmt::format("{}-bit data dequantised by the caller, y in [0, 1)", e.bits);
  }
  std::string x = e.data_scale == 1.0 ? "y" : fmt::format("{} y", e.data_scale);
  if (e.data_shift != 0.0) x += fmt::format(" {} {}", e.data_shift < 0.0 ? '-' : '+', std::fabs(e.data_shift));
  return fmt::format("{}; x = {}", y, x);
}

namespace {

/// Throws for the first entry (row-major) that the encoding does not accept.
void check_entries(const ConstMatrixRef& data, const DataEncoding& e) {
  const double top = std::ldexp(1.0, e.bits) - 1.0;
  for (Eigen::Index i = 0; i < data.rows(); ++i) {
    for (Eigen::Index j = 0; j < data.cols(); ++j) {
      const double v = data(i, j);
      const auto where = [&] { return fmt::format("data row {}, column {} (from 0)", i, j); };
      if (!std::isfinite(v)) throw InvalidArgument(fmt::format("{} is not finite", where()));
      if (e.bits == 0) continue;
      if (e.dequantize == Dequantization::uniform && !(v >= 0.0 && v <= top && v == std::floor(v))) {
        throw InvalidArgument(fmt::format(
            "{}: {} is not an integer in 0..{} ({}-bit data, uniform dequantisation)", where(), v, top, e.bits));
      }
      if (e.dequantize == Dequantization::none && !(v >= 0.0 && v < 1.0)) {
        throw InvalidArgument(fmt::format("{}: {} is not in [0, 1) ({}-bit data already dequantised)", where(),
                                          v, e.bits));
      }
    }
  }
}

}  // namespace

Matrix to_model_data(const ConstMatrixRef& data, const DataEncoding& encoding, std::uint64_t seed,
                     const Execution& execution, std::uint64_t first_sample) {
  encoding.validate();
  execution.validate();
  const PhiloxNoise noise(seed);
  const auto n = static_cast<std::uint64_t>(data.rows());
  detail::check_sample_range(first_sample, n);
  check_entries(data, encoding);  // serially: the error names the first bad entry, whatever the threads

  const bool dequantize = encoding.bits > 0 && encoding.dequantize == Dequantization::uniform;
  const double width = std::ldexp(1.0, -encoding.bits);
  Matrix x(data.rows(), data.cols());
  for_each_chunk(static_cast<std::size_t>(data.rows()), execution, [&](std::size_t begin, std::size_t end) {
    const auto b = static_cast<Eigen::Index>(begin), rows = static_cast<Eigen::Index>(end - begin);
    auto y = x.middleRows(b, rows);
    if (dequantize) {
      noise.uniform_rows(first_sample + begin, 0, 0, NoiseStream::dequantize, y);
      for (Eigen::Index i = 0; i < rows; ++i) {
        for (Eigen::Index j = 0; j < y.cols(); ++j) {
          const double k = data(b + i, j);
          // k + u rounds to k + 1 when 1 - u is below half an ulp of k: keep y in k's bin.
          y(i, j) = std::min((k + y(i, j)) * width, std::nextafter((k + 1.0) * width, 0.0));
        }
      }
    } else {
      y = data.middleRows(b, rows);
    }
    y = (encoding.data_scale * y.array() + encoding.data_shift).matrix();
  });
  return x;
}

double bits_per_dim(double log_likelihood_nats, Eigen::Index dim, const DataEncoding& encoding) {
  if (dim < 1) throw InvalidArgument(fmt::format("bits per dimension needs dim >= 1, got {}", dim));
  encoding.validate();
  const double d = static_cast<double>(dim);
  const double nats = log_likelihood_nats + d * std::log(encoding.data_scale);
  return -nats / (d * std::numbers::ln2) + static_cast<double>(encoding.bits);
}

}  // namespace tweedie
