"""Trains one of tweedie's shipped score networks by denoising score matching, on the CPU.

    /usr/bin/python3 examples/train/train.py --dataset ring --prediction noise --sde vp \
        --time-input scaled_t --time-scale 999 --steps 20000 --out models/ring

Training (the seed's three equivalent views): t ~ U(t_eps, T) (t_eps = 1e-5 for the VP-like
families, as score_sde; --time-sampling lognormal draws EDM's ln sigma ~ N(-1.2, 1.2^2) instead),
x_t = alpha(t) x_0 + sigma(t) eps, and the network regresses the parameterisation's target:
eps (noise), x_0 (data) or v = alpha eps - sigma x_0 (velocity), mean squared error per
coordinate, optionally weighted (--weighting edm: (sigma^2 + sd^2) / (sigma sd)^2, EDM's
lambda, which makes the loss the unit-weight loss of the inner network F). --objective classifier trains a noise-conditional classifier instead (the digits only):
the same network with a head of 10 logits (spec "output": {"logits": 10}), cross-entropy of
p_t(y | x_t) at the same t and x_t, for classifier guidance (docs/guidance.md).
A conditional model
(the digits) sees its label replaced by the null class with probability --label-dropout, so one
network gives p(x | y) and p(x) for classifier-free guidance.
Adam, linear warm-up then cosine decay of the learning rate, an exponential moving average of
the weights (the exported weights). Fixed seeds and torch's deterministic algorithms.

Writes, for --out models/NAME: NAME.safetensors (float32 weights, the spec in the metadata),
NAME.pt (TorchScript, float32), the reference inputs and outputs NAME.ref.{x,t,labels,out64,out32}.npy
(the layout of tests/data/mlp), NAME.train.json (what was measured) and the model
card NAME.md with the measured quality (evaluate.py).
"""
import argparse
import json
import math
import os
import shlex
import sys
import time

import numpy as np
import torch

import datasets
import evaluate
import schedules
import tweedie_net


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True, choices=datasets.ALL)
    p.add_argument("--objective", default="score", choices=["score", "classifier"],
                   help="classifier: a noise-conditional classifier p_t(y | x_t) of the digits")
    p.add_argument("--prediction", default="noise", choices=["noise", "data", "velocity", "score"])
    p.add_argument("--sde", default="vp", choices=list(tweedie_net.SDE_DEFAULTS))
    p.add_argument("--time-input", default="t", choices=list(tweedie_net.TIME_INPUTS))
    p.add_argument("--time-scale", type=float, default=None, help="scaled_t: s = scale t + shift")
    p.add_argument("--time-shift", type=float, default=None)
    p.add_argument("--embedding", default="sinusoidal", choices=["sinusoidal", "fourier"])
    p.add_argument("--embedding-dim", type=int, default=32)
    p.add_argument("--fourier-scale", type=float, default=16.0)
    p.add_argument("--time-mlp", default="64", help="widths of the time MLP, comma-separated")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--blocks", type=int, default=3)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--activation", default="silu", choices=list(tweedie_net.ACTIVATIONS))
    p.add_argument("--norm", action="store_true", help="LayerNorm at the start of each block")
    p.add_argument("--output-norm", action="store_true")
    p.add_argument("--preconditioning", default="none", choices=["none", "edm"])
    p.add_argument("--sigma-data", type=float, default=0.5)
    p.add_argument("--time-sampling", default="uniform", choices=["uniform", "lognormal"])
    p.add_argument("--weighting", default="none", choices=["none", "edm"])
    p.add_argument("--label-dropout", type=float, default=0.15)
    p.add_argument("--steps", type=int, default=10000)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=300)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-samples", type=int, default=5000)
    p.add_argument("--eval-steps", type=int, default=200)
    p.add_argument("--out", required=True, help="output prefix, e.g. models/ring")
    p.add_argument("--measure-only", action="store_true",
                   help="re-measure the exported model at --out (likelihood; with --measure-quality also SW2)")
    p.add_argument("--measure-quality", action="store_true")
    return p.parse_args(argv)


