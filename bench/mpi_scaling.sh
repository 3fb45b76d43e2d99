#!/usr/bin/env bash
# Throughput of `tweedie sample` over MPI ranks (docs/benchmarks.md, "Sampling over MPI ranks"):
# strong scaling (N samples in all) and weak scaling (N per rank), 1, 2 and 3 ranks of one
# thread each, against one process of 1 and 2 threads. Prints a markdown table: samples/s as the
# program reports it (all samples over the slowest rank's computation) and end to end (the
# whole command, mpirun's start-up included), the best of REPEATS runs.
# Usage: bench/mpi_scaling.sh TWEEDIE [N] [REPEATS]
set -euo pipefail
tweedie=$1 n=${2:-20000} repeats=${3:-3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
launch=(mpirun -q --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
problem=(sample --target builtin:ring --sampler em --steps 100 --seed 1)

# run RANKS THREADS SAMPLES: "reported end-to-end" samples/s, the best of the repeats.
run() {
  local ranks=$1 threads=$2 samples=$3 best_rate=0 best_e2e=0 i start end line rate e2e
  for ((i = 0; i < repeats; i++)); do
    start=$(date +%s.%N)
    if [ "$ranks" -eq 0 ]; then
      line=$("$tweedie" "${problem[@]}" -n "$samples" --threads "$threads" --out "$scratch/x.npy")
    else
      line=$("${launch[@]}" -np "$ranks" "$tweedie" "${problem[@]}" -n "$samples" --threads "$threads" \
             --out "$scratch/x.npy")
    fi
    end=$(date +%s.%N)
    rate=$(sed -E 's/.* ([0-9.e+]+) samples\/s.*/\1/' <<<"$line")
    e2e=$(awk -v n="$samples" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
    best_rate=$(awk -v a="$best_rate" -v b="$rate" 'BEGIN { print (b > a ? b : a) }')
    best_e2e=$(awk -v a="$best_e2e" -v b="$e2e" 'BEGIN { print (b > a ? b : a) }')
  done
  echo "$best_rate $best_e2e"
}

echo "| scaling | processes | samples | samples/s (reported) | samples/s (end to end) |"
echo "|---|---|---:|---:|---:|"
for threads in 1 2; do
  read -r r e < <(run 0 "$threads" "$n")
  echo "| - | 1 process, $threads thread(s) | $n | $r | $e |"
done
for ranks in 1 2 3; do
  read -r r e < <(run "$ranks" 1 "$n")
  echo "| strong | $ranks rank(s) x 1 thread | $n | $r | $e |"
done
for ranks in 1 2 3; do
  read -r r e < <(run "$ranks" 1 $((n / 2 * ranks)))
  echo "| weak | $ranks rank(s) x 1 thread | $((n / 2 * ranks)) | $r | $e |"
done
echo
echo "load average during the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
