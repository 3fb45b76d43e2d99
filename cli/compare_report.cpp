#include "compare_report.hpp"

#include "build_info.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <optional>

namespace tweedie::cli {
namespace {

std::string sci(double v) { return fmt::format("{:.3e}", v); }

// d = image_side^2 is drawn as images; a panel shows up to mosaic_columns^2 of them.
constexpr Eigen::Index image_side = 8, mosaic_columns = 8;

// The table's text of a mean NLL or entropy: "n/a" when the density is unknown (--model).
std::string nll_text(const std::optional<MeanSe>& nll) { return nll ? fmt::format("{:.4f}", nll->mean) : "n/a"; }

// What the distribution metrics compared with: "exact samples" or "--data rows".
std::string partner_name(const ComparisonResults& r) { return r.settings.model.empty() ? "exact samples" : "--data rows"; }

// ---- tables -----------------------------------------------------------------------------------

const char* const kColumns[] = {"sampler", "grid", "budget", "steps", "grid search", "NFE/sample",
                                "ODE err (median)", "ODE err (mean)", "SW2", "mean err", "cov err", "NLL", "wall s",
                                "samples/s"};

// The optimised grid's cost: "P NFE x R, K trials" (P per pilot row over R rows), else "-".
std::string search_text(const std::optional<OptimizedGrid>& search) {
  return search ? fmt::format("{:.0f} NFE x {}, {} trials", search->pilot_nfe, search->pilot_rows, search->trials)
                : "-";
}

std::vector<std::string> table_cells(const RunRow& row) {
  std::vector<std::string> c{row.sampler, row.grid, row.budget, row.steps > 0 ? std::to_string(row.steps) : "-",
                             search_text(row.grid_search)};
  if (!row.failure.empty()) {
    c.push_back("failed: " + row.failure);
    c.resize(std::size(kColumns), "");
    return c;
  }
  c.push_back(fmt::format("{:.1f}", row.nfe_per_sample));
  c.push_back(row.ode ? sci(row.ode->median) : "-");
  c.push_back(row.ode ? sci(row.ode->mean) : "-");
  c.push_back(sci(row.metrics.sw2));
  c.push_back(sci(row.metrics.mean_error));
  c.push_back(sci(row.metrics.covariance_error));
  c.push_back(nll_text(row.metrics.nll));
  c.push_back(fmt::format("{:.3f}", row.wall_seconds));
  c.push_back(fmt::format("{:.4g}", row.samples_per_second));
  return c;
}

std::vector<std::string> floor_cells(const Truth& t, std::size_t truths, const std::string& name) {
  std::vector<std::string> c{truths > 1 ? fmt::format("{} (t_end {:g})", name, t.t_end) : name, "-", "-", "-", "-",
                             "-", "-", "-", sci(t.floor.sw2), sci(t.floor.mean_error), sci(t.floor.covariance_error),
                             nll_text(t.floor.nll), "-", "-"};
  return c;
}

std::string markdown_row(const std::vector<std::string>& cells) {
  std::string s = "|";
  for (const auto& c : cells) s += " " + c + " |";
  return s + "\n";
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return q + "\"";
}

std::string csv_number(double v) { return fmt::format("{:.9g}", v); }

// "mean,se" of an NLL or entropy, or two empty fields when the density is unknown.
std::string csv_nll(const std::optional<MeanSe>& nll) {
  return nll ? fmt::format("{},{}", csv_number(nll->mean), csv_number(nll->se)) : ",";
}

nlohmann::ordered_json json_nll(const std::optional<MeanSe>& nll) {
  return nll ? nlohmann::ordered_json{{"mean", nll->mean}, {"se", nll->se}} : nlohmann::ordered_json(nullptr);
}

// ---- plots ------------------------------------------------------------------------------------

// The runs of one sampler on one grid, in budget order: one line of a plot.
struct Series {
  std::string title;
  std::vector<const RunRow*> runs;
};

std::vector<Series> series_of(const ComparisonResults& r) {
  std::vector<Series> out;
  for (const auto& row : r.rows) {
    const std::string title = row.sampler + ", " + row.grid;
    auto s = std::find_if(out.begin(), out.end(), [&](const Series& x) { return x.title == title; });
    if (s == out.end()) s = out.insert(out.end(), Series{title, {}});
    s->runs.push_back(&row);
  }
  return out;
}

std::string gnuplot_string(const std::string& s) {
  std::string q = "'";
  for (char ch : s) q += ch == '\'' ? std::string("''") : std::string(1, ch);
  return q + "'";
}

// The text of a double-quoted gnuplot string (where \n is a line break).
std::string gnuplot_escaped(const std::string& s) {
  std::string q;
  for (char ch : s) q += ch == '"' || ch == '\\' ? std::string("\\") + ch : std::string(1, ch);
  return q;
}

std::string points_text(const Matrix& x) {
  std::string s;
  for (Eigen::Index i = 0; i < x.rows(); ++i) s += fmt::format("{:.6g} {:.6g}\n", x(i, 0), x(i, 1));
  return s;
}

struct PlotFiles {
  std::map<std::string, std::string> data;  // relative path -> content
  std::string script;
};

// A plot written twice, as PNG and as SVG, from the same gnuplot commands.
void add_plot(std::string& script, const std::string& name, int width, int height, const std::string& commands) {
  // noenhanced: the titles are literal text (t_end is no subscript).
  script += fmt::format("set terminal pngcairo noenhanced size {},{} font ',9'\nset output '{}.png'\n{}unset output\n",
                        width, height, name, commands);
  script += fmt::format(
      "set terminal svg noenhanced size {},{} font ',9' background '#ffffff'\nset output '{}.svg'\n{}unset output\n",
      width, height, name, commands);
}

std::string line_plot(const std::vector<Series>& series, const std::vector<std::size_t>& which, int column,
                      const std::string& ylabel, const std::string& title, std::optional<double> floor_value,
                      const std::string& floor_title = "exact vs exact") {
  std::string s = fmt::format(
      "reset\nset datafile missing '?'\nset logscale xy\nset grid\nset key outside right top\n"
      "set xlabel 'NFE per sample'\nset ylabel {}\nset title {}\n",
      gnuplot_string(ylabel), gnuplot_string(title));
  std::string plots;
  for (std::size_t k : which) {
    plots += fmt::format("{}'data/series_{}.dat' using 1:{} with linespoints title {}", plots.empty() ? "" : ", ", k,
                         column, gnuplot_string(series[k].title));
  }
  if (floor_value && *floor_value > 0) {
    plots += fmt::format(", {:.9g} with lines dashtype 2 lc 'black' title {}", *floor_value, gnuplot_string(floor_title));
  }
  return s + "plot " + plots + "\n";
}

// The side of a mosaic in pixels: mosaic_columns images and the blank pixels between them.
constexpr Eigen::Index mosaic_side = mosaic_columns * (image_side + 1) - 1;

// The first (up to) 64 rows of `x` as 8x8 images, 8 to a row of the mosaic, one blank (NaN:
// not drawn) pixel between them; pixel (i, j) of an image is coordinate 8 i + j. Always
// mosaic_side square (blank where x has fewer rows), so that every panel has the same scale.
std::string image_mosaic_text(const Matrix& x) {
  const Eigen::Index images = std::min<Eigen::Index>(x.rows(), mosaic_columns * mosaic_columns);
  const Eigen::Index step = image_side + 1;
  Matrix m = Matrix::Constant(mosaic_side, mosaic_side, std::numeric_limits<double>::quiet_NaN());
  for (Eigen::Index k = 0; k < images; ++k) {
    for (Eigen::Index i = 0; i < image_side; ++i) {
      m.block((k / mosaic_columns) * step + i, (k % mosaic_columns) * step, 1, image_side) =
          x.block(k, i * image_side, 1, image_side);
    }
  }
  std::string s;
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    for (Eigen::Index j = 0; j < m.cols(); ++j) {
      s += std::isnan(m(i, j)) ? std::string("NaN ") : fmt::format("{:.4g} ", m(i, j));
    }
    s += "\n";
  }
  return s;
}

// d = 64 (8x8 images, like the digits model): one panel of the partner set (exact samples or
// --data rows) and one per sampler and grid at its largest budget, on one gray scale (the
// partner's range: white is its largest value).
void add_image_grids(PlotFiles& f, const ComparisonResults& r, const std::vector<Series>& series,
                     const std::vector<std::size_t>& shown) {
  const Matrix& partner = r.truths.front().exact;
  struct ImagePanel {
    std::string file, title, subtitle;  // the title's two lines
  };
  std::vector<ImagePanel> panels{
      {"data/images_truth.dat", partner_name(r), fmt::format("t_end {:g}", r.truths.front().t_end)}};
  f.data[panels.front().file] = image_mosaic_text(partner);
  for (std::size_t k : shown) {
    const RunRow* largest = nullptr;
    for (const RunRow* run : series[k].runs) {
      if (run->failure.empty() && (!largest || run->nfe_per_sample > largest->nfe_per_sample)) largest = run;
    }
    const std::string file = fmt::format("data/images_{}.dat", k);
    f.data[file] = image_mosaic_text(largest->preview);
    const std::string budget = largest->grid == "adaptive" ? largest->budget : "NFE budget " + largest->budget;
    panels.push_back({file, series[k].title, fmt::format("{} ({:.0f} NFE)", budget, largest->nfe_per_sample)});
  }
  const std::size_t columns = std::min<std::size_t>(panels.size(), 4), rows = (panels.size() + columns - 1) / columns;
  std::string cmds = fmt::format(
      "reset\nunset key\nunset xtics\nunset ytics\nunset border\nunset colorbox\nset palette gray\n"
      "set cbrange [{:.6g}:{:.6g}]\nset size ratio -1\nset xrange [-0.5:{}.5]\nset yrange [{}.5:-0.5]\n"
      "set multiplot layout {},{} margins 0.01,0.99,0.01,0.93 spacing 0.02,0.08\n",
      partner.minCoeff(), partner.maxCoeff(), mosaic_side - 1, mosaic_side - 1, rows, columns);
  for (const auto& p : panels) {
    cmds += fmt::format("set title \"{}\\n{}\" font ',8'\nplot '{}' matrix with image\n", gnuplot_escaped(p.title),
                        gnuplot_escaped(p.subtitle), p.file);
  }
  cmds += "unset multiplot\n";
  const int panel = 260;
  add_plot(f.script, "images", static_cast<int>(columns) * panel, static_cast<int>(rows) * (panel + 30), cmds);
}

PlotFiles plot_files(const ComparisonResults& r) {
  PlotFiles f;
  const auto series = series_of(r);
  std::vector<std::size_t> all, deterministic;
  for (std::size_t k = 0; k < series.size(); ++k) {
    std::string text = "# NFE/sample  ODE_error_median  SW2  budget\n";
    bool any = false;
    for (const RunRow* run : series[k].runs) {
      if (!run->failure.empty()) continue;
      any = true;
      text += fmt::format("{:.6g} {} {:.6g} {}\n", run->nfe_per_sample, run->ode ? csv_number(run->ode->median) : "?",
                          run->metrics.sw2, gnuplot_string(run->budget));
    }
    f.data[fmt::format("data/series_{}.dat", k)] = text;
    if (!any) continue;
    all.push_back(k);
    if (series[k].runs.front()->deterministic) deterministic.push_back(k);
  }
  const int width = 900, height = 560;
  if (!deterministic.empty()) {
    add_plot(f.script, "error_vs_nfe", width, height,
             line_plot(series, deterministic, 2, "ODE error (median RMS per sample)",
                       "PF-ODE error against the tight reference", std::nullopt));
  }
  if (!all.empty()) {
    add_plot(f.script, "sw2_vs_nfe", width, height,
             line_plot(series, all, 3, "sliced W2 to " + partner_name(r),
                       r.settings.model.empty() ? "distance to the target" : "distance to the data",
                       r.truths.empty() ? std::nullopt : std::optional<double>(r.truths.front().floor.sw2),
                       r.settings.model.empty() ? "exact vs exact" : "data vs data"));
  }
  if (r.dim == image_side * image_side && !r.truths.empty() && !all.empty()) add_image_grids(f, r, series, all);
  if (r.dim == 2 && !r.truths.empty() && !all.empty()) {
    const Matrix& truth = r.truths.front().exact;
    const Matrix shown = truth.topRows(std::min<Eigen::Index>(preview_rows, truth.rows()));
    f.data["data/truth.dat"] = points_text(shown);
    const Eigen::RowVector2d lo = shown.colwise().minCoeff(), hi = shown.colwise().maxCoeff();
    const Eigen::RowVector2d pad = 0.1 * (hi - lo);
    std::size_t columns = 1;
    for (std::size_t k : all) columns = std::max(columns, series[k].runs.size() + 1);
    std::string cmds = fmt::format(
        "reset\nunset key\nunset xtics\nunset ytics\nset size ratio -1\nset xrange [{:.6g}:{:.6g}]\n"
        "set yrange [{:.6g}:{:.6g}]\nset multiplot layout {},{} margins 0.04,0.99,0.01,0.96 spacing 0.02,0.06\n",
        lo(0) - pad(0), hi(0) + pad(0), lo(1) - pad(1), hi(1) + pad(1), all.size(), columns);
    const std::string dots = "with points pt 7 ps 0.15 lc rgb '#1f4e9a'";
    for (std::size_t k : all) {
      cmds += fmt::format("set title \"{}\\n{}\" font ',8'\nplot 'data/truth.dat' {}\n",
                          gnuplot_escaped(series[k].title), partner_name(r), dots);
      std::size_t j = 0;
      for (const RunRow* run : series[k].runs) {
        ++j;
        if (!run->failure.empty()) {
          cmds += "set multiplot next\n";
          continue;
        }
        const std::string file = fmt::format("data/samples_{}_{}.dat", k, j);
        f.data[file] = points_text(run->preview);
        const std::string budget = run->grid == "adaptive" ? run->budget : "NFE budget " + run->budget;
        cmds += fmt::format("set title {}\nplot '{}' {}\n",
                            gnuplot_string(fmt::format("{} ({:.0f} NFE)", budget, run->nfe_per_sample)), file, dots);
      }
      for (; j + 1 < columns; ++j) cmds += "set multiplot next\n";
    }
    cmds += "unset multiplot\n";
    const int panel = 250;
    add_plot(f.script, "samples", static_cast<int>(columns) * panel, static_cast<int>(all.size()) * (panel + 24), cmds);
  }
  return f;
}

// ---- files ------------------------------------------------------------------------------------

// Writes through a temporary file renamed into place: a reader never sees half a file.
void write_text(const std::filesystem::path& path, const std::string& text) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) throw InvalidArgument(fmt::format("cannot write '{}': {}", path.string(), std::strerror(errno)));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw InvalidArgument(fmt::format("cannot write '{}': {}", path.string(), ec.message()));
}

