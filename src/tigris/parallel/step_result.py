"""What the training-step model takes and gives: the fixed setup of a run, the choices it
compares, and the result of one step as a tree of named parts.

Kept apart from the model (`tigris.parallel.step_model`) so that callers that only read
results (compare, explore, validate, the API) need none of its machinery.

MFU follows PaLM (Chowdhery et al. 2022, appendix B): model flop per token
6 N + 12 L H Q T (N matmul weights, L layers, H heads of width Q, T sequence; attention
counted without causal savings, recomputation excluded). HFU adds the recomputed forward.
A fine-tuning step counts its own necessary flop (the issue's convention: MFU counts the
model's necessary flop): LoRA's frozen weights run forward (2 N) and data gradient (2 N)
but no weight gradient, its adapters all three (3 x their forward); SFT's packed
documents attend within themselves, so T is the document length (`attention_span`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

from tigris.hardware.chip import Chip
from tigris.hardware.system import Cluster
from tigris.parallel.memory import MemoryBreakdown
from tigris.parallel.plan import ParallelPlan
from tigris.workload.finetune import FineTune, adapted_parts, finetune_of, lora_of
from tigris.workload.layers import Shape, layer_steps
from tigris.workload.ops import Gemm
from tigris.workload.precision import Precision
from tigris.workload.spec import TransformerSpec


# Member names equal their values: an Enum hashes by name, so only then does a member
# find a dict entry keyed by the plain string (the CLI and spec files give strings).
class Recompute(StrEnum):
    """Activation recomputation: none, attention only (selective), the whole layer."""

    none = "none"
    selective = "selective"
    full = "full"


class AttentionKernel(StrEnum):
    """The attention kernel a framework runs (`tigris.workload.ops.Attention`)."""

    flash2 = "flash2"
    flash1 = "flash1"
    standard = "standard"
    fused_softmax = "fused_softmax"


class Loss(StrEnum):
    """The cross-entropy: one fused kernel, or fp32 logits through eager kernels."""

    fused = "fused"
    fp32 = "fp32"


class Collective(StrEnum):
    """Collective kinds the step issues (`tigris.parallel.collectives.KINDS`)."""

    all_reduce = "all_reduce"
    all_gather = "all_gather"
    reduce_scatter = "reduce_scatter"
    all_to_all = "all_to_all"
    p2p = "p2p"


@dataclass(frozen=True)
class TrainSetup:
    """What stays fixed while plans vary: model, hardware, chips, batch, sequence, and how
    the framework runs the step.

    Framework mechanisms (defaults: a current framework; `tigris.validate.train` sets them
    per published source):
    - attention: the attention kernel (AttentionKernel): FlashAttention-2, -1, unfused
      PyTorch, or Megatron-LM 2021's batched GEMMs around a fused scale-mask-softmax
      kernel (the S x S scores through DRAM); see `Attention`.
    - attention_dropout: dropout on the attention probabilities (Megatron's GPT-3 runs used
      0.1); one more S x S pass forward and backward for the unfused kinds.
    - dp_overlap: the data-parallel gradient reduction (ZeRO 0-2) runs in buckets while
      backward computes (PyTorch DDP, Megatron-LM's --overlap-grad-reduce since 2023);
      False: it starts after the backward and is fully exposed (Megatron-LM as of
      Narayanan et al. 2021).
    - eager: ops launched one by one from Python (PyTorch eager mode, no CUDA graphs); a
      kernel then takes at least the host's launch time (chip.calibration.host_overhead),
      since the GPU runs ahead of the host only as long as kernels are longer than their
      launches. False for compiled or graph-captured steps (XLA, CUDA graphs).
    - loss: the cross-entropy (Loss); see `tigris.workload.layers.head_steps`.
    - grad_reduce_dtype: PyTorch FSDP's MixedPrecision reduce_dtype ('fp32' or 'bf16'):
      gradients are reduce-scattered in it, after FSDP's cast and pre-division passes
      over the unsharded gradient each micro-batch (`tigris.parallel.overlap`). None: the
      precision's grad_dtype with no such passes (Megatron-LM's main_grad).
    Collectives overlapping compute on a GPU slow it down (`tigris.parallel.overlap`).
    """

    spec: TransformerSpec
    chip: Chip
    cluster: Cluster
    num_chips: int
    global_batch: int
    seq_len: int
    engine: str = "tile"
    precision: Precision = field(default_factory=Precision)
    attention: str = AttentionKernel.flash2
    attention_dropout: bool = False
    dp_overlap: bool = True
    eager: bool = False
    loss: str = Loss.fused
    grad_reduce_dtype: str | None = None
    # busiest expert-parallel rank's routed tokens / the mean (tigris.workload.moe). 1:
    # the measured default (DEFAULT_MOE_IMBALANCE) is a serving one; no published
    # max/mean of a training run's ep ranks was found (DeepSeek-V3's auxiliary-loss-free
    # balancing shows per-expert loads, not this ratio)
    moe_imbalance: float = 1.0
    # how the ep dispatch/combine crosses the cluster: 'nccl' (an all-to-all of every
    # routed copy, tigris.parallel.collectives) or 'deepep' (DeepSeek's kernels: FP8
    # dispatch, one copy per remote node forwarded over NVLink; step_model.ep_layer_s)
    ep_all_to_all: str = "nccl"


@dataclass(frozen=True)
class StepNode:
    """A share of one chip's step: its time (children sum to it) and the work behind it,
    flop, DRAM bytes and bytes sent over links, per chip averaged over the pipeline
    stages (what energy multiplies by the chip count)."""

    name: str
    time_s: float
    children: tuple[StepNode, ...] = ()
    flop: float = 0.0
    dram_bytes: float = 0.0
    link_bytes: float = 0.0

    def to_dict(self, *, traffic: bool = False) -> dict[str, object]:
        """name and time_s (and children); `traffic` adds flop, DRAM and link bytes (off
        by default: the `--json` document of `tigris train` shows times only)."""
        out: dict[str, object] = {"name": self.name, "time_s": self.time_s}
        if traffic:
            out |= {"flop": self.flop, "dram_bytes": self.dram_bytes}
            out["link_bytes"] = self.link_bytes
        if self.children:
            out["children"] = [child.to_dict(traffic=traffic) for child in self.children]
        return out

    def find(self, name: str) -> StepNode | None:
        """The node of that name in this tree (depth first), or None."""
        if self.name == name:
            return self
        for child in self.children:
            found = child.find(name)
            if found is not None:
                return found
        return None

    def leaves(self) -> tuple[StepNode, ...]:
        if not self.children:
            return (self,)
        return tuple(leaf for child in self.children for leaf in child.leaves())


TimeNode = StepNode  # the name callers knew before nodes carried traffic

COMPUTE_PARTS = ("forward", "backward", "recompute", "embedding and head")
COMM_PARTS = ("tp", "cp", "ep", "pp p2p", "dp")


@dataclass(frozen=True, slots=True)
class ComputeSeconds:
    """One step's compute on one chip, by pass (micro-batches included)."""

    forward: float
    backward: float
    recompute: float
    embedding_and_head: float

    def parts(self) -> tuple[float, float, float, float]:
        return (self.forward, self.backward, self.recompute, self.embedding_and_head)