def make_spec(a):
    dim = datasets.dim(a.dataset)
    spec = {
        "version": tweedie_net.SCHEMA_VERSION,
        "dim": dim,
        "width": a.width,
        "prediction": a.prediction,
        "sde": {"family": a.sde},
        "time_input": {"kind": a.time_input},
        "time_embedding": {"kind": a.embedding, "dim": a.embedding_dim},
        "time_mlp": {"widths": [int(w) for w in a.time_mlp.split(",") if w], "activation": a.activation},
        "blocks": [{"hidden": a.hidden, "activation": a.activation, "norm": a.norm} for _ in range(a.blocks)],
        "output": {"norm": a.output_norm, "activation": a.activation if a.output_norm else "none"},
    }
    if a.embedding == "fourier":
        spec["time_embedding"]["scale"] = a.fourier_scale
    if a.time_input == "scaled_t":
        spec["time_input"]["scale"] = 1.0 if a.time_scale is None else a.time_scale
        spec["time_input"]["shift"] = 0.0 if a.time_shift is None else a.time_shift
    elif a.time_scale is not None or a.time_shift is not None:
        raise SystemExit("--time-scale and --time-shift apply to --time-input scaled_t only")
    if a.preconditioning == "edm":
        spec["preconditioning"] = {"kind": "edm", "sigma_data": a.sigma_data}
    if a.objective == "classifier":
        if not datasets.is_conditional(a.dataset) or a.preconditioning != "none":
            raise SystemExit("--objective classifier needs a labelled dataset (digits) and no preconditioning")
        del spec["prediction"]
        spec["output"]["logits"] = 10
    elif datasets.is_conditional(a.dataset):
        spec["classes"] = 10
        spec["null_class"] = 10
    tweedie_net.validate_spec(spec)
    return spec


class Trainer:
    """The loss of denoising score matching for one spec (shared by training and evaluation)."""

    def __init__(self, spec, a):
        self.spec, self.a = spec, a
        self.family = schedules.Family(spec["sde"])
        self.sd = a.sigma_data

    def draw_t(self, n, gen):
        f = self.family
        if self.a.time_sampling == "lognormal":
            return torch.exp(-1.2 + 1.2 * torch.randn(n, generator=gen, dtype=torch.float64))
        return f.t_eps + (f.T - f.t_eps) * torch.rand(n, generator=gen, dtype=torch.float64)

    def loss(self, net, x0, y, gen, dtype):
        """Mean over rows and coordinates of the weighted squared error (x0 float64)."""
        n = x0.shape[0]
        t = self.draw_t(n, gen)
        eps = torch.randn(x0.shape, generator=gen, dtype=torch.float64)
        alpha, sigma = tweedie_net.alpha_sigma(self.spec["sde"], t)
        a, s = alpha[:, None], sigma[:, None]
        xt = a * x0 + s * eps
        if "logits" in self.spec["output"]:  # a classifier of x_t: cross-entropy of its label
            logits = net(xt.to(dtype), tweedie_net.time_input(self.spec, t).to(dtype))
            return torch.nn.functional.cross_entropy(logits.to(torch.float64), y)
        target = schedules.target(self.spec["prediction"], a, s, x0, eps)
        out = net(xt.to(dtype), tweedie_net.time_input(self.spec, t).to(dtype), y)
        err = ((out.to(torch.float64) - target) ** 2).mean(dim=1)
        if self.a.weighting == "edm":
            err = err * (sigma**2 + self.sd**2) / (sigma * self.sd) ** 2
        return err.mean()


def ema_update(ema, net, decay):
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), net.parameters()):
            pe.mul_(decay).add_(p, alpha=1.0 - decay)


