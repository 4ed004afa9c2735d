"""Fine-tuning: what a `--finetune full|lora|sft` step trains, and the ops LoRA adds.

- full: every weight trained (today's training step).
- lora (Hu et al. 2021, arXiv:2106.09685): the base weights are frozen, so their weight-
  gradient GEMMs do not run and they get no gradient, master copy or optimizer state;
  their data-gradient GEMMs still run (the gradient flows through them to the adapters
  below). Each target projection W (k x n) gets an adapter A (k x r) and B (r x n), run
  beside it: x A, then (x A) B added to x W, each GEMM with its data and weight gradient.
  Only the adapters are trained. The embedding and the LM head are frozen too (no
  embedding gradient is formed). Left out: the first layer's data gradients below its
  first adapter (not needed, a 1/l error), the frozen norms' weight-gradient writes
  (vectors), and the adapter dropout (MLPerf's lora_dropout 0.1, a stream over the
  adapter input).
- sft: full fine-tuning on packed sequences. Model: each sequence packs documents of
  equal length `sft_doc_len` (the mean), each attending only within itself, as the
  block-diagonal (varlen) attention of packed SFT runs does: a layer's attention becomes
  'chunked' attention of chunk `sft_doc_len` (the pairs of l/L documents of L tokens). Real
  lengths vary, so this undercounts pairs by E[L^2] / E[L]^2. Weights, gradients and
  optimizer state as full training.

Defaults follow MLPerf Training's llama2_70b_lora reference (mlcommons/training,
llama2_70b_lora/run_llama_70B_scrolls_r16.sh: --lora_r 16 --lora_alpha 32
--lora_target_modules "qkv_proj,o_proj" on a fused-QKV Llama-2-70B): rank 16, one adapter
on the fused QKV projection ('qkv') and one on the attention output ('o'). NVIDIA's NeMo
submission (training_results_v4.0, llama2_70b_lora/implementations/nemo, conf
megatron_gpt_peft_tuning_config.yaml: adapter_dim 16, target_modules ['attention']) adapts
the same two projections.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tigris.errors import SpecError
from tigris.workload.layers import Shape, Step, gemm_backward, layer_steps
from tigris.workload.ops import Gemm, make_gemm, make_stream
from tigris.workload.precision import Precision
from tigris.workload.spec import LayerKind, TransformerSpec

FineTuneMode = Literal["full", "lora", "sft"]
FINETUNE_MODES = ("full", "lora", "sft")
# q, k, v: separate adapters on the query, key and value parts of the QKV projection
# (PEFT on an unfused q_proj/k_proj/v_proj); qkv: one adapter on the fused projection
LORA_TARGETS = ("q", "k", "v", "qkv", "o", "gate", "up", "down")
DEFAULT_LORA_RANK = 16  # MLPerf llama2_70b_lora reference, --lora_r 16
DEFAULT_LORA_TARGETS = ("qkv", "o")  # its --lora_target_modules "qkv_proj,o_proj"


class FineTune(BaseModel):
    """What a fine-tuning step trains: `mode`, the LoRA rank and target projections, the
    mean packed-document length of SFT (None: one document per sequence)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: FineTuneMode = "full"
    lora_rank: int = DEFAULT_LORA_RANK
    lora_targets: tuple[str, ...] = DEFAULT_LORA_TARGETS
    sft_doc_len: int | None = None

    def as_dict(self) -> dict[str, object]:
        if self.mode == "lora":
            return {"mode": "lora", "lora_rank": self.lora_rank,
                    "lora_targets": list(self.lora_targets)}  # fmt: skip
        if self.mode == "sft":
            return {"mode": "sft", "sft_doc_len": self.sft_doc_len}
        return {"mode": self.mode}


class FineTunedSpec(TransformerSpec):
    """A model with how it is fine-tuned: the base spec's fields and `finetune`. The graph
    builders, memory and the step model read `finetune_of(spec)`; equal to no other spec,
    so every memo keyed by the spec keeps fine-tuned steps apart."""

    finetune: FineTune


def finetune_of(spec: TransformerSpec) -> FineTune | None:
    """The spec's fine-tuning, None for plain (full) training (read from the instance's
    fields: getattr on a plain spec pays pydantic's slow attribute miss, once per plan)."""
    return spec.__dict__.get("finetune")


def lora_of(spec: TransformerSpec) -> FineTune | None:
    """The spec's fine-tuning when it is LoRA, else None."""
    found = finetune_of(spec)
    return found if found is not None and found.mode == "lora" else None


