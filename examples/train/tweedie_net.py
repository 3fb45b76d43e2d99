"""The one Python definition of tweedie's score-network architecture (schema "tweedie.mlp" v1).

Everything that trains, exports or makes test fixtures for a network imports this file; the C++
runtime (include/tweedie/mlp_model.hpp) implements the same architecture from the same spec.
docs/models.md ("safetensors schema") describes the spec; the summary:

    spec = {
      "version": 1,
      "dim": D,                       # data dimension
      "width": C,                     # channels of the residual stream
      "prediction": "noise" | "data" | "score" | "velocity",
      "sde": {"family": "vp"|"subvp"|"ve"|"cosine"|"edm", <its parameters, see SDE_DEFAULTS>},
      "time_input": {"kind": "t" | "scaled_t" | "sigma" | "log_sigma" | "c_noise",
                     "scale": a, "shift": b},            # scale/shift only for scaled_t
      "preconditioning": {"kind": "edm", "sigma_data": 0.5},   # optional
      "time_embedding": {"kind": "sinusoidal" | "fourier", "dim": E, "scale": 16.0},
      "time_mlp": {"widths": [H1, ..., Hk], "activation": A},  # may be empty: the embedding is E
      "classes": K, "null_class": K,  # optional; K = 0 (or absent) is unconditional
      "blocks": [{"hidden": Hb, "activation": A, "norm": bool}, ...],
      "output": {"norm": bool, "activation": A | "none", "logits": K},   # logits: optional
      "layer_norm_eps": 1e-5,
    }

A classifier head ("output": {"logits": K}) makes the network a noise-conditional classifier:
output.dense is C -> K and its output the K logits of p_t(y | x_t) (no "prediction", no
preconditioning and no "classes": the label is the output, not an input).

The time value the forward receives, s (what `time_input` returns for continuous t):
    t          s = t
    scaled_t   s = scale * t + shift     (score_sde's VP: scale 999; DPM-Solver's discrete
                                          wrapper for N = 1000 steps: scale 1000, shift -1)
    sigma      s = sigma(t)              (score_sde's VE; EDM)
    log_sigma  s = ln sigma(t)           (NCSN++'s Fourier features)
    c_noise    s = ln(sigma(t)) / 4      (EDM's network input)
With EDM preconditioning the time input must be "sigma" and the family must have alpha = 1 (ve,
edm); the forward receives s = sigma and returns D(x; sigma) = c_skip x + c_out F(c_in x; c_noise)
with c_noise = ln(sigma) / 4 fed to the time embedding of the inner network F; the prediction
must then be "data".

The network F(x, s[, y]):
    h    = input(x)                                         Dense D -> C
    e    = embed(s)                                         sinusoidal or Fourier, E features
    temb = time_mlp(e)                                      Dense, act, Dense, ... (no act last)
    temb = temb + class_embedding[y]                        when conditional
    for each block:  u = act(LayerNorm(h)) (or act(h) without norm)
                     u = dense1(u) + time(act(temb))        C -> Hb, T -> Hb
                     h = h + dense2(act(u))                 Hb -> C
    out  = output.dense(act(LayerNorm(h)))                  C -> D, or C -> K logits (norm / act optional)
Activations: silu, gelu (the exact erf form 0.5 x (1 + erf(x / sqrt 2))), relu, tanh.
Sinusoidal (DDPM): f_k = exp(-ln(10000) k / (half - 1)), k < half = E/2, e = [sin(s f), cos(s f)].
Gaussian Fourier (score_sde): e = [sin(2 pi W s), cos(2 pi W s)], W (E/2) a stored tensor drawn
from N(0, scale^2) at initialisation and never trained.

safetensors: 8-byte little-endian header length N, N bytes of JSON, the raw little-endian
tensors (row-major, tiling the buffer in the header's order); `__metadata__` holds the spec as a
JSON string under the key METADATA_KEY ("tweedie.mlp"), and any other string entries the caller
gives (a model card). Tensor names are the module's state_dict keys (torch Linear: weight is
[out, in]).
"""

import json
import math
import struct
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SCHEMA_VERSION = 1
METADATA_KEY = "tweedie.mlp"
ACTIVATIONS = ("silu", "gelu", "relu", "tanh")
PREDICTIONS = ("noise", "data", "score", "velocity")
TIME_INPUTS = ("t", "scaled_t", "sigma", "log_sigma", "c_noise")
SDE_DEFAULTS = {
    "vp": {"beta_min": 0.1, "beta_max": 20.0},
    "subvp": {"beta_min": 0.1, "beta_max": 20.0},
    "ve": {"sigma_min": 0.01, "sigma_max": 50.0},
    "cosine": {"cosine_s": 0.008},
    "edm": {"sigma_min": 0.002, "sigma_max": 80.0},
}