// Runs `gnuplot plots.gp` in `dir`; "" or what went wrong.
std::string run_gnuplot(const std::string& dir) {
  const pid_t pid = ::fork();
  if (pid < 0) return fmt::format("cannot start gnuplot: {}", std::strerror(errno));
  if (pid == 0) {
    if (::chdir(dir.c_str()) != 0) ::_exit(126);
    // Its warnings (a line of a single point has an empty range) go to a log, not to the user.
    const int log = ::open("gnuplot.log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    ::execlp("gnuplot", "gnuplot", "plots.gp", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
    return "gnuplot not found: no plots (install Debian's gnuplot-nox, as scripts/setup does; then run "
           "gnuplot plots.gp in the report folder)";
  }
  return fmt::format("gnuplot failed: some plots may be missing (its messages are in {}/gnuplot.log)", dir);
}

}  // namespace

std::string plot_names(const ComparisonResults& r) {
  std::string names = "error_vs_nfe, sw2_vs_nfe";
  if (r.dim == 2) names += ", samples";
  if (r.dim == image_side * image_side) names += ", images";
  return names;
}

std::string report_markdown(const ComparisonResults& r) {
  const CompareSettings& s = r.settings;
  std::string md = "# tweedie compare\n\n";
  if (s.model.empty()) {
    md += fmt::format("- target: {} ({})\n", s.target, r.description);
  } else {
    md += fmt::format(
        "- model: {} ({}); reference: its own PF-ODE\n- data: {} ({} rows: rows 0..{} are the partner set of the "
        "distribution metrics, rows {}..{} the floor's, both diffused to t_end)\n",
        s.model, r.description, s.data, r.data_rows, s.count - 1, s.count, 2 * s.count - 1);
  }
  md += fmt::format("- family: {}; {} samples, seed {}, noise stream {}\n", r.family, s.count, s.seed, s.noise_stream);
  const std::string floors = s.model.empty() ? "exact-vs-exact" : "data-vs-data";
  for (const auto& t : r.truths) {
    const std::string entropy =
        t.floor.nll ? fmt::format("entropy of p(t_end) {:.4f} +- {:.4f} nats (Monte Carlo over {} exact samples)",
                                  t.floor.nll->mean, t.floor.nll->se, s.count)
                    : "NLL and entropy n/a (a model's density is not known in closed form)";
    md += fmt::format(
        "- runs ending at t_end = {:g}: reference dopri5 rtol = atol = {:g} from the same initial points ({:.0f} "
        "NFE/sample; dopri5 at {:g} differs from it by {:.1e} median, {:.1e} max); {}; {} floors: SW2 {:.3e}, mean "
        "err {:.3e}, cov err {:.3e}\n",
        t.t_end, s.reference_tolerance, t.reference_nfe, 10.0 * s.reference_tolerance, t.reference_check.median,
        t.reference_check.max, entropy, floors, t.floor.sw2, t.floor.mean_error, t.floor.covariance_error);
  }
  md += "\n";
  md += markdown_row(std::vector<std::string>(std::begin(kColumns), std::end(kColumns)));
  md += markdown_row(std::vector<std::string>(std::size(kColumns), "---"));
  for (const auto& row : r.rows) md += markdown_row(table_cells(row));
  const std::string floor_name = s.model.empty() ? "exact" : "data";
  for (const auto& t : r.truths) md += markdown_row(floor_cells(t, r.truths.size(), floor_name));
  if (s.model.empty()) {
    md += "\nODE error: per-sample RMS distance to the reference (deterministic samplers only). SW2, mean err, cov "
          "err and NLL (mean -log p(t_end) of the samples, against the entropy) compare with exact samples of the "
          "target at t_end; the exact row is their noise floor (docs/compare.md).\n";
  } else {
    md += "\nODE error: per-sample RMS distance to the reference, the model's own PF-ODE solved tightly (deterministic "
          "samplers only). SW2, mean err and cov err compare with --data rows diffused to t_end (the mean and "
          "covariance errors against those rows' sample mean and covariance); the data row is their noise floor. NLL "
          "is n/a: it needs the true density (docs/compare.md).\n";
  }
  return md;
}

