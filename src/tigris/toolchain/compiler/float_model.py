"""The graph run in plain fp32 numpy (library order, not the chip's): what int8/fp8
calibration observes, and a float baseline for accuracy checks.

`run_float(graph, ids)` returns every tensor; `activation_absmax` the largest magnitude of
each Linear input, which sets the per-tensor activation scales.
"""

from __future__ import annotations

import math

import numpy as np

from tigris.errors import UnsupportedError
from tigris.toolchain.compiler.graph import (
    Attention,
    Embedding,
    GatedActivation,
    Graph,
    LayerNorm,
    Linear,
    MeanPool,
    RMSNorm,
    Rope,
    Unsupported,
)
from tigris.toolchain.isa.dtypes import numpy_dtype

_erf = np.vectorize(math.erf, otypes=[np.float64])


def act_float(kind: str, x: np.ndarray) -> np.ndarray:
    if kind == "gelu":
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if kind == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
    if kind == "silu":
        return x / (1.0 + np.exp(-x))
    if kind == "relu":
        return np.maximum(x, 0.0)
    raise UnsupportedError(f"activation {kind!r}")


def run_float(graph: Graph, ids: np.ndarray) -> dict[str, np.ndarray]:
    c = {k: np.asarray(v, dtype=np.float64) for k, v in graph.constants.items()}
    t: dict[str, np.ndarray] = {graph.ids: np.asarray(ids).reshape(-1)}
    starts, lengths = graph.seq_starts, graph.seq_lengths
    for node in graph.nodes:
        if isinstance(node, Embedding):
            y = c[node.table][t[graph.ids]]
            if node.positions:
                y = y + c[node.positions][np.concatenate([np.arange(n) for n in lengths])]
            if node.type_row:
                y = y + c[node.type_row].reshape(1, -1)
        elif isinstance(node, Linear):
            y = t[node.x] @ c[node.weight]
            if node.bias:
                y = y + c[node.bias].reshape(1, -1)
            if node.activation:
                y = act_float(node.activation, y)
            if node.residual:
                y = y + t[node.residual]
        elif isinstance(node, LayerNorm):
            x = t[node.x]
            mu = x.mean(axis=1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
            y = (x - mu) / np.sqrt(var + node.eps) * c[node.gamma].reshape(1, -1) + c[
                node.beta
            ].reshape(1, -1)
        elif isinstance(node, RMSNorm):
            x = t[node.x]
            y = (
                x
                / np.sqrt((x * x).mean(axis=1, keepdims=True) + node.eps)
                * c[node.gamma].reshape(1, -1)
            )
        elif isinstance(node, GatedActivation):
            x = t[node.x]
            w = x.shape[1] // 2
            y = act_float(node.activation, x[:, :w]) * x[:, w:]
        elif isinstance(node, Rope):
            x = t[node.x].copy()
            d = node.head_dim
            for h in range(node.num_heads):
                head = x[:, h * d : (h + 1) * d]
                rot = np.concatenate([-head[:, d // 2 :], head[:, : d // 2]], axis=1)
                x[:, h * d : (h + 1) * d] = head * c[node.cos] + rot * c[node.sin]
            y = x
        elif isinstance(node, Attention):
            y = _attention(node, t[node.qkv], starts, lengths)
        elif isinstance(node, MeanPool):
            x = t[node.x]
            y = np.stack([x[s : s + n].mean(axis=0) for s, n in zip(starts, lengths, strict=True)])
            if node.normalize:
                y = y / np.linalg.norm(y, axis=1, keepdims=True)
        else:
            assert isinstance(node, Unsupported)
            raise UnsupportedError(f"operator {node.name!r} ({node.kind}) has no float model")
        t[node.out] = y
    return t


def _attention(
    node: Attention, qkv: np.ndarray, starts: tuple[int, ...], lengths: tuple[int, ...]
) -> np.ndarray:
    d, heads, kv = node.head_dim, node.num_heads, node.num_kv_heads
    out = np.zeros((qkv.shape[0], heads * d))
    for s, n in zip(starts, lengths, strict=True):
        rows = qkv[s : s + n]
        for h in range(heads):
            g = h // (heads // kv)
            q = rows[:, h * d : (h + 1) * d]
            k = rows[:, (heads + g) * d : (heads + g + 1) * d]
            v = rows[:, (heads + kv + g) * d : (heads + kv + g + 1) * d]
            scores = q @ k.T / math.sqrt(d)
            if node.causal:
                scores = np.where(np.tri(n, dtype=bool), scores, -np.inf)
            p = np.exp(scores - scores.max(axis=1, keepdims=True))
            out[s : s + n, h * d : (h + 1) * d] = (p / p.sum(axis=1, keepdims=True)) @ v
    return out


def clip_range(values: np.ndarray, qmax: float, integer: bool) -> float:
    """The clipping range of a per-tensor scale that minimises the squared quantisation
    error of `values` (searched over fractions of max |x|, as TensorRT's and PyTorch's
    MSE observers do); outliers are clipped when that costs less than coarse steps."""
    x = np.abs(np.asarray(values, dtype=np.float64)).ravel()
    top = float(x.max()) if x.size else 0.0
    if top == 0.0:
        return 0.0
    best, best_err = top, np.inf
    for fraction in np.linspace(1.0, 0.05, 40):
        clip = top * fraction
        step = clip / qmax
        q = np.minimum(x / step, qmax)
        q = (
            np.rint(q)
            if integer
            else q.astype(np.float32).astype(numpy_dtype("e4m3")).astype(np.float64)
        )
        err = float(((q * step - x) ** 2).sum())
        if err < best_err:
            best, best_err = clip, err
    return best


def calibrate(
    graph: Graph, batches: list[np.ndarray], qmax: float, integer: bool, alpha: float | None
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Per Linear (by name): the clipping range of its input's per-tensor scale, and its
    SmoothQuant factors s (Xiao et al. 2023, eq. 4: s_j = max|X_j|^alpha / max|W_j|^(1-alpha))
    when alpha is given: the input is multiplied by 1/s per channel before quantisation and
    the weight rows by s, which moves activation outliers into the weights. Statistics come
    from the float model over the calibration batches (token ids of the graph's lengths)."""
    linears = [node for node in graph.nodes if isinstance(node, Linear)]
    seen: dict[str, list[np.ndarray]] = {node.x: [] for node in linears}
    for ids in batches:
        tensors = run_float(graph, ids)
        for name in seen:
            seen[name].append(np.asarray(tensors[name]).reshape(-1, tensors[name].shape[-1]))
    ranges, smoothing = {}, {}
    for node in linears:
        x = np.concatenate(seen[node.x])
        if alpha is not None:
            x_max = np.abs(x).max(axis=0)
            w_max = np.abs(graph.constants[node.weight]).max(axis=1).astype(np.float64)
            factor = np.power(np.maximum(x_max, 1e-5), alpha) / np.power(
                np.maximum(w_max, 1e-5), 1 - alpha
            )
            smoothing[node.name] = np.maximum(factor, 1e-5).astype(np.float32)
            x = x.astype(np.float32) * (np.float32(1) / smoothing[node.name])
        ranges[node.name] = clip_range(x, qmax, integer)
    return ranges, smoothing
