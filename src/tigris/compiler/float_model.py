"""The graph run in plain fp32 numpy (library order, not the chip's): what int8/fp8
calibration observes, and a float baseline for accuracy checks.

`run_float(graph, ids)` returns every tensor; `activation_absmax` the largest magnitude of
each Linear input, which sets the per-tensor activation scales.
"""

from __future__ import annotations

import math

import numpy as np

from tigris.compiler.graph import (
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
from tigris.errors import UnsupportedError

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


def activation_absmax(graph: Graph, batches: list[np.ndarray]) -> dict[str, float]:
    """max |x| of each Linear input over calibration batches (token ids, the graph's lengths)."""
    seen: dict[str, float] = {}
    inputs = {node.x for node in graph.nodes if isinstance(node, Linear)}
    for ids in batches:
        tensors = run_float(graph, ids)
        for name in inputs:
            seen[name] = max(seen.get(name, 0.0), float(np.abs(tensors[name]).max()))
    return seen
