#!/usr/bin/env python3
"""Markdown tables from the Google Benchmark JSON files that bench/run_all.sh writes.

    python3 bench/summarize.py RESULTS_DIR > summary.md

Every figure is the median over the repetitions (--benchmark_repetitions=3); `cv` is the
coefficient of variation of the wall time over them, `others` the largest CPU use of other
processes during a repetition (in cores; 0 = quiet machine).
"""
import json
import re
import sys
from pathlib import Path


def load(path):
    """{run name: {aggregate name: record}} of one program's JSON file."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    runs = {}
    for b in data["benchmarks"]:
        name = re.sub(r"/(min_time:[^/]*|real_time)", "", b.get("run_name", b["name"]))
        agg = b.get("aggregate_name", "")
        if b.get("run_type") == "aggregate":
            runs.setdefault(name, {})[agg] = b
        else:  # a run without repetitions: treat it as its own median
            runs.setdefault(name, {})["median"] = b
    return runs


def med(runs, name, key):
    r = runs.get(name, {}).get("median")
    return None if r is None else r.get(key)


def cv(runs, name):
    r = runs.get(name, {}).get("cv")
    return None if r is None else 100.0 * r.get("real_time", 0.0)


def others(runs, name):
    vals = [r.get("others_cores") for k, r in runs.get(name, {}).items() if k in ("mean", "median")]
    vals = [v for v in vals if v is not None]
    return max(vals) if vals else None


def fmt(x, spec=".3g", none="–"):
    return none if x is None else format(x, spec)


def mega(x):
    return "–" if x is None else f"{x / 1e6:.3g}"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def sampling(runs):
    if not runs:
        return ""
    s = ["### Samplers (bench_sampling): K = 10, 10 steps, chunk 256\n\n"]
    s.append("Throughput in millions of samples x NFE per second; ns/eval = wall time of one step of "
             "one sample; model = time inside the model per sample and step; outside = share of the "
             "1-thread run outside the model; speed-up = 2-thread over 1-thread throughput, "
             "same run.\n\n")
    header = ["sampler", "d", "n", "1 thr M/s", "ns/eval", "model ns", "outside %", "2 thr M/s",
              "2 thr outside %", "speed-up", "cv % (1/2)", "others"]
    rows = []
    for sampler in ("em", "euler"):
        for d in (2, 16, 64, 256):
            for n in (100, 10000, 100000):
                one, two = f"{sampler}/d:{d}/n:{n}/threads:1", f"{sampler}/d:{d}/n:{n}/threads:2"
                if one not in runs:
                    continue
                r1, r2 = med(runs, one, "items_per_second"), med(runs, two, "items_per_second")
                oth = [o for o in (others(runs, one), others(runs, two)) if o is not None]
                rows.append([sampler, d, n, mega(r1), fmt(med(runs, one, "ns_per_eval"), ".4g"),
                             fmt(med(runs, one, "model_ns_per_eval"), ".4g"),
                             fmt(med(runs, one, "outside_pct"), ".1f"), mega(r2),
                             fmt(med(runs, two, "outside_pct"), ".1f"),
                             fmt(r2 / r1 if r1 and r2 else None, ".2f"),
                             f"{fmt(cv(runs, one), '.1f')}/{fmt(cv(runs, two), '.1f')}",
                             fmt(max(oth) if oth else None, ".2f")])
    s.append(table(header, rows))
    rows = []
    for sampler in ("em", "euler"):
        for n in (10000, 100000):
            name = f"{sampler}/d:64/n:{n}/threads:1/steps:100"
            if name in runs:
                rows.append([sampler, 64, n, mega(med(runs, name, "items_per_second")),
                             fmt(med(runs, name, "ns_per_eval"), ".4g"),
                             fmt(med(runs, name, "model_ns_per_eval"), ".4g"),
                             fmt(med(runs, name, "outside_pct"), ".1f"), fmt(others(runs, name), ".2f")])
    if rows:
        s.append("\nThe same on a 100-step grid (1 thread):\n\n")
        s.append(table(["sampler", "d", "n", "M/s", "ns/eval", "model ns", "outside %", "others"], rows))
    rows = []
    for sampler in ("em", "euler"):
        for d in (2, 16, 64, 256):
            name = f"speedup/{sampler}/d:{d}/n:10000"
            if name in runs:
                rows.append([sampler, d, 10000, fmt(med(runs, name, "speedup"), ".2f"),
                             fmt(others(runs, name), ".2f")])
    if rows:
        s.append("\nInterleaved 1-thread / 2-thread runs (speedup/...): median over iterations of "
                 "time(1 thread) / time(2 threads), each pair run back to back.\n\n")
        s.append(table(["sampler", "d", "n", "speed-up", "others"], rows))
    return "".join(s)


def score(runs):
    if not runs:
        return ""
    aims = {"d:64/K:10": 1.5e6, "d:16/K:6": 5e6}
    rows = []
    for name in runs:
        r = med(runs, name, "items_per_second")
        per = med(runs, name, "per_thread")
        shape = re.search(r"d:\d+/K:\d+", name).group(0)
        aim = aims.get(shape)
        applies = aim is not None and (name.endswith("chunk:256") or name.startswith("parallel/"))
        verdict = f"{'met' if per >= aim else 'missed'} ({per / aim:.2f}x of {aim:.2g})" if applies else "–"
        rows.append([name, mega(r), mega(per), verdict, fmt(cv(runs, name), ".1f"),
                     fmt(others(runs, name), ".2f")])
    return ("### The exact score alone (bench_score): 10^4 rows, VP, t = 0.5\n\n" +
            table(["benchmark", "M evals/s", "M evals/s/thread", "aim", "cv %", "others"], rows))


def variants(runs):
    if not runs:
        return ""
    rows = []
    for shape in ("d:64/K:10", "d:16/K:6", "d:256/K:10", "d:2/K:10"):
        base = med(runs, f"library/{shape}", "items_per_second")
        for v in ("library", "copy", "vexp", "lean", "cached"):
            name = f"{v}/{shape}"
            if name not in runs:
                continue
            r = med(runs, name, "items_per_second")
            rows.append([shape, v, mega(r), fmt(r / base if base and r else None, ".2f"),
                         fmt(med(runs, name, "max_rel_diff"), ".2g"), fmt(others(runs, name), ".2f")])
    return ("### Score prototypes (bench_score_variants): 10^4 rows, 256 a call, 1 thread\n\n" +
            table(["shape", "variant", "M evals/s", "x library", "max rel diff", "others"], rows))


def noise(runs):
    if not runs:
        return ""
    rows = []
    for name in runs:
        rows.append([name, mega(med(runs, name, "items_per_second")),
                     fmt(1e9 / med(runs, name, "items_per_second"), ".3g"),
                     fmt(med(runs, name, "max_abs_diff"), ".2g"), fmt(others(runs, name), ".2f")])
    return ("### Noise (bench_noise): one 256 x d block\n\n" +
            table(["benchmark", "M normals/s", "ns/normal", "max abs diff", "others"], rows))


def update(runs):
    if not runs:
        return ""
    rows = []
    for name in runs:
        r = med(runs, name, "items_per_second")
        d = int(re.search(r"d:(\d+)", name).group(1))
        rows.append([name, fmt(r / 1e9, ".3g"), fmt(1e9 * d / r, ".3g"), fmt(others(runs, name), ".2f")])
    return ("### The sampler's own arithmetic (bench_update): one 256 x d chunk\n\n" +
            table(["benchmark", "G entries/s", "ns per row", "others"], rows))


def likelihood(runs):
    if not runs:
        return ""
    rows = []
    for name in runs:
        m = re.match(r"likelihood/([^/]+)/n:(\d+)/threads:(\d+)", name)
        if not m:
            continue
        div, n, threads = m.group(1), int(m.group(2)), int(m.group(3))
        wall = med(runs, name, "real_time")  # ms, one call of log_likelihood
        rows.append([div, threads, n, fmt(med(runs, name, "nfe_per_sample"), ".1f"),
                     f"{fmt(med(runs, name, 'steps_per_sample'), '.1f')} + "
                     f"{fmt(med(runs, name, 'rejected_per_sample'), '.2f')}",
                     fmt(wall / 1e3 if wall else None, ".2f"), fmt(med(runs, name, "samples_per_s"), ".4g"),
                     fmt(med(runs, name, "model_pct"), ".1f"), fmt(med(runs, name, "max_abs_err"), ".2e"),
                     fmt(med(runs, name, "mean_abs_err"), ".2e"), fmt(med(runs, name, "mean_err"), "+.2e"),
                     fmt(med(runs, name, "err_sd"), ".2e"),
                     fmt(med(runs, name, "prior_mismatch"), "+.2e"), fmt(cv(runs, name), ".1f"),
                     fmt(others(runs, name), ".2f")])
    return ("### Likelihoods (bench_likelihood): d = 16, K = 6, VP, rtol = atol = 1e-5, t_min = 1e-5\n\n" +
            table(["divergence", "threads", "n", "NFE/sample", "steps + rejected", "wall s", "samples/s",
                   "model %", "max abs err", "mean abs err", "mean err", "sd err", "N(0, I) prior mismatch", "cv %",
                   "others"], rows))


def context(path):
    for f in sorted(path.glob("*.json")):
        c = json.loads(f.read_text())["context"]
        return (f"Context: {c.get('num_cpus')} CPUs at {c.get('mhz_per_cpu')} MHz, "
                f"load average {c.get('load_avg')}, library build type of Google Benchmark: "
                f"{c.get('library_build_type')}, date {c.get('date')}.\n\n")
    return ""


def main():
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results")
    parts = [context(path),
             score(load(path / "bench_score.json")),
             variants(load(path / "bench_score_variants.json")),
             noise(load(path / "bench_noise.json")),
             update(load(path / "bench_update.json")),
             sampling(load(path / "bench_sampling.json")),
             likelihood(load(path / "bench_likelihood.json"))]
    print("\n".join(p for p in parts if p))


if __name__ == "__main__":
    main()