# ---- the forward families (docs/math.md, src/sde.cpp) -------------------------------------

def sde_params(sde: dict) -> dict:
    """The family's parameters with its defaults filled in (unknown keys refused)."""
    family = sde["family"]
    if family not in SDE_DEFAULTS:
        raise ValueError(f"unknown SDE family {family!r}")
    params = dict(SDE_DEFAULTS[family])
    for key, value in sde.items():
        if key == "family":
            continue
        if key not in params:
            raise ValueError(f"{key!r} does not apply to the {family} family")
        params[key] = float(value)
    return params


def alpha_sigma(sde: dict, t: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """alpha(t), sigma(t) of the family, float64, with the formulas of src/sde.cpp."""
    t = t.to(torch.float64)
    family, p = sde["family"], sde_params(sde)
    if family in ("vp", "subvp"):
        b0, b1 = p["beta_min"], p["beta_max"]
        lmc = -0.25 * t * t * (b1 - b0) - 0.5 * t * b0
        alpha = torch.exp(lmc)
        var = -torch.expm1(2.0 * lmc)
        return alpha, (torch.sqrt(var) if family == "vp" else var)
    if family == "ve":
        smin, smax = p["sigma_min"], p["sigma_max"]
        return torch.ones_like(t), smin * torch.exp(t * math.log(smax / smin))
    if family == "cosine":
        s = p["cosine_s"]
        k = 0.5 * math.pi / (1.0 + s)
        u0 = s * k
        u = u0 + t * k
        log_alpha = torch.log1p(-2.0 * torch.sin(0.5 * (u + u0)) * torch.sin(0.5 * t * k) / math.cos(u0))
        return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2.0 * log_alpha))
    return torch.ones_like(t), t.clone()  # edm


def time_input(spec: dict, t: torch.Tensor) -> torch.Tensor:
    """Continuous t (float64) -> the value s that the network's forward receives."""
    ti = spec["time_input"]
    kind = ti["kind"]
    t = t.to(torch.float64)
    if kind == "t":
        return t.clone()
    if kind == "scaled_t":
        return float(ti["scale"]) * t + float(ti.get("shift", 0.0))
    sigma = alpha_sigma(spec["sde"], t)[1]
    if kind == "sigma":
        return sigma
    if kind == "log_sigma":
        return torch.log(sigma)
    if kind == "c_noise":
        return 0.25 * torch.log(sigma)
    raise ValueError(f"unknown time input {kind!r}")


# ---- the network --------------------------------------------------------------------------

def _act(name: str, h: torch.Tensor) -> torch.Tensor:
    if name == "silu":
        return F.silu(h)
    if name == "gelu":
        return F.gelu(h)  # exact (erf) form: torch's default approximate="none"
    if name == "relu":
        return F.relu(h)
    if name == "tanh":
        return torch.tanh(h)
    return h  # "none"


class TimeEmbedding(nn.Module):
    """Sinusoidal (frequencies as a non-persistent buffer) or Gaussian Fourier (W stored)."""

    def __init__(self, kind: str, dim: int, scale: float):
        super().__init__()
        if dim % 2 != 0 or dim < 4:
            raise ValueError("time_embedding.dim must be even and at least 4")
        half = dim // 2
        self.fourier = kind == "fourier"
        if kind == "sinusoidal":
            # math.exp (the C library's, as the C++ runtime) then the module's dtype.
            freqs = [math.exp(-math.log(10000.0) * k / (half - 1)) for k in range(half)]
            self.register_buffer("freqs", torch.tensor(freqs, dtype=torch.float64), persistent=False)
            self.register_buffer("W", torch.zeros(0, dtype=torch.float64), persistent=False)
        elif kind == "fourier":
            self.register_buffer("freqs", torch.zeros(0, dtype=torch.float64), persistent=False)
            # A stored, never-trained buffer (score_sde's GaussianFourierProjection).
            self.register_buffer("W", torch.randn(half, dtype=torch.float64) * scale)
        else:
            raise ValueError(f"unknown time embedding {kind!r}")

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        if self.fourier:
            # 2 pi W rounded once from float64 (as the C++ runtime does).
            f = (self.W.to(torch.float64) * (2.0 * math.pi)).to(s.dtype)
        else:
            f = self.freqs.to(s.dtype)
        arg = s[:, None] * f[None, :]
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=1)


