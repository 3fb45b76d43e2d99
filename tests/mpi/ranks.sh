#!/usr/bin/env bash
# The program under mpirun: -np 1, 2 and 3 give one process's bits (and its summary's counts) for
# sample (a stochastic and an adaptive sampler, heun on the optimised grid), likelihood (Hutchinson
# probes), elbo, encode and decode, and compare's report (on the default and optimised grids, but
# its wall times); an error, raised on every rank or on one rank only (rank 0's optimised grid),
# ends all ranks with one line on standard error, status 2 and no output file, and SIGINT to one
# rank ends all of them with status 130.
# Usage: ranks.sh TWEEDIE MPIRUN SCRATCH. Exits 77 (CTest's skip) without mpirun.
set -euo pipefail
tweedie=$1 mpirun=${2:-} scratch=$3
if [ -z "$mpirun" ] || [ ! -x "$mpirun" ]; then
  echo "mpirun not found: skipped"
  exit 77
fi
rm -rf "$scratch" && mkdir -p "$scratch" && cd "$scratch"
# -q: no notice of mpirun's own about exit statuses; --bind-to none: Open MPI would bind each of
# one or two ranks to a core, and oneTBB warns when a rank asks for more threads than its cores.
launch=("$mpirun" -q --oversubscribe --bind-to none)
[ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }

# The summary's counts, without its times and rates (which differ from run to run).
counts() { sed -E 's/[0-9.e+-]+ s(amples\/s)?\b//g; s/, [0-9]+ ranks//; s/ -> [^ ,]+//' "$1"; }

# same NAME ARGS...: one process, then 1, 2 and 3 ranks (RANKS, if set) of 2, 1 and 1 threads
# (chunks of 2 rows, so that ranks hold several chunks), must write the same bytes and report the
# same counts.
same() {
  local name=$1
  shift
  "$tweedie" "$@" --out "$name.ref.npy" >"$name.ref.txt"
  local np threads
  for np in ${RANKS:-1 2 3}; do
    threads=$((np == 1 ? 2 : 1))
    "${launch[@]}" -np "$np" "$tweedie" "$@" --threads "$threads" --out "$name.$np.npy" >"$name.$np.txt"
    cmp -s "$name.ref.npy" "$name.$np.npy" || fail "$name: -np $np differs from one process"
    [ "$(counts "$name.ref.txt")" = "$(counts "$name.$np.txt")" ] ||
      fail "$name: -np $np reports '$(counts "$name.$np.txt")', one process '$(counts "$name.ref.txt")'"
  done
}

# fails NAME ARGS...: one process and 3 ranks exit with status 2, one and the same line on
# standard error, and no output file.
fails() {
  local name=$1
  shift
  local status=0
  "$tweedie" "$@" --out "$name.ref.npy" >/dev/null 2>"$name.ref.err" || status=$?
  [ "$status" -eq 2 ] || fail "$name: one process exits with $status"
  [ "$(wc -l <"$name.ref.err")" -eq 1 ] || fail "$name: one process says $(cat "$name.ref.err")"
  status=0
  "${launch[@]}" -np 3 "$tweedie" "$@" --out "$name.3.npy" >/dev/null 2>"$name.3.err" || status=$?
  [ "$status" -eq 2 ] || fail "$name: 3 ranks exit with $status"
  cmp -s "$name.ref.err" "$name.3.err" || fail "$name: 3 ranks say '$(cat "$name.3.err")', one process '$(cat "$name.ref.err")'"
  [ ! -e "$name.3.npy" ] || fail "$name: 3 ranks wrote $name.3.npy"
}

ring=(--target builtin:ring --seed 3 --chunk 2)
same em sample "${ring[@]}" --sampler em --steps 20 -n 7
same adaptive_sde sample "${ring[@]}" --sampler adaptive-sde -n 7
# --trajectory: rank 0 gathers every rank's states into one process's bytes (with -n 2, rank 2
# of 3 has no rows).
for n in 7 2; do
  traj=(sample "${ring[@]}" --sampler em --steps 10 -n "$n" --every 3)
  "$tweedie" "${traj[@]}" --trajectory "traj$n.ref.npy" --out "traj$n.x.npy" >/dev/null
  for np in 2 3; do
    "${launch[@]}" -np "$np" "$tweedie" "${traj[@]}" --threads 1 --trajectory "traj$n.$np.npy" --out "traj$n.x.npy" >/dev/null
    cmp -s "traj$n.ref.npy" "traj$n.$np.npy" || fail "trajectory -n $n: -np $np differs from one process"
  done
done
"$tweedie" sample "${ring[@]}" --sampler euler --steps 20 -n 7 --out data.npy >/dev/null
same likelihood likelihood "${ring[@]}" --data data.npy --divergence hutchinson --probes 2
same elbo elbo "${ring[@]}" --data data.npy --draws 8
same encode encode "${ring[@]}" --data data.npy
same decode decode "${ring[@]}" --latent encode.ref.npy
# Two samples on three ranks: a rank without samples.
RANKS=3 same few sample "${ring[@]}" --sampler em --steps 5 -n 2
# --grid optimized: rank 0 alone makes the pilot and the search and broadcasts the grid (the
# summary's search cost is rank 0's, one process's).
same optimized sample "${ring[@]}" --sampler heun --grid optimized --steps 6 -n 7
grep -q "optimized grid: .* trials" optimized.3.txt || fail "optimized: -np 3 names no search cost"

