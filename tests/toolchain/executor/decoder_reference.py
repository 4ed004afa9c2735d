"""An independent numpy reference of the compiled decoders, in the chip's order of
arithmetic (docs/isa.md): fp32 chains of R products per fold added in fold order, int32
sums for int8, the documented vector sequences, bf16 between operators."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from tigris.toolchain.compiler.graph import (
    Attention,
    Embedding,
    GatedActivation,
    Graph,
    LayerNorm,
    Linear,
    RMSNorm,
    Rope,
)

F32, BF16 = np.float32, ml_dtypes.bfloat16
R = 128


def bf(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, F32).astype(BF16).astype(F32)


def matmul(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Fold-order product: per fold of R rows of w, a left-to-right fp32 chain from +0,
    then added to the running output (or exact int32 sums for integer inputs)."""
    if np.issubdtype(x.dtype, np.integer):
        return (x.astype(np.int64) @ w.astype(np.int64)).astype(np.int32)
    x, w = x.astype(F32), w.astype(F32)
    out = np.zeros((x.shape[0], w.shape[1]), F32)
    for k0 in range(0, x.shape[1], R):
        chain = np.zeros_like(out)
        for k in range(k0, min(k0 + R, x.shape[1])):
            chain = (chain + x[:, k : k + 1] * w[k : k + 1]).astype(F32)
        out = (out + chain).astype(F32)
    return out


def rsum(x: np.ndarray) -> np.ndarray:
    acc = np.zeros((x.shape[0], 1), F32)
    for j in range(x.shape[1]):
        acc = (acc + x[:, j : j + 1]).astype(F32)
    return acc


def act(kind: str, y: np.ndarray) -> np.ndarray:
    if kind == "gelu_tanh":
        t = y * y * y * F32(0.044715)
        t = np.tanh((t + y) * F32(0.7978846))
        return ((t + F32(1)) * y) * F32(0.5)
    assert kind == "silu"
    return y * (F32(1) / (F32(1) + np.exp(-y)))


def reference(graph: Graph, ids: np.ndarray, compiled) -> np.ndarray:
    from tigris.toolchain.compiler.numerics import mode as numerics_mode
    from tigris.toolchain.compiler.numerics import quantize, quantize_weight, scale_for

    mode = numerics_mode(compiled.program.mode)
    c, t = graph.constants, {}
    for node in graph.nodes:
        if isinstance(node, Embedding):
            y = c[node.table][ids].astype(F32)
            if node.positions:
                y = y + c[node.positions][np.concatenate([np.arange(n) for n in graph.seq_lengths])]
        elif isinstance(node, Linear):
            x, w = t[node.x], c[node.weight].astype(F32)
            smooth = compiled.smoothing.get(node.name)
            if smooth is not None:
                w = (w * smooth[:, None]).astype(F32)
                x = (x * (F32(1) / smooth)[None, :]).astype(F32)
            wq, ws = quantize_weight(w, mode)
            if mode.quantized:
                sx = scale_for(compiled.activation_absmax[node.name], mode.qmax)[()]
                xq = quantize(x, sx, mode.weight_dtype)
                y = matmul(xq, wq).astype(F32) * (sx * ws).astype(F32)[None, :]
            else:
                y = matmul(bf(x).astype(BF16), wq)
            if node.bias:
                y = y + c[node.bias][None, :]
            if node.activation:
                y = act(node.activation, y.astype(F32))
            if node.residual:
                y = y + t[node.residual]
        elif isinstance(node, (LayerNorm, RMSNorm)):
            x = t[node.x].astype(F32)
            inv = F32(1.0 / x.shape[1])
            if isinstance(node, LayerNorm):
                x = x - rsum(x) * inv
            v = rsum(x * x) * inv + F32(node.eps)
            y = (x * (F32(1) / np.sqrt(v))) * c[node.gamma][None, :]
            if isinstance(node, LayerNorm):
                y = y + c[node.beta][None, :]
        elif isinstance(node, Rope):
            y = t[node.x].copy()
            d = node.head_dim
            for h in range(node.num_heads):
                head = y[:, h * d : (h + 1) * d]
                rot = np.concatenate([-head[:, d // 2 :], head[:, : d // 2]], axis=1)
                y[:, h * d : (h + 1) * d] = head * c[node.cos] + rot * c[node.sin]
        elif isinstance(node, GatedActivation):
            x = t[node.x]
            w2 = x.shape[1] // 2
            y = act(node.activation, x[:, :w2]) * x[:, w2:]
        elif isinstance(node, Attention):
            y = attention(node, t[node.qkv], graph)
        else:
            raise AssertionError(node)
        t[node.out] = bf(y)
    return t[graph.output]


def attention(node: Attention, qkv: np.ndarray, graph: Graph) -> np.ndarray:
    d, heads, kv = node.head_dim, node.num_heads, node.num_kv_heads
    out = np.zeros((qkv.shape[0], heads * d), F32)
    for s, n in zip(graph.seq_starts, graph.seq_lengths, strict=True):
        rows = qkv[s : s + n]
        for h in range(heads):
            g = h // (heads // kv)
            q = rows[:, h * d : (h + 1) * d].astype(BF16)
            k = rows[:, (heads + g) * d : (heads + g + 1) * d].astype(BF16)
            v = rows[:, (heads + kv + g) * d : (heads + kv + g + 1) * d].astype(BF16)
            scores = np.concatenate([matmul(q, k[j : j + R].T) for j in range(0, n, R)], axis=1)
            scores = scores * F32(1.0 / np.sqrt(d))
            if node.causal:
                scores = np.where(np.tri(n, dtype=bool), scores, F32(-np.inf)).astype(F32)
            scores = np.exp(scores - scores.max(axis=1, keepdims=True))
            p = (scores / rsum(scores)).astype(BF16)
            out[s : s + n, h * d : (h + 1) * d] = bf(matmul(p, v))
    return out
