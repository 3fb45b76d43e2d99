// The report of tweedie compare: tables (Markdown, CSV), every setting (JSON) and gnuplot plots.
#pragma once

#include "compare_runs.hpp"

#include <string>

namespace tweedie::cli {

/// The comparison as a Markdown document: what was compared, the truth's floors, the table.
std::string report_markdown(const ComparisonResults& r);
/// One line per run after a header line, each with the floors and entropy of its truth.
std::string report_csv(const ComparisonResults& r);
/// Every setting, the version and commit, the truths and the rows.
std::string report_json(const ComparisonResults& r);

/// The plots write_report makes for `r`, as "error_vs_nfe, sw2_vs_nfe[, samples | , images]".
std::string plot_names(const ComparisonResults& r);

/// Writes DIR/report.md, results.csv, report.json, the plots' data (data/) and script
/// (plots.gp), then runs gnuplot there for error_vs_nfe, sw2_vs_nfe, (d = 2) samples: scatter
/// panels, and (d = 64, 8x8 images) images: a grid of images of each sampler and grid at its
/// largest budget beside the partner set's; each as PNG and SVG. Returns "" or, when gnuplot is missing or fails, a message saying so
/// (the tables are written either way). Throws InvalidArgument when DIR cannot be written.
std::string write_report(const ComparisonResults& r, const std::string& dir);

}  // namespace tweedie::cli