def with_finetune(spec: TransformerSpec, finetune: FineTune) -> TransformerSpec:
    """`spec` fine-tuned as `finetune` (the spec itself for full training: the very same
    step as without the option)."""
    if finetune.mode == "full":
        return spec
    check_targets(spec, finetune)
    fields = {name: getattr(spec, name) for name in TransformerSpec.model_fields}
    return FineTunedSpec(**fields, finetune=finetune)


# ---- options -----------------------------------------------------------------------------


def parse_targets(text: str) -> tuple[str, ...]:
    """'q,v' -> ('q', 'v'); SpecError naming --lora-targets for an unknown, repeated or
    missing name, or q/k/v together with the fused qkv."""
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in LORA_TARGETS:
            raise SpecError(
                f"unknown target {name[:20]!r}",
                key_path="--lora-targets",
                hint=f"a comma list of {', '.join(LORA_TARGETS)}",
            )
    if len(set(names)) != len(names):
        raise SpecError(f"a target is repeated in {text[:60]!r}", key_path="--lora-targets")
    if "qkv" in names and {"q", "k", "v"} & set(names):
        raise SpecError("qkv (one fused adapter) overlaps q, k or v", key_path="--lora-targets")
    return names


def check_targets(spec: TransformerSpec, finetune: FineTune) -> None:
    """SpecError naming --lora-targets when a target has no projection in this model."""
    if finetune.mode != "lora":
        return
    missing = [t for t in finetune.lora_targets if t == "gate" and not spec.gated_mlp]
    if spec.is_mla and "qkv" in finetune.lora_targets:
        missing.append("qkv")
    if missing:
        raise SpecError(
            f"{spec.name} has no {missing[0]!r} projection",
            key_path="--lora-targets",
            hint="gate needs a gated MLP; MLA models take q, k, v (no fused qkv)",
        )


def make_finetune(
    mode: str,
    seq_len: int,
    lora_rank: int | None = None,
    lora_targets: str | tuple[str, ...] | None = None,
    sft_doc_len: int | None = None,
) -> FineTune:
    """The FineTune of `tigris train`'s options, checked (SpecError naming the option)."""
    if mode not in FINETUNE_MODES:
        raise SpecError(
            f"unknown mode {str(mode)[:20]!r}",
            key_path="--finetune",
            hint="full | lora | sft",
        )
    lora_given = {"--lora-rank": lora_rank, "--lora-targets": lora_targets}
    for option, value in lora_given.items():
        if value is not None and mode != "lora":
            raise SpecError("applies only with --finetune lora", key_path=option)
    if sft_doc_len is not None and mode != "sft":
        raise SpecError("applies only with --finetune sft", key_path="--sft-doc-len")
    if mode == "lora":
        return _lora(lora_rank, lora_targets)
    if mode == "sft":
        doc_len = seq_len if sft_doc_len is None else sft_doc_len
        if not 1 <= doc_len <= seq_len:
            raise SpecError(
                f"must be 1 to the sequence length {seq_len}, got {doc_len}",
                key_path="--sft-doc-len",
            )
        return FineTune(mode="sft", sft_doc_len=doc_len)
    return FineTune()


def _lora(rank: int | None, targets: str | tuple[str, ...] | None) -> FineTune:
    rank = DEFAULT_LORA_RANK if rank is None else rank
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= 2**16:
        raise SpecError(f"must be an integer from 1 to 65536, got {str(rank)[:20]}",
                        key_path="--lora-rank")  # fmt: skip
    if targets is None:
        names = DEFAULT_LORA_TARGETS
    elif isinstance(targets, str):
        names = parse_targets(targets)
    else:
        names = parse_targets(",".join(targets))
    return FineTune(mode="lora", lora_rank=rank, lora_targets=names)


# ---- the ops of a LoRA step ----------------------------------------------------------------


def packed_kind(kind: LayerKind, finetune: FineTune | None, seq_len: int) -> LayerKind:
    """The attention a layer of `kind` runs on SFT's packed sequences: chunked attention
    of one document (sft_doc_len) unless the layer's own window is already narrower (a
    sliding window inside a document: kept as it is)."""
    if finetune is None or finetune.mode != "sft" or finetune.sft_doc_len is None:
        return kind
    doc = finetune.sft_doc_len
    if doc >= seq_len or (kind.window is not None and kind.window <= doc):
        return kind
    return LayerKind("chunked", doc, kind.mlp)


