"""Writes the model cards models/NAME.md and models/README.md from what train.py measured
(models/NAME.train.json). Run: /usr/bin/python3 examples/train/cards.py models"""
import json
import os
import sys

DATA = {
    "ring": "builtin:ring's mixture: 8 equal-weight Gaussians of std 0.15, means on the circle of "
            "radius 2 at angles 2 pi k / 8 (the first at angle 0); 200000 training rows drawn "
            "from it, 10000 held-out rows from another seed",
    "moons": "scikit-learn's make_moons(noise=0.05), centred by (-0.5, -0.25) and scaled by 1.5; "
             "200000 training rows, 10000 held-out rows (another seed)",
    "swissroll": "scikit-learn's make_swiss_roll(noise=1.0), columns (0, 2) divided by 5 (FFJORD's "
                 "toy set); 200000 training rows, 10000 held-out rows (another seed)",
    "checkerboard": "FFJORD's 4 x 4 checkerboard on [-2, 2]^2 (8 unit squares, density 1/8 on "
                    "each; std 1.155 per coordinate); 200000 training rows, 10000 held-out rows",
    "digits": "scikit-learn's 8x8 handwritten digits, pixels 0..16 mapped to [-1, 1] by x / 8 - 1, "
              "labels 0..9; stratified split: 1437 training images, 360 test images "
              "(train_test_split, random_state 15)",
    "diffusion_lm": "the six-word sentences of examples/train/sentences.py (DET ADJ NOUN VERB DET NOUN with "
                    "number agreement, 33 words, 55296 grammatical sentences), each word a fixed random 8-d "
                    "vector of norm sqrt(8) (seed 2022), the six vectors concatenated (48 coordinates); "
                    "2000 training sentences, 2000 other held-out ones (seed 16)",
}


# What the measurements show that a user of the model should know.
NOTES = {
    "diffusion_lm": "**The Diffusion-LM example's network** (examples/diffusion_lm.cpp): an x0 predictor, so "
                    "that Diffusion-LM's rounding of the predicted x0 to the nearest word vectors "
                    "(tweedie::nearest_embedding) applies at every step. The example's files: "
                    "`diffusion_lm.vocab.txt` (the words, in the embedding's row order), "
                    "`diffusion_lm.embedding.npy` (33 x 8) and `diffusion_lm.train_sentences.npy` (the 2000 "
                    "training sentences as word indices), written by `examples/train/datasets.py --out models sentences`.",
    "digits": "**Deterministic sampling works since the retraining of 2026-12-01.** The first version "
              "(2500 steps, with a LayerNorm before the output layer) bounded the norm of its noise "
              "prediction, so along the PF-ODE the samples' mean norm grew from 8 (the prior) to about "
              "31 (the data's is about 6.8; PF-ODE SW2 4.33, classifier accuracy 0.45). Without that "
              "LayerNorm and with 6000 steps the PF-ODE keeps the norm (6.6 at the end of a 100-step "
              "DDIM run) and matches the SDE's quality. The accuracies are measured by "
              "`train.py --dataset digits --eval-steps 100 --measure-only --measure-quality --out models/digits` "
              "(train_all.sh trains the classifier first, so a retrain measures them directly).",
    "moons": "**The least faithful of the 2-D models**: SW2 is 2.8x the floor at n = 5000 (PF-ODE 0.090, "
             "SDE 0.108; the first version, Fourier scale 2 and 4000 steps, had 0.158 / 0.199). At the "
             "tests' n = 2000, where the floor is larger, it is 1.35-1.8 floors away, within the tests' "
             "bound of 2.",
}


def describe_time_input(ti):
    k = ti["kind"]
    if k == "scaled_t":
        return f"scaled_t: s = {ti['scale']:g} t + {ti.get('shift', 0.0):g}"
    return {"t": "t (continuous)", "sigma": "sigma(t)", "log_sigma": "ln sigma(t)",
            "c_noise": "c_noise = ln(sigma) / 4"}[k]


def architecture(spec, params):
    te = spec["time_embedding"]
    emb = f"{te['kind']} time embedding of {te['dim']} features"
    if te["kind"] == "fourier":
        emb += f" (W ~ N(0, {te.get('scale', 16.0):g}^2), fixed)"
    widths = spec["time_mlp"]["widths"]
    b = spec["blocks"][0]
    text = (f"{params} parameters: input Dense {spec['dim']} -> {spec['width']}; {emb}, time MLP "
            f"{widths or 'none'} ({spec['time_mlp']['activation']}); {len(spec['blocks'])} residual blocks "
            f"of hidden width {b['hidden']} ({b['activation']}{', LayerNorm' if b.get('norm') else ''}); "
            f"output {'LayerNorm, ' if spec['output'].get('norm') else ''}Dense {spec['width']} -> {spec['dim']}")
    if spec.get("classes"):
        text += f"; class embedding of {spec['classes']} classes + null class {spec['null_class']}"
    return text


