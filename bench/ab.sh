#!/usr/bin/env bash
# Two builds of one benchmark program, alternated: ROUNDS runs of each, A then B, and per case the
# minimum and median real time of each and their ratios. On a shared machine whose speed drifts
# between minutes, alternating and taking the minimum is what makes the ratio of two builds mean
# something (docs/benchmarks.md).
#
#   bench/ab.sh 5 '^times/' OLD/bench/bench_score NEW/bench/bench_score --benchmark_min_time=0.2
set -euo pipefail
if [[ $# -lt 4 ]]; then
  echo "usage: $0 ROUNDS FILTER PROGRAM_A PROGRAM_B [benchmark flags...]" >&2
  exit 2
fi
rounds=$1 filter=$2 a=$3 b=$4
shift 4
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for _ in $(seq "$rounds"); do
  for side in A B; do
    program=$a
    [[ $side == B ]] && program=$b
    "$program" --benchmark_filter="$filter" --benchmark_format=csv "$@" 2>/dev/null |
      awk -F, -v side="$side" 'NR > 1 && $1 !~ /_(mean|median|stddev|cv)"?$/ {
        t = $3; u = $5; gsub(/"/, "", u)
        if (u == "ns") t /= 1e6; else if (u == "us") t /= 1e3; else if (u == "s") t *= 1e3
        gsub(/"/, "", $1); print $1, t }' >> "$out/$side"
  done
done
/usr/bin/python3 - "$out/A" "$out/B" <<'PY'
import collections, statistics, sys
def load(path):
    runs = collections.defaultdict(list)
    for line in open(path):
        name, ms = line.split()
        runs[name].append(float(ms))
    return runs
a, b = load(sys.argv[1]), load(sys.argv[2])
print(f"{'case (ms)':58s} {'A min':>9s} {'A med':>9s} {'B min':>9s} {'B med':>9s} {'A/B min':>8s} {'A/B med':>8s}")
for name in a:
    if name not in b:
        continue
    am, bm = min(a[name]), min(b[name])
    ad, bd = statistics.median(a[name]), statistics.median(b[name])
    print(f"{name:58s} {am:9.3f} {ad:9.3f} {bm:9.3f} {bd:9.3f} {am / bm:8.2f} {ad / bd:8.2f}")
PY