# Rows 0..6 in blocks [0, 3), [3, 5), [5, 7) over 3 ranks; write_init NAME ROW VALUE ... writes a
# (7, 2) .npy of small values with the given rows set to VALUE.
write_init() {
  local name=$1
  shift
  /usr/bin/python3 - "$name" "$@" <<'PY'
import struct, sys
rows = {int(sys.argv[i]): sys.argv[i + 1] for i in range(2, len(sys.argv), 2)}
header = "{'descr': '<f8', 'fortran_order': False, 'shape': (7, 2), }"
header += " " * (63 - len(header) % 64) + "\n"
with open(sys.argv[1], "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    for i in range(7):
        v = float(rows.get(i, 0.1 * i))
        f.write(struct.pack("<2d", v, -v))
PY
}
# Refused on every rank (the whole input is checked everywhere): the message of one process.
write_init nan_init.npy 6 nan
fails nan_init sample "${ring[@]}" --sampler em --steps 20 --init nan_init.npy
fails bad_data likelihood "${ring[@]}" --data nan_init.npy
# Non-finite on rank 2 only, then on ranks 1 and 2: the lowest failing sample's message.
write_init huge_one.npy 6 1e300
fails overflow_rank2 sample "${ring[@]}" --sampler em --steps 20 --init huge_one.npy
fails overflow_encode encode "${ring[@]}" --data huge_one.npy
# Refused by the search on rank 0 alone (an EDM grid to sigma = 0 of one step): every rank ends.
fails optimized_one_step sample --target builtin:ring --sde edm --seed 3 --sampler heun --grid optimized --steps 1 -n 7
write_init huge_two.npy 4 1e300 6 1e300
fails overflow_ranks12 sample "${ring[@]}" --sampler em --steps 20 --init huge_two.npy
grep -q "sample 4" overflow_ranks12.3.err || fail "overflow_ranks12: the message does not name sample 4"
# compare: every run and reference solution split over the ranks, rank 0 measuring; the report's
# CSV and JSON are one process's but for the wall times and rates (the slowest rank's).
untimed() {
  /usr/bin/python3 - "$1" <<'PY'
import csv, json, sys
folder = sys.argv[1]
timing = ("wall_seconds", "samples_per_second")
rows = list(csv.DictReader(open(folder + "/results.csv")))
print([{k: v for k, v in r.items() if k not in timing} for r in rows])
report = json.load(open(folder + "/report.json"))
for r in report["rows"]:
    for k in timing:
        r.pop(k, None)
print(json.dumps(report, sort_keys=True))
PY
}
compare=(compare --target builtin:ring2d --samplers euler,em --grids default,optimized --nfe 5,10 -n 13 --seed 3 --chunk 2 --threads 1)
"$tweedie" "${compare[@]}" --report compare.ref >/dev/null
untimed compare.ref >compare.ref.txt
for np in 1 2 3; do
  "${launch[@]}" -np "$np" "$tweedie" "${compare[@]}" --report "compare.$np" >compare.$np.out
  untimed "compare.$np" >"compare.$np.txt"
  cmp -s compare.ref.txt "compare.$np.txt" || fail "compare: -np $np's report differs from one process"
  grep -q "^| euler " "compare.$np.out" || fail "compare: -np $np printed no table"
done
# Refused on every rank, or failing on rank 0 alone after the runs (its report folder is a
# file): one line, status 2, no report folder.
status=0
"${launch[@]}" -np 3 "$tweedie" "${compare[@]}" --nfe 0 --report compare.bad >/dev/null 2>compare.bad.err || status=$?
[ "$status" -eq 2 ] && [ "$(wc -l <compare.bad.err)" -eq 1 ] && [ ! -e compare.bad ] ||
  fail "compare --nfe 0: 3 ranks exit with $status, print '$(cat compare.bad.err)'"
touch compare.file
status=0
"${launch[@]}" -np 3 "$tweedie" "${compare[@]}" --report compare.file/report >/dev/null 2>compare.file.err || status=$?
[ "$status" -eq 2 ] && [ "$(wc -l <compare.file.err)" -eq 1 ] && grep -q "^tweedie: error: --report: cannot create" compare.file.err ||
  fail "compare into a file: 3 ranks exit with $status, print '$(cat compare.file.err)'"

# SIGINT to rank 1 alone, once it is computing: it stops after its running chunk, rank 0 computes
# its block to the end and meets the interrupt at the exchange; every rank exits with 130, rank
# 0 printing the one line, and nothing is written.
"${launch[@]}" -np 2 "$tweedie" sample "${ring[@]}" --sampler em --steps 200 -n 2000 --threads 1 \
  --out interrupted.npy >/dev/null 2>interrupted.err &
launcher=$!
rank1=""
for _ in $(seq 400); do  # the ranks start; rank 1 catches SIGINT once it is in its command
  for pid in $(pgrep -P "$launcher" || true); do
    caught=$(awk '/^SigCgt:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$caught" ] && [ $((0x$caught & 2)) -ne 0 ] &&
      tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && rank1=$pid
  done
  [ -n "$rank1" ] && break
  sleep 0.02
done
[ -n "$rank1" ] && { kill -INT "$rank1" || fail "interrupt: rank 1 ended before its SIGINT"; }
status=0
wait "$launcher" || status=$?
[ -n "$rank1" ] || fail "interrupt: rank 1 not found"
[ "$status" -eq 130 ] && [ "$(cat interrupted.err)" = "tweedie: interrupted" ] && [ ! -e interrupted.npy ] ||
  fail "interrupt of rank 1: status $status, '$(cat interrupted.err)'"

[ "$failures" -eq 0 ] || exit 1
echo "all ranks agree"