def card(name, s, folder):
    spec, a, q = s["spec"], s["args"], s["quality"]
    sizes = {ext: os.path.getsize(os.path.join(folder, name + ext)) for ext in (".safetensors", ".pt")}
    fam = spec["sde"]["family"]
    pre = spec.get("preconditioning")
    lines = [f"# {name}", "",
             f"- **Data**: {DATA[name]}.",
             f"- **Family**: {fam} with tweedie's default options (`--sde {fam}`).",
             f"- **Prediction**: {spec['prediction']}" +
             (f", through EDM preconditioning with sigma_data = {pre['sigma_data']:g} "
              "(D = c_skip x + c_out F(c_in x; ln(sigma)/4))" if pre else "") + ".",
             f"- **Time input** (what the network's forward receives): {describe_time_input(spec['time_input'])}.",
             f"- **Conditioning**: " + (f"class-conditional, labels 0..{spec['classes'] - 1}, null class "
                                        f"{spec['null_class']} (label dropout {a['label_dropout']:g} in training, "
                                        "for classifier-free guidance)." if spec.get("classes") else "none."),
             f"- **Architecture** (tweedie.mlp v1, docs/models.md): {architecture(spec, s['parameters'])}.",
             f"- **Files**: `{name}.safetensors` ({sizes['.safetensors']} bytes, float32 weights, the spec in "
             f"`__metadata__`), `{name}.pt` ({sizes['.pt']} bytes, TorchScript, float32, forward(x, s"
             f"{', y' if spec.get('classes') else ''})); reference inputs and PyTorch outputs "
             f"`{name}.ref.{{x,t,labels,out64,out32}}.npy` (64 rows, continuous t; out64 from the "
             "weights in float64, out32 in float32); "
             + ("the example's vocabulary, embedding and training sentences (below); " if name == "diffusion_lm" else
                f"held-out data `{name}.heldout.npy`{' and `digits.heldout_labels.npy`' if name == 'digits' else ''}; ")
             + 
             f"the measurements `{name}.train.json`.",
             "",
             "## Training", "",
             f"Denoising score matching of the {spec['prediction']} target, "
             + ("t ~ U(1e-5, T)" if a["time_sampling"] == "uniform" else "ln sigma ~ N(-1.2, 1.2^2) (EDM)")
             + (", EDM's loss weight (sigma^2 + sd^2) / (sigma sd)^2" if a["weighting"] == "edm" else ", unweighted")
             + f"; Adam, learning rate {a['lr']:g} (linear warm-up over {a['warmup']} steps, cosine decay to 5%), "
             f"batch {a['batch']}, {a['steps']} steps, EMA {a['ema']:g} (the exported weights), seed {a['seed']}, "
             f"{s['threads']} torch thread(s).", "",
             f"- Training time: {s['train_seconds']:.0f} s wall, {s['train_cpu_seconds']:.0f} s CPU "
             "(the machine shared with other jobs).",
             f"- Final training loss (mean of the last 1000 steps): {s['final_train_loss']:.5f}; "
             f"the same loss on the held-out set (EMA weights, float64, 4 fixed draws of t and noise): "
             f"{s['heldout_loss']:.5f}.",
             "", "## Quality (measured in Python, examples/train/evaluate.py)", ""]
    n = q["n"]
    f = q["floor"]
    lines.append(f"Sliced Wasserstein-2 distance (1000 directions) between {n} samples and {n} held-out "
                 f"{'images (each test label once)' if name == 'digits' else 'sentences' if name == 'diffusion_lm' else 'rows'}; samplers with "
                 f"{q['eval_steps']} steps (PF-ODE Heun on a log-SNR grid, Karras' grid for edm; reverse SDE by "
                 "Euler-Maruyama), then Tweedie's denoising at the last time.")
    lines.append("")
    lines.append("| | SW2 |")
    lines.append("|---|---|")
    lines.append(f"| PF-ODE Heun | {q['pf-heun']:.4f} |")
    lines.append(f"| reverse SDE Euler-Maruyama | {q['em']:.4f} |")
    if "pf-heun_accuracy" in q:
        lines.append(f"| accuracy of digits_classifier on the samples (PF-ODE / SDE; labels as the test set) | "
                     f"{q['pf-heun_accuracy']:.3f} / {q['em_accuracy']:.3f} |")
    if "pf-heun_grammatical" in q:
        lines.append(f"| sentences (nearest words) the grammar accepts (PF-ODE / SDE) | "
                     f"{q['pf-heun_grammatical']:.3f} / {q['em_grammatical']:.3f} |")
        lines.append(f"| sentences copying a training sentence (PF-ODE / SDE; a uniform draw of the grammar: "
                     f"{2000 / 55296:.3f}) | {q['pf-heun_copies']:.3f} / {q['em_copies']:.3f} |")
    if "exact-pf-heun" in q:
        lines.append(f"| exact score, PF-ODE Heun | {q['exact-pf-heun']:.4f} |")
        lines.append(f"| exact score, Euler-Maruyama | {q['exact-em']:.4f} |")
    if name in ("digits", "diffusion_lm"):
        what = "images" if name == "digits" else "sentences"
        lines.append(f"| floor: {n} training {what} vs the {'test' if name == 'digits' else 'held-out'} set ({f['pairs']} draws) | "
                     f"{f['mean']:.4f} +- {f['sd']:.4f} (max {f['max']:.4f}) |")
    else:
        lines.append(f"| floor: two held-out halves | {q['floor_heldout_halves']:.4f} |")
        lines.append(f"| floor: {f['pairs']} disjoint pairs of {n} training rows | "
                     f"{f['mean']:.4f} +- {f['sd']:.4f} (max {f['max']:.4f}) |")
    if "entropy_mc" in q:
        lines += ["", f"The ring's differential entropy: {q['entropy_mc']:.4f} +- {q['entropy_mc_se']:.4f} nats "
                  "(Monte Carlo of -log p over 200000 exact draws); ln 8 + ln(2 pi e 0.15^2) = 1.1231 for "
                  "separated components."]
    lk = s.get("likelihood") or {}
    if lk:
        lines += ["", f"Log-likelihood: mean -log p_t_min(x) over {lk['rows']} held-out rows = "
                  f"{lk['nll_mean']:.4f} +- {lk['nll_se']:.4f} nats (t_min = {lk['t_min']:g}; PF-ODE by Heun "
                  f"with {lk['steps']} steps, exact divergence by autograd, evaluate.log_likelihood)."]
        if name == "checkerboard":
            lines[-1] += (" The data's entropy is ln 8 = 2.0794 nats (density 1/8 on an area of 8); p_t_min "
                          "blurs its edges, so its cross-entropy is slightly higher.")
        if "exact_nll_mean" in lk:
            lines[-1] += (f" The exact noised ring gives {lk['exact_nll_mean']:.4f} on the same rows: the model's "
                          f"excess is {lk['gap_mean']:.4f} +- {lk['gap_se']:.4f} nats (paired).")
    if name in NOTES:
        lines += ["", NOTES[name]]
    lines += ["", "## Reproduce", "", "```", s["command"], "```", ""]
    return "\n".join(lines)