def train(spec, a):
    torch.manual_seed(a.seed)
    net = tweedie_net.build_network(spec)  # float32
    ema = tweedie_net.build_network(spec)
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    trainer = Trainer(spec, a)
    if a.dataset == "digits":
        x_train, y_train = datasets.load("digits", "train")
        y_train = torch.from_numpy(y_train)
    else:
        x_train, y_train = datasets.load(a.dataset, "train"), None
    x_train = torch.from_numpy(x_train)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=a.lr)

    def lr_at(step):
        if step < a.warmup:
            return a.lr * (step + 1) / a.warmup
        u = (step - a.warmup) / max(1, a.steps - a.warmup)
        return a.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * u)))

    gen = torch.Generator().manual_seed(a.seed + 1)
    history = []
    start, cpu_start = time.time(), time.process_time()
    for step in range(a.steps):
        idx = torch.randint(0, x_train.shape[0], (a.batch,), generator=gen)
        x0 = x_train[idx]
        y = None
        if y_train is not None:
            y = y_train[idx].clone()
        if "null_class" in spec:
            drop = torch.rand(a.batch, generator=gen) < a.label_dropout
            y[drop] = spec["null_class"]
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = trainer.loss(net, x0, y, gen, torch.float32)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        # EMA with the usual warm-up of its decay, so early weights do not dominate.
        ema_update(ema, net, min(a.ema, (1.0 + step) / (10.0 + step)))
        history.append(loss.item())
        if (step + 1) % max(1, a.steps // 20) == 0:
            print(f"step {step + 1}/{a.steps}  loss {np.mean(history[-500:]):.5f}  "
                  f"{time.time() - start:.0f} s", flush=True)
    stats = {"train_seconds": time.time() - start, "train_cpu_seconds": time.process_time() - cpu_start,
             "final_train_loss": float(np.mean(history[-1000:]))}
    return ema, stats


@torch.no_grad()
def heldout_loss(net, spec, a, repeats=4):
    """The training loss of `net` on the held-out set (fixed draws of t and eps; float64)."""
    trainer = Trainer(spec, a)
    gen = torch.Generator().manual_seed(12345)
    if a.dataset == "digits":
        x, y = datasets.load("digits", "heldout")
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    else:
        x, y = torch.from_numpy(datasets.load(a.dataset, "heldout")), None
    return float(np.mean([trainer.loss(net, x, y, gen, torch.float64).item() for _ in range(repeats)]))


def reference_inputs(spec, a, n=64):
    """Fixed inputs for the C++ tests: held-out rows noised at times spread over the whole
    range (both ends included), and for a conditional model every label and the null class."""
    family = schedules.Family(spec["sde"])
    gen = torch.Generator().manual_seed(2024)
    lo = max(family.t_eps, 1e-5 if family.name != "edm" else family.t_eps)
    u = torch.linspace(0.0, 1.0, n, dtype=torch.float64)
    t = lo * (family.T / lo) ** u  # log-spaced from the smallest training time to T
    t = t[torch.randperm(n, generator=gen)]
    if a.dataset == "digits":
        x0, _ = datasets.load("digits", "heldout")
    else:
        x0 = datasets.load(a.dataset, "heldout")
    x0 = torch.from_numpy(x0[:n])
    alpha, sigma = tweedie_net.alpha_sigma(spec["sde"], t)
    x = alpha[:, None] * x0 + sigma[:, None] * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
    labels = None
    if spec.get("classes", 0) > 0 and "logits" not in spec["output"]:
        labels = torch.arange(n, dtype=torch.long) % (spec["classes"] + 1)
    return x, t, labels


def export(ema, spec, a, card_meta):
    prefix = a.out
    os.makedirs(os.path.dirname(prefix) or ".", exist_ok=True)
    st_path, pt_path = prefix + ".safetensors", prefix + ".pt"
    tweedie_net.save_safetensors(st_path, ema, spec, dtype=torch.float32, metadata=card_meta)
    # Everything below uses the weights as stored (float32 values), read back from the file.
    net64 = tweedie_net.load_network(st_path).eval()
    net32 = tweedie_net.build_network(spec)
    net32.load_state_dict({k: v.to(torch.float32) for k, v in net64.state_dict().items()})
    net32.eval()
    if "logits" not in spec["output"]:  # the classifier ships as safetensors only (small)
        tweedie_net.export_torchscript(pt_path, net32, spec)
    x, t, labels = reference_inputs(spec, a)
    s = tweedie_net.time_input(spec, t)  # float64, then cast to the module's dtype (as C++ does)
    with torch.no_grad():
        out64 = net64(x, s, labels)
        out32 = net32(x.to(torch.float32), s.to(torch.float32), labels)
    # The layout of tests/data/mlp (make_fixtures.py): labels as float64 integers, empty when
    # unconditional; out32 (the float32 module) stored as float64.
    ref = {"x": x.numpy(), "t": t.numpy(), "out64": out64.numpy(), "out32": out32.double().numpy(),
           "labels": (labels.numpy() if labels is not None else np.zeros(0)).astype(np.float64)}
    for key, value in ref.items():
        np.save(f"{prefix}.ref.{key}.npy", value)
    return net64


def model_quality(net64, spec, a):
    """SW2 of samples from the model (two samplers) to held-out data, with the data's floor."""
    if "logits" in spec["output"]:
        return classifier_quality(net64, spec)
    family = schedules.Family(spec["sde"])
    pred = spec["prediction"]

    def predict(x, t, y):
        return net64(x, tweedie_net.time_input(spec, t), y)

    q = {"eval_steps": a.eval_steps}
    if a.dataset == "digits":
        x_test, y_test = datasets.load("digits", "heldout")
        x_train, y_train = datasets.load("digits", "train")
        order = np.argsort(y_test, kind="stable")
        n = len(y_test)
        q["n"] = n
        # The floor: SW2 of as many training images as there are test images to the test set.
        q["floor"] = evaluate.floor_distribution(x_train, n, reference=x_test)
        for method in ("pf-heun", "em"):
            t0 = time.time()
            xs = evaluate.sample(predict, family, pred, n, 64, steps=a.eval_steps, method=method,
                                 seed=7, labels=torch.from_numpy(y_test))
            q[method] = evaluate.sliced_w2(xs[order], x_test[order])
            q[method + "_seconds"] = time.time() - t0
            classifier = os.path.join(os.path.dirname(a.out) or ".", "digits_classifier.pt")
            if os.path.exists(classifier):  # classifier.py's net: how often samples show their label
                with torch.no_grad():
                    logits = torch.jit.load(classifier)(torch.from_numpy(xs).float())
                q[method + "_accuracy"] = float((logits.argmax(1).numpy() == y_test).mean())
            np.save(f"/tmp/{os.path.basename(a.out)}.{method}.npy", xs)
        return q
    if a.dataset == "sentences":
        return sentence_quality(predict, family, pred, a)
    held = datasets.load(a.dataset, "heldout")
    n = min(a.eval_samples, held.shape[0] // 2)
    q["n"] = n
    q["floor_heldout_halves"] = evaluate.sliced_w2(held[:n], held[n:2 * n])
    q["floor"] = evaluate.floor_distribution(datasets.load(a.dataset, "train"), n)
    samplers = [("pf-heun", predict, pred), ("em", predict, pred)]
    if a.dataset == "ring":  # the same samplers on the exact score: what a perfect model scores
        exact = evaluate.ring_exact_score(family)
        samplers += [("exact-pf-heun", exact, "score"), ("exact-em", exact, "score")]
    for name, fn, p in samplers:
        t0 = time.time()
        xs = evaluate.sample(fn, family, p, n, 2, steps=a.eval_steps, method=name.replace("exact-", ""), seed=7)
        q[name] = evaluate.sliced_w2(xs, held[:n])
        q[name + "_seconds"] = time.time() - t0
        np.save(f"/tmp/{os.path.basename(a.out)}.{name}.npy", xs)
    if a.dataset == "ring":
        q["entropy_mc"], q["entropy_mc_se"] = evaluate.mixture_entropy_ring()
    return q


@torch.no_grad()
def classifier_quality(net64, spec, times=(0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8), repeats=4):
    """The noise-conditional classifier's accuracy on the noised test images at fixed times."""
    x0, y = (torch.from_numpy(v) for v in datasets.load("digits", "heldout"))
    gen = torch.Generator().manual_seed(12345)
    acc = {}
    for t in times:
        tt = torch.full((x0.shape[0],), max(t, schedules.Family(spec["sde"]).t_eps), dtype=torch.float64)
        alpha, sigma = tweedie_net.alpha_sigma(spec["sde"], tt)
        hits = []
        for _ in range(repeats):
            xt = alpha[:, None] * x0 + sigma[:, None] * torch.randn(x0.shape, generator=gen, dtype=torch.float64)
            hits.append(float((net64(xt, tweedie_net.time_input(spec, tt)).argmax(1) == y).double().mean()))
        acc[f"{t:g}"] = float(np.mean(hits))
    return {"test_accuracy_at_t": acc, "repeats": repeats}


def sentence_quality(predict, family, pred, a, n=1000):
    """SW2 of n samples to n held-out sentences (the floor: n training sentences to them), and the
    shares of samples (read by their nearest words) that are grammatical and that copy a
    training sentence."""
    import sentences
    held = datasets.load("sentences", "heldout")[:n]
    q = {"eval_steps": a.eval_steps, "n": n,
         "floor": evaluate.floor_distribution(datasets.load("sentences", "train"), n, reference=held)}
    for method in ("pf-heun", "em"):
        t0 = time.time()
        xs = evaluate.sample(predict, family, pred, n, held.shape[1], steps=a.eval_steps, method=method, seed=7)
        q[method] = evaluate.sliced_w2(xs, held)
        q[method + "_grammatical"], q[method + "_copies"] = sentences.measure(xs)
        q[method + "_seconds"] = time.time() - t0
    return q


def model_likelihood(net64, spec, a, rows=1000, t_min=1e-3):
    """Mean -log p_{t_min} of held-out rows by the PF-ODE with the exact divergence (2-D sets)."""
    family = schedules.Family(spec["sde"])
    if a.dataset in ("digits", "sentences"):
        return {}
    held = datasets.load(a.dataset, "heldout")[:rows]
    t_min = max(t_min, family.t_eps)

    def predict(x, t, y):
        return net64(x, tweedie_net.time_input(spec, t), y)

    t0 = time.time()
    nll = -evaluate.log_likelihood(predict, family, spec["prediction"], held, steps=a.eval_steps, t_min=t_min)
    out = {"rows": rows, "t_min": t_min, "steps": a.eval_steps, "nll_mean": float(nll.mean()),
           "nll_se": float(nll.std(ddof=1) / math.sqrt(rows)), "seconds": time.time() - t0}
    if a.dataset == "ring":
        exact = evaluate.ring_cross_entropy(family, held, t_min)
        out["exact_nll_mean"] = float(exact.mean())
        out["gap_mean"] = float((nll - exact).mean())
        out["gap_se"] = float((nll - exact).std(ddof=1) / math.sqrt(rows))
    return out


def measure_only(a):
    """Re-measures an exported model (a.out + .safetensors) into its .train.json."""
    with open(a.out + ".train.json") as f:
        stats = json.load(f)
    spec = stats["spec"]
    net64 = tweedie_net.load_network(a.out + ".safetensors").eval()
    if "quality" not in stats or a.measure_quality:
        stats["quality"] = model_quality(net64, spec, a)
    stats["likelihood"] = model_likelihood(net64, spec, a)
    with open(a.out + ".train.json", "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    print(json.dumps(stats["likelihood"], indent=1))


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    if a.measure_only:
        return measure_only(a)
    spec = make_spec(a)
    command = "nice -n 10 /usr/bin/python3 examples/train/train.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(json.dumps(spec, sort_keys=True))
    ema, stats = train(spec, a)
    meta = {"dataset": a.dataset, "training_steps": str(a.steps), "seed": str(a.seed),
            "final_train_loss": f"{stats['final_train_loss']:.6g}", "command": command}
    net64 = export(ema, spec, a, meta)
    stats["heldout_loss"] = heldout_loss(net64, spec, a)
    stats["quality"] = model_quality(net64, spec, a)
    stats["likelihood"] = model_likelihood(net64, spec, a)
    stats["parameters"] = sum(p.numel() for p in ema.parameters())
    stats["command"] = command
    stats["spec"] = spec
    stats["threads"] = a.threads
    stats["args"] = vars(a)
    with open(a.out + ".train.json", "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    print(json.dumps({k: v for k, v in stats.items() if k not in ("spec", "args")}, indent=1))


if __name__ == "__main__":
    main()
