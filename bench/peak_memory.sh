#!/usr/bin/env bash
# Peak resident memory (the kernel's ru_maxrss, through GNU time) of the tweedie program at the
# sizes of issue 12, against the bytes of what it holds anyway (its output, and its input):
#   sample 10^6 x 64 (the output: 512 MB of doubles) and the log-likelihood of 10^5 points in 64
#   dimensions (input 51 MB, output 10^5 values).
# Usage: bench/peak_memory.sh [TWEEDIE_PROGRAM] (default build/release/tweedie); needs /usr/bin/time.
set -euo pipefail
cli=${1:-build/release/tweedie}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A 64-dimensional mixture of 4 diagonal components (means +-1 on alternate axes).
/usr/bin/python3 - "$work/t64.json" <<'PY'
import json, sys
d, k = 64, 4
means = [[(1.0 if (i + c) % 2 else -1.0) * (1 + c % 2) for i in range(d)] for c in range(k)]
json.dump({"weights": [1] * k, "means": means, "stds": [[0.5] * d] * k}, open(sys.argv[1], "w"))
PY
peak() {  # peak() LABEL REFERENCE_BYTES COMMAND...: prints the peak RSS and its ratio to REFERENCE_BYTES
  local label=$1 reference=$2
  shift 2
  /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null
  local kib
  kib=$(tail -n 1 "$work/rss")
  awk -v l="$label" -v k="$kib" -v r="$reference" \
    'BEGIN { printf "%-44s peak RSS %8.1f MB  = %.2f x %.1f MB\n", l, k / 1024, k * 1024 / r, r / 1048576 }'
}
common=(--target "$work/t64.json" --sde vp --seed 1 --threads 2)
peak "sample 1e6 x 64 (em, 10 steps) / output" $((1000000 * 64 * 8)) \
  "$cli" sample "${common[@]}" --sampler em --steps 10 -n 1000000 --out "$work/s.npy"
"$cli" sample "${common[@]}" --sampler em --steps 10 -n 100000 --out "$work/x.npy" >/dev/null
peak "likelihood 1e5 x 64 (rtol 1e-3) / input" $((100000 * 64 * 8)) \
  "$cli" likelihood "${common[@]}" --rtol 1e-3 --atol 1e-3 --data "$work/x.npy" --out "$work/l.npy"