@dataclass(frozen=True, slots=True)
class CommSeconds:
    """One step's exposed communication, by mechanism."""

    tp: float
    cp: float
    ep: float
    pp_p2p: float
    dp: float

    def parts(self) -> tuple[float, float, float, float, float]:
        return (self.tp, self.cp, self.ep, self.pp_p2p, self.dp)

    @property
    def total(self) -> float:
        return sum(self.parts())


@dataclass(frozen=True, slots=True)
class StepSeconds:
    """The step's time by part, kept as numbers: a search evaluates thousands of steps and
    reads only their totals; the tree is built when asked for."""

    step_s: float
    compute_s: float
    compute: ComputeSeconds
    comm: CommSeconds
    bubble_s: float
    optimizer_s: float

    @property
    def comm_s(self) -> float:
        return self.comm.total


@dataclass(frozen=True)
class StepResult:
    plan: ParallelPlan
    step_time_s: float
    num_microbatches: int
    tokens_per_step: int
    num_chips: int
    model_flop_per_step: float
    hardware_flop_per_step: float
    peak_flop_per_s: float
    memory: MemoryBreakdown
    seconds: StepSeconds = field(compare=False)
    # Builds the tree with its traffic (flop, DRAM and link bytes) from the model's
    # inputs when first asked for: a search reads step times only.
    build_tree: Callable[[StepSeconds], StepNode] | None = field(
        default=None, compare=False, repr=False
    )

    @cached_property
    def tree(self) -> StepNode:
        """The step as a tree of named parts: time, flop, DRAM bytes and link bytes."""
        if self.build_tree is None:
            return time_tree(self.seconds)
        return self.build_tree(self.seconds)

    @property
    def breakdown(self) -> StepNode:
        """Where the step's time went, as a tree whose children sum to their parent."""
        return self.tree

    @property
    def tokens_per_s(self) -> float:
        return self.tokens_per_step / self.step_time_s

    @property
    def model_flop_per_s_per_chip(self) -> float:
        return self.model_flop_per_step / self.step_time_s / self.num_chips

    @property
    def hardware_flop_per_s_per_chip(self) -> float:
        return self.hardware_flop_per_step / self.step_time_s / self.num_chips

    @property
    def mfu(self) -> float:
        return self.model_flop_per_s_per_chip / self.peak_flop_per_s

    @property
    def hfu(self) -> float:
        return self.hardware_flop_per_s_per_chip / self.peak_flop_per_s

    @property
    def fits(self) -> bool:
        return self.memory.fits

    def time_to_train_s(self, tokens: float) -> float:
        return tokens / self.tokens_per_s

    def to_dict(self, tokens: float | None = None) -> dict[str, object]:
        out: dict[str, object] = {
            "step_time_s": self.step_time_s,
            "mfu": self.mfu,
            "hfu": self.hfu,
            "tokens_per_s": self.tokens_per_s,
            "model_flop_per_s_per_chip": self.model_flop_per_s_per_chip,
            "hardware_flop_per_s_per_chip": self.hardware_flop_per_s_per_chip,
            "memory_per_chip_bytes": self.memory.total_bytes,
            "fits": self.fits,
            "plan": self.plan.as_dict(),
            "num_chips": self.num_chips,
            "num_microbatches": self.num_microbatches,
            "tokens_per_step": self.tokens_per_step,
            "memory": self.memory.as_dict(),
            "breakdown": time_tree(self.seconds).to_dict(),
        }
        if tokens is not None:
            out["tokens"] = tokens
            out["time_to_train_s"] = self.time_to_train_s(tokens)
        return out


