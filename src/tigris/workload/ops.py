"""Operators: the units of work an engine times. Each knows its flop and its minimum bytes.

Minimum bytes are what must cross the DRAM boundary at least once (each input read once,
each output written once), for the dtypes in use. Engines add the re-reads their tiling
implies.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.hardware.quantities import dtype_bytes


def causal_pairs(q_len: int, kv_len: int, window: int | None = None) -> float:
    """Query-key pairs of causal attention, queries being the last q_len of kv_len positions.

    The query at position p (0-based) sees keys 0..p, or only the last `window` of them
    (sliding-window attention, Mistral 7B: Jiang et al. 2023): min(p + 1, window) keys.
    """
    offset = kv_len - q_len
    if window is None or window >= kv_len:
        # sum over i in [0, q_len) of (offset + i + 1) keys
        return float(q_len) * offset + q_len * (q_len + 1) / 2
    growing_end = min(max(window, offset), kv_len)  # positions below see p + 1 < window keys
    growing = (growing_end * (growing_end + 1) - offset * (offset + 1)) / 2
    return growing + float(kv_len - growing_end) * window


@dataclass(frozen=True)
class Gemm:
    """C[batch, m, n] = A[batch, m, k] @ B[batch, k, n] (batch = independent GEMMs)."""

    name: str
    m: int
    n: int
    k: int
    batch: int = 1
    dtype: str = "bf16"  # inputs (A activations; B too unless weight_dtype is set)
    out_dtype: str | None = None  # defaults to dtype
    weight_dtype: str | None = None  # B's storage dtype (e.g. int4 weights), defaults to dtype

    def __post_init__(self) -> None:
        for field in ("m", "n", "k", "batch"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{self.name}: {field} must be positive")

    @property
    def flop(self) -> float:
        return 2.0 * self.batch * self.m * self.n * self.k

    @property
    def a_bytes(self) -> float:
        return self.batch * self.m * self.k * dtype_bytes(self.dtype)

    @property
    def b_bytes(self) -> float:
        return self.batch * self.k * self.n * dtype_bytes(self.weight_dtype or self.dtype)

    @property
    def c_bytes(self) -> float:
        return self.batch * self.m * self.n * dtype_bytes(self.out_dtype or self.dtype)

    @property
    def min_bytes(self) -> float:
        return self.a_bytes + self.b_bytes + self.c_bytes


ATTENTION_IMPLEMENTATIONS = ("flash2", "flash1", "standard", "fused_softmax")


@dataclass(frozen=True)
class Attention:
    """Scaled dot-product attention, FlashAttention style (no S x S matrix in memory).

    Forward flop: 4 * batch * heads * head_dim * (number of query-key pairs), the pairs
    being q_len * kv_len, or for causal masking those with key position <= query position
    (queries are the last q_len positions of kv_len). Backward is 2.5x forward (five
    matmuls instead of two; FlashAttention-2, Dao 2023); `recompute` adds the forward's
    QK^T once more as FlashAttention's backward does.

    `implementation` says which kernel runs it (the engine times each by its mechanism):
    'flash2' (FlashAttention-2, Dao 2023; the default), 'flash1' (FlashAttention, Dao et al.
    2022), 'standard' (unfused PyTorch: QK^T batched GEMM, S x S scores written to DRAM, a
    separate causal-mask add, softmax, PV GEMM) or 'fused_softmax' (Megatron-LM 2021: the
    same GEMMs with scale, mask and softmax fused in one kernel). `dropout` adds dropout on
    the attention probabilities (for the unfused kinds one more pass over S x S and its
    mask; FlashAttention draws it in-kernel at no modelled cost). The flop count is the same
    for every implementation: the useful work, as papers count it.
    """

    name: str
    batch: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    q_len: int
    kv_len: int
    causal: bool = True
    dtype: str = "bf16"
    kv_dtype: str | None = None
    phase: str = "fwd"  # fwd | bwd
    window: int | None = None  # sliding window: each query sees at most this many keys
    implementation: str = "flash2"  # flash2 | flash1 | standard | fused_softmax
    dropout: bool = False  # dropout on the attention probabilities

    def __post_init__(self) -> None:
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"{self.name}: unknown attention implementation {self.implementation!r} "
                f"(one of {', '.join(ATTENTION_IMPLEMENTATIONS)})"
            )

    @property
    def num_pairs(self) -> float:
        """Query-key pairs per head (after causal masking and the sliding window)."""
        if not self.causal:
            return float(self.q_len) * self.kv_len
        return causal_pairs(self.q_len, self.kv_len, self.window)

    @property
    def kv_span(self) -> int:
        """Keys some query sees: all kv_len, or under a window the last q_len + window - 1."""
        if self.window is None:
            return self.kv_len
        return min(self.kv_len, self.q_len + self.window - 1)

    @property
    def flop(self) -> float:
        forward = 4.0 * self.batch * self.num_heads * self.head_dim * self.num_pairs
        return forward if self.phase == "fwd" else 2.5 * forward

    @property
    def min_bytes(self) -> float:
        element = dtype_bytes(self.dtype)
        kv_element = dtype_bytes(self.kv_dtype or self.dtype)
        q_o = 2 * self.batch * self.num_heads * self.q_len * self.head_dim * element
        kv = 2 * self.batch * self.num_kv_heads * self.kv_span * self.head_dim * kv_element
        if self.phase == "fwd":
            return q_o + kv
        # backward reads Q, K, V, O, dO and writes dQ, dK, dV
        return 2 * q_o + 2 * kv + q_o / 2


@dataclass(frozen=True)
class Stream:
    """Memory-bound elementwise or reduction work (norms, softmax, activations, optimizer).

    `flop` counts the vector-unit arithmetic; `bytes_read`/`bytes_written` the DRAM traffic.
    """

    name: str
    num_elements: int
    bytes_read: float
    bytes_written: float
    flop_per_element: float = 1.0

    @property
    def flop(self) -> float:
        return self.num_elements * self.flop_per_element

    @property
    def min_bytes(self) -> float:
        return self.bytes_read + self.bytes_written


Op = Gemm | Attention | Stream

# ---- fast construction -------------------------------------------------------------------
# A frozen dataclass's __init__ assigns each field through object.__setattr__, and
# dataclasses.replace re-runs it: several microseconds per op, most of the cost of building
# and sharding a graph. The graph builders and shard_graph create ops whose fields they know
# to be valid through these helpers instead: the same instances (same fields, equality,
# hash and repr), with the checks of __post_init__ kept where a value could be invalid.

_new = object.__new__


def make_gemm(
    name: str,
    m: int,
    n: int,
    k: int,
    batch: int = 1,
    dtype: str = "bf16",
    out_dtype: str | None = None,
    weight_dtype: str | None = None,
) -> Gemm:
    """Gemm(name, m, n, k, batch, dtype, out_dtype, weight_dtype), built fast."""
    if m <= 0 or n <= 0 or k <= 0 or batch <= 0:
        return Gemm(name, m, n, k, batch, dtype, out_dtype, weight_dtype)  # raises
    op = _new(Gemm)
    op.__dict__.update(
        name=name,
        m=m,
        n=n,
        k=k,
        batch=batch,
        dtype=dtype,
        out_dtype=out_dtype,
        weight_dtype=weight_dtype,
    )
    return op


def make_stream(
    name: str,
    num_elements: int,
    bytes_read: float,
    bytes_written: float,
    flop_per_element: float = 1.0,
) -> Stream:
    """Stream(name, num_elements, bytes_read, bytes_written, flop_per_element), built fast."""
    op = _new(Stream)
    op.__dict__.update(
        name=name,
        num_elements=num_elements,
        bytes_read=bytes_read,
        bytes_written=bytes_written,
        flop_per_element=flop_per_element,
    )
    return op


def make_attention(
    name: str,
    batch: int,
    num_heads: int,
    num_kv_heads: int,
    head_dim: int,
    q_len: int,
    kv_len: int,
    causal: bool = True,
    dtype: str = "bf16",
    kv_dtype: str | None = None,
    phase: str = "fwd",
    window: int | None = None,
    implementation: str = "flash2",
    dropout: bool = False,
) -> Attention:
    """Attention(...) with every field in order, built fast."""
    if implementation not in ATTENTION_IMPLEMENTATIONS:
        return Attention(  # raises
            name, batch, num_heads, num_kv_heads, head_dim, q_len, kv_len, causal, dtype,
            kv_dtype, phase, window, implementation, dropout,
        )  # fmt: skip
    op = _new(Attention)
    op.__dict__.update(
        name=name,
        batch=batch,
        num_heads=num_heads,
        num_kv_heads=num_kv_heads,
        head_dim=head_dim,
        q_len=q_len,
        kv_len=kv_len,
        causal=causal,
        dtype=dtype,
        kv_dtype=kv_dtype,
        phase=phase,
        window=window,
        implementation=implementation,
        dropout=dropout,
    )
    return op


def copy_op(op: Op, **changes: object) -> Op:
    """dataclasses.replace(op, **changes) for changes known to be valid (counts, names,
    phase), without re-running __init__."""
    new = _new(type(op))
    fields = new.__dict__
    fields.update(op.__dict__)
    fields.update(changes)
    return new