class ResidualBlock(nn.Module):
    def __init__(self, width: int, hidden: int, temb: int, activation: str, norm: bool, eps: float):
        super().__init__()
        self.activation = activation
        self.use_norm = norm
        self.norm = nn.LayerNorm(width, eps=eps) if norm else nn.Identity()
        self.dense1 = nn.Linear(width, hidden)
        self.time = nn.Linear(temb, hidden)
        self.dense2 = nn.Linear(hidden, width)

    def forward(self, h: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        u = self.dense1(_act(self.activation, self.norm(h))) + self.time(_act(self.activation, temb))
        return h + self.dense2(_act(self.activation, u))


class OutputHead(nn.Module):
    def __init__(self, width: int, dim: int, activation: str, norm: bool, eps: float):
        super().__init__()
        self.activation = activation
        self.norm = nn.LayerNorm(width, eps=eps) if norm else nn.Identity()
        self.dense = nn.Linear(width, dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.dense(_act(self.activation, self.norm(h)))


class TweedieNet(nn.Module):
    """F(x, s[, y]) with optional EDM preconditioning; see the module docstring."""

    def __init__(self, spec: dict):
        super().__init__()
        validate_spec(spec)
        self.spec_json = json.dumps(spec, sort_keys=True)
        dim, width = int(spec["dim"]), int(spec["width"])
        eps = float(spec.get("layer_norm_eps", 1e-5))
        te = spec["time_embedding"]
        tm = spec.get("time_mlp", {"widths": [], "activation": "silu"})
        self.dim = dim
        self.classes = int(spec.get("classes", 0))
        self.null_class = int(spec.get("null_class", -1))
        pre = spec.get("preconditioning")
        self.edm = pre is not None
        self.sigma_data = float(pre["sigma_data"]) if pre is not None else 0.0
        self.time_mlp_activation = tm["activation"]

        self.input = nn.Linear(dim, width)
        self.time_embedding = TimeEmbedding(te["kind"], int(te["dim"]), float(te.get("scale", 16.0)))
        widths = [int(te["dim"])] + [int(w) for w in tm["widths"]]
        self.time_mlp = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
        temb = widths[-1]
        rows = self.classes + (1 if self.null_class >= 0 else 0)
        # The table (classes rows, plus the null class's last) only when conditional.
        self.class_embedding = nn.Embedding(rows, temb) if self.classes > 0 else nn.Identity()
        self.blocks = nn.ModuleList([
            ResidualBlock(width, int(b["hidden"]), temb, b["activation"], bool(b.get("norm", False)), eps)
            for b in spec["blocks"]])
        out = spec["output"]
        self.logits = int(out.get("logits", 0))  # > 0: a classifier head of that many logits
        self.output = OutputHead(width, self.logits or dim, out.get("activation", "none"), bool(out.get("norm", False)),
                                 eps)

    def network(self, x: torch.Tensor, s: torch.Tensor, y: Optional[torch.Tensor]) -> torch.Tensor:
        h = self.input(x)
        temb = self.time_embedding(s)
        n = len(self.time_mlp)
        for i, layer in enumerate(self.time_mlp):
            temb = layer(temb)
            if i + 1 < n:
                temb = _act(self.time_mlp_activation, temb)
        if self.classes > 0:
            if y is None:
                if self.null_class < 0:
                    raise RuntimeError("this network is conditional and has no null class: pass y")
                y = torch.full(s.shape, self.null_class, dtype=torch.long)
            temb = temb + self.class_embedding(y)
        for block in self.blocks:
            h = block(h, temb)
        return self.output(h)

    def forward(self, x: torch.Tensor, s: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        if not self.edm:
            return self.network(x, s, y)
        sd2 = self.sigma_data * self.sigma_data
        s2 = s * s + sd2
        c_skip = sd2 / s2
        c_out = s * self.sigma_data / torch.sqrt(s2)
        c_in = 1.0 / torch.sqrt(s2)
        f = self.network(c_in[:, None] * x, 0.25 * torch.log(s), y)
        return c_skip[:, None] * x + c_out[:, None] * f


def validate_spec(spec: dict) -> None:
    """The checks that keep a spec within what the C++ runtime accepts (it checks them again)."""
    if int(spec.get("version", 0)) != SCHEMA_VERSION:
        raise ValueError(f"spec version must be {SCHEMA_VERSION}")
    if "logits" in spec["output"]:
        if int(spec["output"]["logits"]) < 1:
            raise ValueError("output.logits must be a positive count")
        for key in ("prediction", "preconditioning", "classes", "null_class"):
            if key in spec:
                raise ValueError(f"a classifier (output.logits) has no {key!r}")
    elif spec.get("prediction") not in PREDICTIONS:
        raise ValueError(f"unknown prediction {spec.get('prediction')!r}")
    sde_params(spec["sde"])
    if spec["time_input"]["kind"] not in TIME_INPUTS:
        raise ValueError(f"unknown time input {spec['time_input']['kind']!r}")
    acts = [b["activation"] for b in spec["blocks"]] + [spec.get("time_mlp", {}).get("activation", "silu")]
    for a in acts:
        if a not in ACTIVATIONS:
            raise ValueError(f"unknown activation {a!r}")
    if set(spec["output"]) - {"norm", "activation", "logits"}:
        raise ValueError("output has unknown fields")
    if spec["output"].get("activation", "none") not in ACTIVATIONS + ("none",):
        raise ValueError("unknown output activation")
    classes = int(spec.get("classes", 0))
    null = int(spec.get("null_class", -1))
    if null not in (-1, classes) or (classes == 0 and null != -1):
        raise ValueError("null_class must equal classes (the last row of the table) or be absent")
    pre = spec.get("preconditioning")
    if pre is not None:
        if pre.get("kind") != "edm" or float(pre["sigma_data"]) <= 0:
            raise ValueError("preconditioning must be {'kind': 'edm', 'sigma_data': > 0}")
        if spec["time_input"]["kind"] != "sigma" or spec["sde"]["family"] not in ("ve", "edm"):
            raise ValueError("EDM preconditioning needs time input 'sigma' and a family with alpha = 1")
        if spec.get("prediction") != "data":
            raise ValueError("EDM preconditioning predicts data")


def build_network(spec: dict) -> TweedieNet:
    """A freshly initialised network of the spec (float32; .double() for float64)."""
    return TweedieNet(spec)


# ---- safetensors --------------------------------------------------------------------------

_DTYPES = {torch.float64: ("F64", "<f8"), torch.float32: ("F32", "<f4"), torch.float16: ("F16", "<f2")}


def save_safetensors(path: str, module: nn.Module, spec: dict, dtype: torch.dtype = torch.float64,
                     metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes the module's state_dict as safetensors with the spec under METADATA_KEY."""
    meta = {METADATA_KEY: json.dumps(spec, sort_keys=True)}
    meta.update({str(k): str(v) for k, v in (metadata or {}).items()})
    save_tensors(path, module.state_dict(), dtype, meta)


def save_tensors(path: str, tensors: Dict[str, torch.Tensor], dtype: torch.dtype = torch.float64,
                 metadata: Optional[Dict[str, str]] = None) -> None:
    """Writes named tensors (in their order) as safetensors in `dtype`, with string metadata."""
    name, np_dtype = _DTYPES[dtype]
    header: Dict[str, object] = {"__metadata__": {str(k): str(v) for k, v in (metadata or {}).items()}}
    chunks: List[bytes] = []
    offset = 0
    for key, tensor in tensors.items():
        data = tensor.detach().to(torch.float64).cpu().numpy().astype(np_dtype)
        raw = np.ascontiguousarray(data).tobytes()
        header[key] = {"dtype": name, "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # align the buffer to 8 bytes, as the reference does
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in chunks:
            f.write(raw)


def load_safetensors(path: str) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """(tensors as float64 torch tensors, metadata) of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    buffer = blob[8 + n:]
    meta = header.pop("__metadata__", {})
    codes = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}
    tensors = {}
    for key, info in header.items():
        begin, end = info["data_offsets"]
        arr = np.frombuffer(buffer[begin:end], dtype=codes[info["dtype"]]).reshape(info["shape"])
        tensors[key] = torch.from_numpy(arr.astype(np.float64))
    return tensors, meta


def load_network(path: str) -> TweedieNet:
    """The network of a safetensors file (float64)."""
    tensors, meta = load_safetensors(path)
    spec = json.loads(meta[METADATA_KEY])
    net = build_network(spec).double()
    net.load_state_dict(tensors)
    return net


# ---- TorchScript --------------------------------------------------------------------------

class _Exported(nn.Module):
    """The scripted form: forward(x, s[, y]) plus attributes the C++ loader reads."""

    prediction: str
    sde: str
    time_input: str
    time_scale: float
    time_shift: float
    spec: str
    classes: int
    null_class: int
    dim: int

    def __init__(self, net: TweedieNet, spec: dict):
        super().__init__()
        self.net = net
        self.prediction = spec["prediction"]
        self.sde = spec["sde"]["family"]
        ti = spec["time_input"]
        self.time_input = ti["kind"]
        self.time_scale = float(ti.get("scale", 1.0))
        self.time_shift = float(ti.get("shift", 0.0))
        self.spec = json.dumps(spec, sort_keys=True)  # the family's parameters are in here
        self.classes = int(spec.get("classes", 0))
        self.null_class = int(spec.get("null_class", -1))
        self.dim = int(spec["dim"])

    def forward(self, x: torch.Tensor, s: torch.Tensor, y: Optional[torch.Tensor] = None) -> torch.Tensor:
        return self.net(x, s, y)


def export_torchscript(path: str, module: TweedieNet, spec: dict) -> None:
    """Scripts the network (in its current dtype) with attributes prediction, sde (the family),
    time_input, time_scale, time_shift, spec (JSON), classes, null_class, dim."""
    scripted = torch.jit.script(_Exported(module, spec))
    scripted.save(path)
