"""WHERE a model is served: the chip, its system, the parallel layout and the engine settings.

A replica is one tp x ep x pp group of chips holding a whole copy of the model;
`num_chips` chips hold `num_chips / (tp * ep * pp)` replicas, each serving its own share of
the requests (data parallel). Expert parallelism (`ep`) follows tigris.parallel.partition:
each of ep ranks holds experts / ep of every MoE layer (each expert split tp ways) and runs
attention data-parallel on its 1/ep of the replica's sequences (DeepSeek-V3 style serving);
tokens reach their experts by an all-to-all. With tp 1 and ep = the replica's chips this is
the wide-EP layout SGLang and DeepSeek deploy (DP attention, experts spread over every GPU
of the replica, the all-to-all crossing nodes: lmsys.org/blog/2025-05-05-large-scale-ep).
The busiest ep rank sets each MoE layer's pace: `moe_imbalance` (tigris.workload.moe).

Engine settings follow vLLM's defaults where vLLM has one: 16-token KV blocks, 90% of
device memory for weights + activations + KV cache, a token budget per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.chip import Chip
from tigris.hardware.presets import default_cluster, load_chip
from tigris.hardware.quantities import DTYPE_BYTES, dtype_bytes
from tigris.hardware.stacks import StackProfile
from tigris.hardware.system import Cluster
from tigris.workload.moe import DEFAULT_MOE_IMBALANCE, check_expert_gemm, check_imbalance
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.spec import TransformerSpec

DEFAULT_BLOCK_SIZE = 16  # tokens per KV-cache block (vLLM default)
DEFAULT_MEMORY_UTILIZATION = 0.9  # share of device memory the engine may use (vLLM default)
DEFAULT_MAX_NUM_SEQS = 256  # sequences in one step (vLLM default)
DEFAULT_TOKEN_BUDGET = 8192  # tokens in one step (max_num_batched_tokens)
# Activations between GEMMs when the GEMMs run in a narrower dtype (fp8, int8 W8A8): the
# engines keep the residual stream, norms, RoPE, SwiGLU, attention's Q and output and the
# tp all-reduces in 16-bit and quantise only each GEMM's input on the fly (TensorRT-LLM's
# fp8 GEMM plugins with bf16 outputs and a per-tensor activation scale; vLLM's Fp8LinearMethod
# calls scaled_fp8_quant on the bf16 input and returns bf16 (out_dtype = input.dtype)).
# ModelOpt's and vLLM's fp8 checkpoints leave the LM head unquantised (`*lm_head*` disabled).
WIDE_ACTIVATION_DTYPE = "bf16"


def activation_dtype(precision: Precision) -> str:
    """The dtype activations are stored in between GEMMs: the compute dtype when it is 16
    bits or wider, else bf16 (fp8/int8 compute quantises only the GEMM inputs)."""
    if dtype_bytes(precision.compute_dtype) >= 2:
        return precision.compute_dtype
    return WIDE_ACTIVATION_DTYPE


def _positive(name: str, value: int) -> None:
    if value < 1:
        raise SpecError(f"must be a positive integer, got {value!r}", key_path=name)


@dataclass(frozen=True)
class Deployment:
    """A model on chips: layout, dtypes and the serving engine's limits."""

    model: TransformerSpec
    chip: Chip
    num_chips: int = 1
    tp: int = 1
    pp: int = 1
    ep: int = 1
    precision: Precision = field(default_factory=Precision)
    cluster: Cluster | None = None
    block_size: int = DEFAULT_BLOCK_SIZE
    memory_utilization: float = DEFAULT_MEMORY_UTILIZATION
    # What memory_utilization is a share of (tigris.serving.memory.kv_cache_budget):
    # "total" device memory, weights and activations included (vLLM's
    # gpu_memory_utilization), or the memory "free" after them (TensorRT-LLM's
    # free_gpu_memory_fraction); the engine profiles set it.
    memory_utilization_of: str = "total"
    max_num_seqs: int = DEFAULT_MAX_NUM_SEQS
    token_budget: int = DEFAULT_TOKEN_BUDGET
    engine: str = "tile"
    # Decode attention kernels that read each KV head once for its whole query group
    # (FlashDecoding, TensorRT-LLM's XQA from v0.7, vLLM's paged attention v2). False: the
    # older masked multi-head kernel that reads K and V once per query head (TensorRT-LLM
    # up to v0.6), so GQA/MQA saves KV memory but not KV bandwidth.
    grouped_kv_reads: bool = True
    # Tensor-parallel all-reduce: "nccl" (ring/tree, tigris.parallel.collectives) or
    # "custom" (the engines' CUDA-graph-captured one-shot/two-shot kernels inside an
    # NVLink/NVSwitch domain: custom_all_reduce_time_s).
    all_reduce: str = "nccl"
    # busiest ep rank's routed tokens / the mean rank's (tigris.workload.moe); read only
    # with ep > 1
    moe_imbalance: float = DEFAULT_MOE_IMBALANCE
    # how the expert GEMMs run (tigris.workload.moe.EXPERT_GEMM_PATHS): "native", the
    # chip's GEMM path in the compute dtype; "sm80-a16", TensorRT-LLM v0.9's grouped GEMMs
    # on mma.sync with 16-bit activations
    moe_expert_gemm: str = "native"
    # the ep dispatch/combine (tigris.serving.ep_kernels): "nccl" collectives, or
    # "deepep" at DeepEP's published bandwidth with FP8 dispatch; and whether two
    # micro-batches overlap it with computation (SGLang/DeepSeek two-batch overlap)
    ep_all_to_all: str = "nccl"
    two_batch_overlap: bool = False
    # the software stack (tigris.hardware.stacks): its host time per step; None: the
    # chip's default stack, which adds none
    stack: StackProfile | None = None

    def __post_init__(self) -> None:
        check_imbalance(self.moe_imbalance)
        check_expert_gemm(self.moe_expert_gemm)
        if self.ep_all_to_all not in ("nccl", "deepep"):
            raise SpecError(
                f"unknown ep all-to-all {self.ep_all_to_all[:20]!r}",
                key_path="ep_all_to_all",
                hint="nccl or deepep",
            )
        for name in ("num_chips", "tp", "pp", "ep", "block_size", "max_num_seqs", "token_budget"):
            _positive(f"--{name.replace('_', '-')}", getattr(self, name))
        if self.all_reduce not in ("nccl", "custom"):
            raise SpecError(
                f"unknown all-reduce {self.all_reduce!r}",
                key_path="all_reduce",
                hint="nccl or custom",
            )
        if self.memory_utilization_of not in ("total", "free"):
            raise SpecError(
                f"unknown memory share {self.memory_utilization_of[:20]!r}",
                key_path="memory_utilization_of",
                hint="total or free",
            )
        if not 0 < self.memory_utilization <= 1:
            raise SpecError(
                f"must be in (0, 1], got {self.memory_utilization}", key_path="memory_utilization"
            )
        if self.num_chips % self.chips_per_replica:
            raise SpecError(
                f"--num-chips {self.num_chips} is not a multiple of tp x ep x pp = "
                f"{self.chips_per_replica}",
                key_path="--num-chips",
                hint="each replica is one tp x ep x pp group",
            )
        spec = self.model
        if spec.num_heads % self.tp:
            raise InfeasibleError(
                f"tp={self.tp} does not divide the {spec.num_heads} attention heads of {spec.name}"
            )
        if self.pp > spec.num_layers:
            raise InfeasibleError(f"pp={self.pp} exceeds the {spec.num_layers} layers")
        if self.ep > 1:
            if not spec.is_moe:
                raise InfeasibleError(f"ep={self.ep} needs a mixture-of-experts model")
            if spec.num_experts % self.ep:
                raise InfeasibleError(
                    f"ep={self.ep} does not divide the {spec.num_experts} experts"
                )
        kv = spec.num_kv_heads
        if (self.tp <= kv and kv % self.tp) or (self.tp > kv and self.tp % kv):
            raise InfeasibleError(f"tp={self.tp} and the {kv} KV heads do not divide one another")

    @property
    def activation_dtype(self) -> str:
        """Activations between GEMMs (norms, residual adds, attention, all-reduces)."""
        return activation_dtype(self.precision)

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.ep * self.pp

    @property
    def num_replicas(self) -> int:
        return self.num_chips // self.chips_per_replica

    @cached_property
    def system(self) -> Cluster | None:
        """The cluster whose links the collectives use (the chip's default system)."""
        return self.cluster or default_cluster(self.chip)


