"""The compiler's input: a model as a graph of operators over named 2-D tensors.

Activations are [tokens, width] matrices: the tokens of all sequences of a batch stacked
(no padding), `seq_lengths` saying where each sequence starts. Weights and tables are
float32 constants; the numerics mode decides how they are stored on the chip. Front ends
(tigris.toolchain.frontends) build graphs from a `TransformerSpec` or from safetensors checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Embedding:
    """out = table[ids] (+ positions[position within its sequence]) (+ type_row)."""

    name: str
    out: str
    ids: str
    table: str
    positions: str | None = None
    type_row: str | None = None


@dataclass(frozen=True)
class Linear:
    """out = act(x @ weight + bias) (+ residual). weight is [in, out]."""

    name: str
    out: str
    x: str
    weight: str
    bias: str | None = None
    activation: str | None = None  # gelu (erf) | gelu_tanh | silu | relu
    residual: str | None = None


@dataclass(frozen=True)
class LayerNorm:
    name: str
    out: str
    x: str
    gamma: str
    beta: str
    eps: float


@dataclass(frozen=True)
class RMSNorm:
    name: str
    out: str
    x: str
    gamma: str
    eps: float


@dataclass(frozen=True)
class Rope:
    """Rotary embedding (rotate-half form) of the first `num_heads` heads of x, in place of
    them: x * cos + rotate_half(x) * sin, cos/sin tables [tokens, head_dim]."""

    name: str
    out: str
    x: str
    cos: str
    sin: str
    head_dim: int
    num_heads: int


@dataclass(frozen=True)
class Attention:
    """Per sequence and head: softmax(Q K^T / sqrt(d) [causal]) V. qkv is [tokens,
    (heads + 2 kv_heads) * d] with Q, K, V side by side; out is [tokens, heads * d]."""

    name: str
    out: str
    qkv: str
    num_heads: int
    num_kv_heads: int
    head_dim: int
    causal: bool


@dataclass(frozen=True)
class GatedActivation:
    """x = [gate | up] -> act(gate) * up (SwiGLU with act = silu)."""

    name: str
    out: str
    x: str
    activation: str


@dataclass(frozen=True)
class MeanPool:
    """Mean over each sequence's tokens, then L2 normalisation: out is [sequences, width]."""

    name: str
    out: str
    x: str
    normalize: bool = True


@dataclass(frozen=True)
class Unsupported:
    """An operator a front end met and could not express (lowering it raises)."""

    name: str
    out: str
    x: str
    kind: str


Node = Embedding | Linear | LayerNorm | RMSNorm | Rope | Attention | GatedActivation | MeanPool


@dataclass(frozen=True)
class Graph:
    name: str
    nodes: tuple[Node | Unsupported, ...]
    constants: dict[str, np.ndarray] = field(repr=False)
    seq_lengths: tuple[int, ...]
    ids: str = "ids"
    output: str = "out"

    @property
    def num_tokens(self) -> int:
        return sum(self.seq_lengths)

    @property
    def seq_starts(self) -> tuple[int, ...]:
        starts, total = [], 0
        for length in self.seq_lengths:
            starts.append(total)
            total += length
        return tuple(starts)
