#!/usr/bin/env python3
"""Where the time of a benchmark goes, by category, from `perf report` (self time per symbol).

    perf record -F 2000 -g -o perf.data build/release/bench/bench_sampling \
        --benchmark_filter='^euler/d:64/n:10000/threads:1/min' --benchmark_min_time=3
    python3 bench/perf_breakdown.py perf.data [--symbols]

A build with -g -fno-omit-frame-pointer gives the same code with better symbols
(-DCMAKE_CXX_FLAGS="-g -fno-omit-frame-pointer"). The categories are regular expressions on the
symbol names; anything unmatched is listed under "other" (--symbols prints every symbol).
"""
import re
import subprocess
import sys

CATEGORIES = [
    ("model: Eigen GEMM (gebp kernel, packing)", r"gebp_kernel|gemm_pack|general_matrix_matrix|gemm_functor|parallelize_gemm"),
    ("model: exp in the softmax (glibc, scalar)", r"__ieee754_exp|^exp@|__exp\b|__exp_fma|^exp$"),
    ("model: evaluate_run's own element-wise work", r"evaluate_run|evaluate_all"),
    ("model: marginal tables (per call)", r"marginal_tables"),
    ("model: GaussianMixture::score, wrapper", r"GaussianMixture::score|MixtureScoreModel|FunctionModel|_Function_handler|ModelTimer"),
    ("noise: sincos (Box-Muller)", r"sincos"),
    ("noise: log (Box-Muller)", r"__ieee754_log|^log@|__log_fma|^log$"),
    ("noise: Philox + conversion (PhiloxNoise::normal)", r"PhiloxNoise::normal|philox"),
    ("sampler: finiteness checks (allFinite)", r"check_output|check_state|allFinite|first_non_finite"),
    ("sampler: Euler update (axpy)", r"euler_step|EulerKernel::run|ReverseDynamics|assign_impl|call_dense_assignment"),
    ("sampler: prediction conversion", r"convert_prediction|evaluate_as|ChunkContext::predict"),
    ("memory: memset/memcpy/malloc/free, page faults", r"memset|memcpy|memmove|malloc|free|_int_|clear_page|page_fault|handle_mm|do_anonymous|asm_exc|alloc_pages|rmqueue|__mem"),
    ("driver, TBB", r"tweedie::sample|for_each_chunk|tbb|arena|isolate"),
]


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    data = sys.argv[1]
    report = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "sym", "--stdio", "-g", "none",
         "--percent-limit", "0"],
        check=True, capture_output=True, text=True).stdout
    totals = {name: 0.0 for name, _ in CATEGORIES}
    totals["other"] = 0.0
    symbols = []
    for line in report.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*)$", line)
        if not m:
            continue
        pct, sym = float(m.group(1)), m.group(2).strip()
        symbols.append((pct, sym))
        for name, pattern in CATEGORIES:
            if re.search(pattern, sym):
                totals[name] += pct
                break
        else:
            totals["other"] += pct
    print("| where | share of samples |")
    print("|---|---|")
    for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        if pct >= 0.05:
            print(f"| {name} | {pct:.1f} % |")
    if "--symbols" in sys.argv:
        print()
        for pct, sym in symbols:
            if pct >= 0.2:
                print(f"{pct:6.2f}%  {sym[:150]}")


if __name__ == "__main__":
    main()