def build_deployment(
    model: str | TransformerSpec,
    chip: str | Chip,
    *,
    num_chips: int = 1,
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    compute_dtype: str = "bf16",
    **settings: object,
) -> Deployment:
    """A Deployment from catalog ids, file paths or spec objects; tp defaults to
    num_chips / (pp ep)."""
    spec = model if isinstance(model, TransformerSpec) else load_model(model)
    chip_spec = chip if isinstance(chip, Chip) else load_chip(chip)
    if tp is None:
        _positive("--pp", pp)
        _positive("--ep", ep)
        tp = max(1, num_chips // (pp * ep))
    for key, dtype in (
        ("--compute-dtype", compute_dtype),
        ("--weight-dtype", weight_dtype),
        ("--kv-dtype", kv_dtype),
    ):
        if dtype is not None and dtype not in DTYPE_BYTES:
            raise SpecError(
                f"unknown dtype {dtype!r}", key_path=key, hint=f"one of {', '.join(DTYPE_BYTES)}"
            )
    precision = Precision(
        compute_dtype=compute_dtype, weight_dtype=weight_dtype, kv_cache_dtype=kv_dtype
    )
    return Deployment(
        model=spec,
        chip=chip_spec,
        num_chips=num_chips,
        tp=tp,
        pp=pp,
        ep=ep,
        precision=precision,
        **settings,  # type: ignore[arg-type]
    )