Traffic = tuple[float, float, float]  # flop, DRAM bytes, link bytes of one part
NO_TRAFFIC: Traffic = (0.0, 0.0, 0.0)


def time_tree(seconds: StepSeconds, traffic: dict[str, Traffic] | None = None) -> StepNode:
    """The step's tree from its seconds; `traffic` gives each leaf's (flop, DRAM bytes,
    link bytes) by name, and a parent carries the sums of its children's."""
    traffic = traffic or {}

    def leaf(name: str, time_s: float) -> StepNode:
        return StepNode(name, time_s, (), *traffic.get(name, NO_TRAFFIC))

    def parent(name: str, time_s: float, children: tuple[StepNode, ...]) -> StepNode:
        flop = sum(child.flop for child in children)
        dram = sum(child.dram_bytes for child in children)
        link = sum(child.link_bytes for child in children)
        return StepNode(name, time_s, children, flop, dram, link)

    compute = tuple(map(leaf, COMPUTE_PARTS, seconds.compute.parts()))
    comm = tuple(map(leaf, COMM_PARTS, seconds.comm.parts()))
    children = (
        parent("compute", seconds.compute_s, compute),
        parent("communication (exposed)", seconds.comm_s, comm),
        leaf("pipeline bubble", seconds.bubble_s),
        leaf("optimizer", seconds.optimizer_s),
    )
    return parent("step", seconds.step_s, children)


def attention_span(spec: TransformerSpec, seq_len: int) -> int:
    """Keys a token's attention spans in PaLM's 12 L H Q T: the sequence, or the packed
    document of an SFT step (tigris.workload.finetune)."""
    finetune = finetune_of(spec)
    if finetune is None or finetune.mode != "sft" or finetune.sft_doc_len is None:
        return seq_len
    return min(seq_len, finetune.sft_doc_len)


def adapter_flop_per_token(spec: TransformerSpec, lora: FineTune) -> float:
    """Forward flop of LoRA's adapters per token over the model's layers: 2 r (k + n) for
    each adapter of a projection (k its input, n the adapted width), times the rows each
    token routes to an adapted expert projection. Read off each layer kind's forward GEMMs
    for enough tokens that every routed expert gets a row."""
    tokens = max(1, -(-spec.num_experts // max(1, spec.num_experts_per_token)))
    shape = Shape(spec, Precision(), 1, tokens, tokens, kv_cache=False, backward=False)
    total = 0.0
    for kind, count in spec.layer_kinds():
        for step in layer_steps(shape, kind):
            op = step.forward
            if isinstance(op, Gemm):
                for _, width in adapted_parts(spec, op, lora.lora_targets):
                    total += count * 2.0 * op.batch * op.m * lora.lora_rank * (op.k + width)
    return total / tokens


def model_flop_per_token(spec: TransformerSpec, seq_len: int) -> float:
    """PaLM appendix B: 6 N + 12 L H Q T; LoRA: 4 N + 3 x the adapters' forward + the
    same attention (module docstring)."""
    attention = 12.0 * spec.num_layers * spec.q_size * attention_span(spec, seq_len)
    lora = lora_of(spec)
    if lora is not None:
        adapters = 3.0 * adapter_flop_per_token(spec, lora)
        return 4.0 * spec.num_matmul_params(active=True) + adapters + attention
    return 6.0 * spec.num_matmul_params(active=True) + attention


def recompute_flop_per_token(spec: TransformerSpec, seq_len: int, recompute: str) -> float:
    """Flop recomputed per token: the layers' forward (full, LoRA's adapters too) or
    attention's (selective)."""
    attention = 4.0 * spec.num_layers * spec.q_size * attention_span(spec, seq_len)
    if recompute == Recompute.full:
        layer_weights = spec.num_matmul_params(active=True) - spec.vocab_size * spec.hidden_size
        lora = lora_of(spec)
        adapters = 0.0 if lora is None else adapter_flop_per_token(spec, lora)
        return 2.0 * layer_weights + attention + adapters
    return attention if recompute == Recompute.selective else 0.0
