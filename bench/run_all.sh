#!/usr/bin/env bash
# Runs every benchmark program with 3 repetitions (medians reported) and writes, for each program,
# its console table (PROGRAM.txt) and Google Benchmark JSON (PROGRAM.json) to OUT, then the
# markdown tables of docs/benchmarks.md to OUT/summary.md (bench/summarize.py).
#
#   bench/run_all.sh [BIN_DIR=build/release/bench] [OUT=bench-results] [PROGRAM...]
#
# Each benchmark waits (untimed, at most TWEEDIE_BENCH_WAIT_IDLE seconds, default 60) until the
# other processes on the machine use less than TWEEDIE_BENCH_IDLE_CORES cores (default 0.15),
# and reports what they used while it ran as the counter others_cores: rerun the lines where it
# is not close to 0.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/release/bench}
out=${2:-bench-results}
shift $(( $# > 2 ? 2 : $# ))
programs=("$@")
if [ ${#programs[@]} -eq 0 ]; then
  programs=(bench_score bench_score_variants bench_noise bench_update bench_sampling bench_likelihood)
fi
mkdir -p "$out"
export TWEEDIE_BENCH_WAIT_IDLE=${TWEEDIE_BENCH_WAIT_IDLE:-60}
for p in "${programs[@]}"; do
  "$bin/$p" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true --benchmark_min_time=0.3 \
    --benchmark_out="$out/$p.json" --benchmark_out_format=json | tee "$out/$p.txt"
done
python3 "$here/summarize.py" "$out" > "$out/summary.md"
echo "tables: $out/summary.md"