std::string report_csv(const ComparisonResults& r) {
  std::string csv =
      "sampler,grid,budget,steps,deterministic,nfe_per_sample,ode_error_median,ode_error_mean,ode_error_max,sw2,"
      "mean_error,covariance_error,nll,nll_se,t_end,sw2_floor,mean_error_floor,covariance_error_floor,entropy,"
      "entropy_se,wall_seconds,samples_per_second,search_pilot_nfe,search_pilot_rows,search_trials,failure\n";
  auto floors = [](const Truth& t) {
    return fmt::format("{},{},{},{},{}", csv_number(t.t_end), csv_number(t.floor.sw2), csv_number(t.floor.mean_error),
                       csv_number(t.floor.covariance_error), csv_nll(t.floor.nll));
  };
  for (const auto& row : r.rows) {
    csv += fmt::format("{},{},{},{},{},", csv_field(row.sampler), csv_field(row.grid), csv_field(row.budget), row.steps,
                       row.deterministic ? 1 : 0);
    if (row.failure.empty()) {
      const std::string ode = row.ode ? fmt::format("{},{},{}", csv_number(row.ode->median), csv_number(row.ode->mean),
                                                    csv_number(row.ode->max))
                                      : ",,";
      csv += fmt::format("{},{},{},{},{},{},", csv_number(row.nfe_per_sample), ode, csv_number(row.metrics.sw2),
                         csv_number(row.metrics.mean_error), csv_number(row.metrics.covariance_error),
                         csv_nll(row.metrics.nll));
    } else {
      csv += ",,,,,,,,,";
    }
    const std::string search = row.grid_search ? fmt::format("{},{},{}", csv_number(row.grid_search->pilot_nfe),
                                                             row.grid_search->pilot_rows, row.grid_search->trials)
                                               : ",,";
    csv += fmt::format("{},{},{},{},{}\n", row.failure.empty() ? floors(r.truths[row.truth]) : ",,,,,",
                       row.failure.empty() ? csv_number(row.wall_seconds) : "",
                       row.failure.empty() ? csv_number(row.samples_per_second) : "", search, csv_field(row.failure));
  }
  return csv;
}

