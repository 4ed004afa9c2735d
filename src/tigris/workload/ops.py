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


def chunked_pairs(q_len: int, kv_len: int, chunk: int) -> float:
    """Query-key pairs of chunked causal attention (Llama 4's local layers: the sequence is
    cut into chunks of `chunk` tokens and a query sees only the keys of its own chunk up to
    itself), queries being the last q_len of kv_len positions.

    The query at position p sees (p mod chunk) + 1 keys, so the pairs are
    S(kv_len) - S(kv_len - q_len) with S(n) = sum over p < n, in closed form below."""
    return _chunked_prefix_pairs(kv_len, chunk) - _chunked_prefix_pairs(kv_len - q_len, chunk)


def window_pairs(q_len: int, kv_len: int, window: int | None, mode: str = "sliding") -> float:
    """Causal query-key pairs per head under a window of either mode ('sliding' or
    'chunked'; no window: plain causal)."""
    if window is not None and mode == "chunked":
        return chunked_pairs(q_len, kv_len, window)
    return causal_pairs(q_len, kv_len, window)


def _chunked_prefix_pairs(positions: int, chunk: int) -> float:
    """Pairs of the first `positions` queries: each full chunk has chunk (chunk + 1) / 2,
    the partial last one rest (rest + 1) / 2."""
    full, rest = divmod(positions, chunk)
    return float(full) * chunk * (chunk + 1) / 2 + rest * (rest + 1) / 2


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


# flash3 (Shah et al. 2024), cudnn (cuDNN 9 SDPA) and triton (the Triton tutorial's fused
# attention) are FlashAttention-style kernels too: tigris.engines.tile.attention.FLASH_KERNELS.
ATTENTION_IMPLEMENTATIONS = (
    "flash2", "flash1", "standard", "fused_softmax", "flash3", "cudnn", "triton"
)  # fmt: skip
WINDOW_MODES = ("sliding", "chunked")
# A sink logit (gpt-oss) is one more score per head and query row through the softmax:
# the 5 flop per element of layers.SOFTMAX_FLOP_PER_ELEMENT (max, subtract, exp, sum, scale).
SINK_FLOP_PER_ROW = 5.0


@dataclass(frozen=True)
class Attention:
    """Scaled dot-product attention, FlashAttention style (no S x S matrix in memory).

    Forward flop: 4 * batch * heads * head_dim * (number of query-key pairs), the pairs
    being q_len * kv_len, or for causal masking those with key position <= query position
    (queries are the last q_len positions of kv_len). Backward is 2.5x forward (five
    matmuls instead of two; FlashAttention-2, Dao 2023); `recompute` adds the forward's
    QK^T once more as FlashAttention's backward does.

    `window` limits the keys a query sees: 'sliding' `window_mode` keeps the last `window`
    keys (Mistral), 'chunked' only those of the query's own `window`-token chunk (Llama 4).
    `v_head_dim` is the AV width when it differs from the QK width `head_dim` (MLA: QK 192,
    AV 128 in DeepSeek-V3's prefill); the forward flop is then 2 * (head_dim + v_head_dim)
    per pair and head. `kv_shared`: V is the first v_head_dim columns of the K rows (MLA's
    absorbed decode attends over the cached latent, read once). `sinks`: one learned sink
    logit per head joins each row's softmax (gpt-oss), SINK_FLOP_PER_ROW flop per row.

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
    window_mode: str = "sliding"  # sliding | chunked: how `window` limits the keys
    v_head_dim: int | None = None  # AV width; None = head_dim
    kv_shared: bool = False  # V read from the K rows (MLA latent), not stored apart
    sinks: bool = False  # one sink logit per head in every row's softmax

    def __post_init__(self) -> None:
        if self.implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"{self.name}: unknown attention implementation {self.implementation!r} "
                f"(one of {', '.join(ATTENTION_IMPLEMENTATIONS)})"
            )
        if self.window_mode not in WINDOW_MODES:
            raise ValueError(f"{self.name}: unknown window mode {self.window_mode!r}")

    @property
    def value_dim(self) -> int:
        return self.v_head_dim or self.head_dim

    @property
    def pair_width(self) -> int:
        """QK plus AV width: each pair and head costs 2 * pair_width flop forward."""
        return self.head_dim + self.value_dim

    @property
    def num_pairs(self) -> float:
        """Query-key pairs per head (after causal masking and the sliding or chunked window)."""
        if not self.causal:
            return float(self.q_len) * self.kv_len
        return window_pairs(self.q_len, self.kv_len, self.window, self.window_mode)

    def first_key(self, position: int) -> int:
        """First key the query at `position` sees (its last is itself under causal masking)."""
        if self.window is None:
            return 0
        if self.window_mode == "chunked":
            return position - position % self.window
        return max(0, position - self.window + 1)

    @property
    def kv_span(self) -> int:
        """Keys some query sees: all kv_len, or under a window from the first query's first
        key on (sliding: the last q_len + window - 1; chunked: from its chunk's start)."""
        if self.window is None:
            return self.kv_len
        return self.kv_len - self.first_key(self.kv_len - self.q_len)

    @property
    def flop(self) -> float:
        forward = 2.0 * self.batch * self.num_heads * self.pair_width * self.num_pairs
        if self.sinks:
            forward += SINK_FLOP_PER_ROW * self.batch * self.num_heads * self.q_len
        return forward if self.phase == "fwd" else 2.5 * forward

    @property
    def min_bytes(self) -> float:
        element = dtype_bytes(self.dtype)
        kv_element = dtype_bytes(self.kv_dtype or self.dtype)
        q_o = self.batch * self.num_heads * self.q_len * self.pair_width * element
        kv_width = self.head_dim if self.kv_shared else self.pair_width
        kv = self.batch * self.num_kv_heads * self.kv_span * kv_width * kv_element
        sinks = self.num_heads * element if self.sinks else 0.0
        if self.phase == "fwd":
            return q_o + kv + sinks
        # backward reads Q, K, V, O, dO and writes dQ, dK, dV
        return 2 * q_o + 2 * kv + q_o / 2 + 2 * sinks


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
    window_mode: str = "sliding",
    v_head_dim: int | None = None,
    kv_shared: bool = False,
    sinks: bool = False,
) -> Attention:
    """Attention(...) with every field in order, built fast."""
    if implementation not in ATTENTION_IMPLEMENTATIONS or window_mode not in WINDOW_MODES:
        return Attention(  # raises
            name, batch, num_heads, num_kv_heads, head_dim, q_len, kv_len, causal, dtype,
            kv_dtype, phase, window, implementation, dropout, window_mode, v_head_dim,
            kv_shared, sinks,
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
        window_mode=window_mode,
        v_head_dim=v_head_dim,
        kv_shared=kv_shared,
        sinks=sinks,
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
