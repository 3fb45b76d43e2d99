"""End to end: n samples of the shipped digits model with DPM-Solver++(2M), 20 steps, tweedie's CLI
against LuChengTHU/dpm-solver's dpm_solver_pytorch.py driving the same network in PyTorch.

    /usr/bin/python3 bench/bench_digits_e2e.py --dpm-solver PATH/dpm_solver_pytorch.py \
        --tweedie build/release/tweedie [--n 100000] [--threads 2] [--repeats 3] [--workdir DIR]

Both sides start from the same x_T (N(0, I), seed 0) with the same labels (sample i gets class
i mod 10), on the same grid: VP (beta 0.1 .. 20), time-uniform from t = 1 to 1e-3, multistep order 2,
dpm-solver's defaults otherwise (lower_order_final, no denoise_to_zero). PyTorch runs the TorchScript
twin models/digits.pt (float32 weights; .double() for float64) under torch.inference_mode() with
torch.set_num_threads(threads), all n rows in one batch as dpm-solver's examples do; tweedie runs
models/digits.safetensors with --threads. Each side's time is the median wall time of `repeats`
runs, interleaved, of the whole job after loading (the CLI's own figure, which excludes reading the
model and writing the output; PyTorch's timer likewise wraps sample() only). The outputs of the
two are compared (max abs difference), which checks that the two run the same computation.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def pytorch_sample(dpm, x_T, labels, precision, threads):
    torch.set_num_threads(threads)
    dtype = torch.float64 if precision == "float64" else torch.float32
    torch.set_default_dtype(dtype)  # dpm-solver makes its time grid in the default dtype
    net = torch.jit.load(os.path.join(ROOT, "models", "digits.pt")).to(dtype).eval()
    y = torch.from_numpy(labels)
    schedule = dpm.NoiseScheduleVP("linear", continuous_beta_0=0.1, continuous_beta_1=20.0)
    # The network takes score_sde's 999 t; dpm-solver passes continuous t for this schedule.
    model_fn = dpm.model_wrapper(lambda x, t, y: net(x, 999.0 * t, y), schedule, model_type="noise",
                                 model_kwargs={"y": y}, guidance_type="uncond")
    solver = dpm.DPM_Solver(model_fn, schedule, algorithm_type="dpmsolver++")
    x = torch.from_numpy(x_T).to(dtype)
    with torch.inference_mode():
        start = time.perf_counter()
        out = solver.sample(x, steps=20, t_start=1.0, t_end=1e-3, order=2, skip_type="time_uniform",
                            method="multistep", lower_order_final=True)
        seconds = time.perf_counter() - start
    torch.set_default_dtype(torch.float32)
    return out.double().numpy(), seconds


def tweedie_sample(binary, init, labels, out, precision, threads):
    r = subprocess.run([binary, "sample", "--model", os.path.join(ROOT, "models", "digits.safetensors"),
                        "--precision", precision, "--init", init, "--labels", labels, "--sampler", "dpm-solver++",
                        "--order", "2", "--method", "multistep", "--steps", "20", "--grid", "time-uniform",
                        "--t-start", "1", "--t-end", "1e-3", "--threads", str(threads), "--out", out],
                       capture_output=True, text=True, check=True)
    seconds = float(re.search(r", ([0-9.]+) s, ", r.stdout).group(1))
    return np.load(out), seconds


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dpm-solver", required=True, help="path of dpm_solver_pytorch.py (LuChengTHU/dpm-solver)")
    p.add_argument("--tweedie", required=True, help="the tweedie CLI (a release build)")
    p.add_argument("--n", type=int, default=100000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--precision", choices=["float32", "float64", "both"], default="both")
    p.add_argument("--workdir", default=None)
    a = p.parse_args()
    sys.path.insert(0, os.path.dirname(os.path.abspath(a.dpm_solver)))
    dpm = __import__(os.path.splitext(os.path.basename(a.dpm_solver))[0])

    work = a.workdir or tempfile.mkdtemp(prefix="tweedie_e2e_")
    x_T = np.random.default_rng(0).standard_normal((a.n, 64))
    labels = np.arange(a.n, dtype=np.int64) % 10
    init, lab, out = (os.path.join(work, f) for f in ("init.npy", "labels.npy", "out.npy"))
    np.save(init, x_T)
    np.save(lab, labels)

    print("precision,n,threads,tweedie_s,pytorch_s,speedup,max_abs_diff")
    for precision in (("float32", "float64") if a.precision == "both" else (a.precision,)):
        times_t, times_p = [], []
        for _ in range(a.repeats):  # interleaved, so that both sides see the same machine
            xt, s = tweedie_sample(a.tweedie, init, lab, out, precision, a.threads)
            times_t.append(s)
            xp, s = pytorch_sample(dpm, x_T, labels, precision, a.threads)
            times_p.append(s)
        tt, tp = statistics.median(times_t), statistics.median(times_p)
        print(f"{precision},{a.n},{a.threads},{tt:.3f},{tp:.3f},{tp / tt:.2f},{np.abs(xt - xp).max():.3g}",
              flush=True)


if __name__ == "__main__":
    main()