std::string report_json(const ComparisonResults& r) {
  using nlohmann::ordered_json;
  const CompareSettings& s = r.settings;
  auto given = [](const std::optional<double>& v) { return v ? ordered_json(*v) : ordered_json(nullptr); };
  ordered_json j;
  j["tweedie"] = {{"version", std::string(build_version())}, {"commit", std::string(build_commit())},
                  {"noise_stream_version", s.noise_stream}};
  ordered_json samplers = ordered_json::array();
  for (const auto& c : s.samplers) {
    ordered_json options = ordered_json::object();
    for (const auto& [k, v] : c.options.values()) options[k] = v;
    samplers.push_back({{"label", c.label}, {"name", c.name}, {"options", options}});
  }
  ordered_json grids = ordered_json::array();
  for (const auto& g : s.grids) grids.push_back(g ? *g : "default");
  auto text_or_null = [](const std::string& v) { return v.empty() ? ordered_json(nullptr) : ordered_json(v); };
  j["settings"] = {{"target", text_or_null(s.target)},
                   {"model", text_or_null(s.model)},
                   {"data", text_or_null(s.data)},
                   {"data_rows", r.data_rows},
                   {"description", r.description},
                   {"dim", r.dim},
                   // The family run (a model's own); the parameters as the flags gave them (null:
                   // not given: the family's default, or the model's own).
                   {"sde", {{"family", r.family},
                            {"beta_min", given(s.sde.beta_min)},
                            {"beta_max", given(s.sde.beta_max)},
                            {"sigma_min", given(s.sde.sigma_min)},
                            {"sigma_max", given(s.sde.sigma_max)},
                            {"cosine_s", given(s.sde.cosine_s)}}},
                   {"samplers", samplers},
                   {"grids", grids},
                   {"nfe", s.budgets},
                   {"tolerances", s.tolerances},
                   {"count", s.count},
                   {"seed", s.seed},
                   {"threads", s.execution.threads},
                   {"chunk", s.execution.chunk_rows},
                   {"projections", s.projections},
                   {"reference", {{"sampler", "dopri5"}, {"rtol", s.reference_tolerance}, {"atol", s.reference_tolerance}}}};
  ordered_json truths = ordered_json::array();
  for (const auto& t : r.truths) {
    truths.push_back({{"t_end", t.t_end},
                      {"reference_nfe_per_sample", t.reference_nfe},
                      {"reference_check", {{"tolerance", 10.0 * s.reference_tolerance},
                                           {"median", t.reference_check.median},
                                           {"max", t.reference_check.max}}},
                      // null without a closed-form density (--model)
                      {"entropy", t.floor.nll ? ordered_json{{"mean", t.floor.nll->mean},
                                                             {"se", t.floor.nll->se},
                                                             {"method", "monte carlo"}}
                                              : ordered_json(nullptr)},
                      {"floor", {{"sw2", t.floor.sw2},
                                 {"mean_error", t.floor.mean_error},
                                 {"covariance_error", t.floor.covariance_error}}}});
  }
  j["truths"] = truths;
  ordered_json rows = ordered_json::array();
  for (const auto& row : r.rows) {
    ordered_json o = {{"sampler", row.sampler},
                      {"grid", row.grid},
                      {"budget", row.budget},
                      {"steps", row.steps},
                      {"deterministic", row.deterministic}};
    if (row.grid_search) {
      const OptimizedGrid& g = *row.grid_search;
      auto measured = [](double e) { return std::isnan(e) ? ordered_json(nullptr) : ordered_json(e); };
      // The search's cost per pilot row; the pilot errors are null for the density grid (not measured).
      o["grid_search"] = {{"start", g.start},
                          {"start_error", measured(g.start_error)},
                          {"error", measured(g.error)},
                          {"trials", g.trials},
                          {"pilot_nfe_per_row", g.pilot_nfe},
                          {"pilot_rows", g.pilot_rows}};
    }
    if (!row.failure.empty()) {
      o["failure"] = row.failure;
    } else {
      o["truth"] = row.truth;
      o["nfe_per_sample"] = row.nfe_per_sample;
      if (row.ode) o["ode_error"] = {{"median", row.ode->median}, {"mean", row.ode->mean}, {"max", row.ode->max}};
      o["sw2"] = row.metrics.sw2;
      o["mean_error"] = row.metrics.mean_error;
      o["covariance_error"] = row.metrics.covariance_error;
      o["nll"] = json_nll(row.metrics.nll);  // null without a closed-form density (--model)
      o["wall_seconds"] = row.wall_seconds;
      o["samples_per_second"] = row.samples_per_second;
    }
    rows.push_back(o);
  }
  j["rows"] = rows;
  return j.dump(2) + "\n";
}

std::string write_report(const ComparisonResults& r, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(fs::path(dir) / "data", ec);
  if (ec) throw InvalidArgument(fmt::format("--report: cannot create '{}': {}", dir, ec.message()));
  const PlotFiles plots = plot_files(r);
  for (const auto& [file, text] : plots.data) write_text(fs::path(dir) / file, text);
  write_text(fs::path(dir) / "plots.gp", plots.script);
  write_text(fs::path(dir) / "results.csv", report_csv(r));
  write_text(fs::path(dir) / "report.json", report_json(r));
  write_text(fs::path(dir) / "report.md", report_markdown(r));
  return plots.script.empty() ? "no plots: every run failed" : run_gnuplot(dir);
}

}  // namespace tweedie::cli