def adapted_parts(
    spec: TransformerSpec, op: Gemm, targets: tuple[str, ...]
) -> list[tuple[str, int]]:
    """(target, output width) of each adapter on the projection GEMM `op` (its input
    width is op.k): the query, key and value parts of a fused QKV projection, the gate and
    up halves of a fused gate_up, or the whole output."""
    name = op.name
    if name == "attn.qkv":
        parts = {"qkv": op.n, "q": spec.q_size, "k": spec.kv_size, "v": spec.kv_size}
    elif name in ("attn.q", "attn.q_b"):
        parts = {"q": op.n}
    elif name == "attn.kv_b":
        nope = spec.head_dim - spec.qk_rope_head_dim
        parts = {"k": spec.num_heads * nope, "v": spec.num_heads * spec.value_head_dim}
    elif name == "attn.out":
        parts = {"o": op.n}
    elif name.endswith(".gate_up"):
        parts = {"gate": op.n // 2, "up": op.n // 2}
    elif name.endswith((".up", ".down")):
        parts = {name.rsplit(".", 1)[1]: op.n}
    else:
        return []
    return [(target, parts[target]) for target in targets if target in parts]


def frozen(step: Step) -> Step:
    """`step` with frozen weights: its backward without weight-gradient GEMMs."""
    kept = tuple(op for op in step.backward if not op.name.endswith(".wgrad"))
    return step if len(kept) == len(step.backward) else Step(step.forward, kept)


def adapter_steps(shape: Shape, op: Gemm, target: str, width: int, rank: int) -> list[Step]:
    """LoRA's A (k x r) and B (r x width) GEMMs beside the projection `op` (same rows and
    expert batch), in the compute dtype whatever the base weights' dtype, each with its
    data and weight gradient; then B's output added to the projection's (the alpha / r
    scale folded in). The add's backward is no op: both branches read the same dY."""
    precision, dtype = shape.precision, shape.precision.compute_dtype
    name = f"{op.name}.{target}"
    a = make_gemm(f"{name}.lora_a", op.m, rank, op.k, op.batch, dtype, None, dtype)
    b = make_gemm(f"{name}.lora_b", op.m, width, rank, op.batch, dtype, None, dtype)
    elements = op.m * width * op.batch
    add = make_stream(f"{op.name}.lora_add", elements, 2 * elements * shape.act_bytes,
                      elements * shape.act_bytes)  # fmt: skip
    backward = shape.backward
    return [
        Step(a, gemm_backward(a, precision) if backward else ()),
        Step(b, gemm_backward(b, precision) if backward else ()),
        Step(add, ()),
    ]


def lora_steps(shape: Shape, steps: list[Step], finetune: FineTune) -> list[Step]:
    """A part's steps with frozen weights and LoRA adapters beside its target projections."""
    out: list[Step] = []
    for step in steps:
        out.append(frozen(step))
        op = step.forward
        if isinstance(op, Gemm):
            for target, width in adapted_parts(shape.spec, op, finetune.lora_targets):
                out.extend(adapter_steps(shape, op, target, width, finetune.lora_rank))
    return out


def frozen_embedding(steps: list[Step]) -> list[Step]:
    """The embedding with frozen tables: no gradient is scattered into them."""
    return [Step(step.forward, ()) for step in steps]


def adapter_params(spec: TransformerSpec, kind: LayerKind, finetune: FineTune) -> int:
    """Trainable adapter parameters of one layer of `kind`: r (k + n) for each adapter
    (k, n: its projection's input width and the adapted output width), times the experts
    of an adapted expert projection. Read off the layer's forward GEMMs for enough tokens
    that every routed expert gets a row."""
    tokens = max(1, -(-spec.num_experts // max(1, spec.num_experts_per_token)))
    shape = Shape(spec, Precision(), 1, tokens, tokens, kv_cache=False, backward=False)
    rank, total = finetune.lora_rank, 0
    for step in layer_steps(shape, kind):
        op = step.forward
        if isinstance(op, Gemm):
            for _, width in adapted_parts(spec, op, finetune.lora_targets):
                total += op.batch * rank * (op.k + width)
    return total


def trainable_layer_params(spec: TransformerSpec, kind: LayerKind) -> int | None:
    """Trainable parameters of one layer of `kind` under LoRA (None: every weight)."""
    lora = lora_of(spec)
    return None if lora is None else adapter_params(spec, kind, lora)