def classifier_card(name, s, folder):
    """The card of a noise-conditional classifier (train.py --objective classifier)."""
    spec, a, q = s["spec"], s["args"], s["quality"]
    b = spec["blocks"][0]
    acc = q["test_accuracy_at_t"]
    lines = [f"# {name}", "",
             "A noise-conditional classifier p_t(y | x_t) of the digits for classifier guidance of the digits model "
             "(docs/guidance.md; `tweedie sample --model models/digits.safetensors --class K --classifier "
             f"models/{name}.safetensors --classifier-scale S`).", "",
             f"- **Data**: {DATA['digits']}; x_t = alpha(t) x_0 + sigma(t) eps with t ~ U(1e-5, 1).",
             f"- **Family and time input**: {spec['sde']['family']} (tweedie's defaults), "
             f"{describe_time_input(spec['time_input'])}: those of the digits model.",
             f"- **Architecture** (tweedie.mlp v1 with a classifier head, docs/models.md): {s['parameters']} parameters: "
             f"input Dense {spec['dim']} -> {spec['width']}; {spec['time_embedding']['kind']} time embedding of "
             f"{spec['time_embedding']['dim']} features, time MLP {spec['time_mlp']['widths']}; {len(spec['blocks'])} "
             f"residual blocks of hidden width {b['hidden']} ({b['activation']}{', LayerNorm' if b.get('norm') else ''}); "
             f"output Dense {spec['width']} -> {spec['output']['logits']} logits.",
             f"- **Files**: `{name}.safetensors` ({os.path.getsize(os.path.join(folder, name + '.safetensors'))} bytes, "
             f"float32; no TorchScript file), `{name}.ref.{{x,t,labels,out64,out32}}.npy` (64 noised test images; "
             "out64/out32 the logits from the weights in float64 and float32), the measurements "
             f"`{name}.train.json`.", "",
             "## Training", "",
             f"Cross-entropy of the label of x_t; Adam, learning rate {a['lr']:g} (linear warm-up over {a['warmup']} "
             f"steps, cosine decay to 5%), batch {a['batch']}, {a['steps']} steps, EMA {a['ema']:g} (the exported "
             f"weights), seed {a['seed']}, {s['threads']} torch thread(s); {s['train_seconds']:.0f} s wall, "
             f"{s['train_cpu_seconds']:.0f} s CPU. Final training loss (last 1000 steps) {s['final_train_loss']:.4f}, "
             f"held-out {s['heldout_loss']:.4f} (4 fixed draws of t and noise).", "",
             f"## Accuracy on the 360 noised test images (float64, {q['repeats']} noise draws)", "",
             "| t | " + " | ".join(acc) + " |", "|---|" + "---|" * len(acc),
             "| accuracy | " + " | ".join(f"{v:.3f}" for v in acc.values()) + " |", "",
             "## Reproduce", "", "```", s["command"], "```", ""]
    return "\n".join(lines)


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "models"
    names = sorted(f[:-len(".train.json")] for f in os.listdir(folder) if f.endswith(".train.json"))
    rows = []
    for name in names:
        with open(os.path.join(folder, name + ".train.json")) as fh:
            s = json.load(fh)
        if "logits" in s["spec"]["output"]:
            with open(os.path.join(folder, name + ".md"), "w") as fh:
                fh.write(classifier_card(name, s, folder))
            continue
        with open(os.path.join(folder, name + ".md"), "w") as fh:
            fh.write(card(name, s, folder))
        spec, q = s["spec"], s["quality"]
        rows.append(f"| [{name}]({name}.md) | {spec['dim']} | {spec['sde']['family']} | {spec['prediction']}"
                    f"{' (EDM precond.)' if spec.get('preconditioning') else ''} | "
                    f"{describe_time_input(spec['time_input'])} | {'10 + null' if spec.get('classes') else '-'} | "
                    f"{s['parameters']} | {os.path.getsize(os.path.join(folder, name + '.safetensors'))} | "
                    f"{q['pf-heun']:.3f} / {q['em']:.3f} | {q['floor']['mean']:.3f} |")
    readme = ["# Trained models", "",
              "Small score networks trained by `examples/train/train.py` (denoising score matching, CPU) and",
              "retrained exactly by `sh examples/train/train_all.sh`. Each model NAME ships as",
              "`NAME.safetensors` (float32 weights; the architecture, family, prediction and time input in the",
              "`__metadata__`, schema tweedie.mlp v1 of docs/models.md) and `NAME.pt` (the same weights as",
              "TorchScript with the attributes prediction, sde, time_input, ...), with PyTorch's outputs on fixed",
              "inputs (`NAME.ref.*.npy`) for the C++ tests, its held-out data (`NAME.heldout.npy`) and a card",
              "(`NAME.md`: data, training, measured quality, the command).", "",
              "| model | dim | family | prediction | time input | classes | parameters | safetensors bytes | SW2 PF-ODE / SDE | SW2 floor |",
              "|---|---|---|---|---|---|---|---|---|---|"] + rows + [
              "", "`digits_classifier.pt` (card `digits_classifier.md`, trained by `examples/train/classifier.py`) is",
              "not a score network: a classifier of clean digits (TorchScript `forward(x) -> logits`,",
              "`features(x)`; the same weights as `digits_classifier.safetensors`, which the C++ examples run) for",
              "the accuracy and a Frechet distance of digit samples. `digits_noisy_classifier.safetensors` (card",
              "`digits_noisy_classifier.md`, `train.py --objective classifier`) is a noise-conditional classifier",
              "(a tweedie.mlp classifier head) for classifier guidance of the digits model.",
              "`diffusion_lm` is the Diffusion-LM example's",
              "network (its card lists the example's vocabulary, embedding and training sentences).",
              "", "SW2: sliced Wasserstein-2 distance of samples (Python samplers, steps in the cards) to held-out data; the",
              "floor is the same distance between two independent draws of the data of that size (see the cards).",
              "Check the exports against their references: `/usr/bin/python3 examples/train/check_exports.py models`.", ""]
    with open(os.path.join(folder, "README.md"), "w") as fh:
        fh.write("\n".join(readme))


if __name__ == "__main__":
    main()
