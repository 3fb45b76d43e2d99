"""A classifier of clean 8x8 digits, for measuring samples of the digits model (accuracy of
class-conditional and guided samples; a Frechet distance on its features, an "FID" for digits).

Not a score network: a plain MLP on clean images in [-1, 1] (no time input), 64 -> 256 -> 256
(SiLU) -> 10 logits, trained by cross-entropy with Adam on the digits' training split, with
small Gaussian input noise (std 0.1) as augmentation. Exported as TorchScript
models/digits_classifier.pt with forward(x [B, 64]) -> logits [B, 10] and features(x) -> the 256
penultimate activations, float32; its card models/digits_classifier.md gives the test accuracy.
The same float32 weights as models/digits_classifier.safetensors (tensors body.0.weight [256, 64],
body.0.bias, body.2.weight [256, 256], body.2.bias, head.weight [10, 256], head.bias; torch's
[out, in] layout), which the C++ examples run (examples/digits.cpp): tweedie.mlp networks map R^D
to R^D, so this is not one.

    nice -n 10 /usr/bin/python3 examples/train/classifier.py --out models/digits_classifier
    /usr/bin/python3 examples/train/classifier.py --export-only --out models/digits_classifier
(the second writes NAME.safetensors and the card from the saved NAME.pt and NAME.json)
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
from torch import nn

import datasets
import evaluate
import tweedie_net


class DigitsClassifier(nn.Module):
    def __init__(self, hidden=256):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(64, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU())
        self.head = nn.Linear(hidden, 10)

    @torch.jit.export
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def frechet_distance(a, b):
    """Frechet distance between Gaussians fitted to feature sets a and b (rows)."""
    from scipy import linalg
    ma, mb = a.mean(0), b.mean(0)
    ca, cb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(ca @ cb).real
    return float(((ma - mb) ** 2).sum() + np.trace(ca + cb - 2.0 * root))


def save_safetensors(out, module):
    """OUT.safetensors: the module's float32 weights under their torch names."""
    meta = {"architecture": "features = silu(body.2(silu(body.0(x)))); logits = head(features)",
            "input": "64 pixels in [-1, 1] (x / 8 - 1)"}
    tweedie_net.save_tensors(out + ".safetensors", module.state_dict(), torch.float32, meta)


def write_card(out, stats):
    a = argparse.Namespace(**stats["args"])
    acc_te, acc_tr = stats["test_accuracy"], stats["train_accuracy"]
    command = stats["command"]
    size = os.path.getsize(out + ".pt")
    size_st = os.path.getsize(out + ".safetensors")
    card = f"""# digits_classifier

A classifier of clean digits (not a score network), for measuring samples of the digits model:
the accuracy of class-conditional or guided samples, and a Frechet distance on its 256
penultimate features (an FID for 8x8 digits).

- **Data**: the digits' training split (1437 images, pixels mapped to [-1, 1] by x / 8 - 1), with
  Gaussian input noise of std {a.noise:g} as augmentation; no time input (clean images only).
- **Network**: MLP 64 -> 256 -> 256 (SiLU) -> 10 logits, {stats['parameters']} parameters.
- **Files**: `digits_classifier.pt` ({size} bytes, TorchScript, float32): `forward(x [B, 64])` gives the
  logits [B, 10], `features(x)` the 256 penultimate activations; `digits_classifier.safetensors`
  ({size_st} bytes, the same float32 weights: `body.0.weight` [256, 64], `body.0.bias`,
  `body.2.weight` [256, 256], `body.2.bias`, `head.weight` [10, 256], `head.bias`, torch's
  [out, in] layout; features = silu(body.2(silu(body.0(x)))), logits = head(features)), which the
  C++ examples run.
- **Training**: cross-entropy, Adam (lr {a.lr:g}, cosine decay, weight decay 1e-5), batch {a.batch},
  {a.steps} steps, seed {a.seed}; {stats['train_seconds']:.0f} s wall, {stats['train_cpu_seconds']:.0f} s CPU;
  final training loss {stats['final_train_loss']:.4f}.
- **Accuracy**: {acc_te:.4f} on the 360 test images ({acc_tr:.4f} on the training images).
- **Frechet distance floor**: 360 training images vs the test images on these features:
  {stats['frechet_train_vs_test']['mean']:.3f} +- {stats['frechet_train_vs_test']['sd']:.3f} (5 draws).

## Reproduce

```
{command}
```
"""
    with open(out + ".md", "w") as f:
        f.write(card)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--noise", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    p.add_argument("--export-only", action="store_true", help="write OUT.safetensors and OUT.md from OUT.pt, OUT.json")
    a = p.parse_args()
    if a.export_only:
        with open(a.out + ".json") as f:
            stats = json.load(f)
        save_safetensors(a.out, torch.jit.load(a.out + ".pt"))
        write_card(a.out, stats)
        return
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(a.seed)
    x_tr, y_tr = (torch.from_numpy(v) for v in datasets.load("digits", "train"))
    x_te, y_te = (torch.from_numpy(v) for v in datasets.load("digits", "heldout"))
    x_tr, x_te = x_tr.float(), x_te.float()
    net = DigitsClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr, weight_decay=1e-5)
    gen = torch.Generator().manual_seed(a.seed + 1)
    start, cpu0 = time.time(), time.process_time()
    losses = []
    for step in range(a.steps):
        for g in opt.param_groups:
            g["lr"] = a.lr * 0.5 * (1.0 + math.cos(math.pi * step / a.steps))
        idx = torch.randint(0, len(y_tr), (a.batch,), generator=gen)
        xb = x_tr[idx] + a.noise * torch.randn(a.batch, 64, generator=gen)
        loss = nn.functional.cross_entropy(net(xb), y_tr[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.eval()
    with torch.no_grad():
        acc_te = float((net(x_te).argmax(1) == y_te).float().mean())
        acc_tr = float((net(x_tr).argmax(1) == y_tr).float().mean())
        f_te = net.features(x_te).double().numpy()
        # The floor of the Frechet distance: training images (as many as test images) vs test.
        rng = np.random.default_rng(0)
        fd = [frechet_distance(net.features(x_tr[rng.choice(len(y_tr), len(y_te), replace=False)]).double().numpy(), f_te)
              for _ in range(5)]
    scripted = torch.jit.script(net)
    scripted.save(a.out + ".pt")
    command = "nice -n 10 /usr/bin/python3 examples/train/classifier.py " + shlex.join(sys.argv[1:])
    stats = {"test_accuracy": acc_te, "train_accuracy": acc_tr, "final_train_loss": float(np.mean(losses[-300:])),
             "frechet_train_vs_test": {"mean": float(np.mean(fd)), "sd": float(np.std(fd, ddof=1))},
             "train_seconds": time.time() - start, "train_cpu_seconds": time.process_time() - cpu0,
             "parameters": sum(p.numel() for p in net.parameters()), "command": command, "args": vars(a)}
    with open(a.out + ".json", "w") as f:
        json.dump(stats, f, indent=1, sort_keys=True)
    save_safetensors(a.out, scripted)
    write_card(a.out, stats)
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
