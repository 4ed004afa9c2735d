"""ParallelPlan: how a training run splits the model and the batch over chips.

Ranks are ordered as Megatron-LM orders them (tp fastest, then cp, then dp, then pp), so a
tp group is tp consecutive chips inside a node, a dp group has stride tp * cp and a
pipeline group stride tp * cp * dp. Expert parallelism is carved out of the data-parallel
ranks (ep divides dp): experts are split over ep ranks that hold different data.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tigris.errors import InfeasibleError, SpecError
from tigris.parallel.pipeline import PipelineSchedule
from tigris.parallel.stages import chunk_layer_counts
from tigris.workload.spec import TransformerSpec

Recompute = Literal["none", "selective", "full"]


class ParallelPlan(BaseModel):
    """Sizes of every parallel dimension and the memory-saving choices of one run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tp: int = Field(1, ge=1, description="tensor parallel ranks (Megatron column/row split)")
    pp: int = Field(1, ge=1, description="pipeline stages")
    dp: int = Field(1, ge=1, description="data parallel replicas (ZeRO shards over them)")
    cp: int = Field(1, ge=1, description="context parallel ranks (sequence split, ring K/V)")
    ep: int = Field(1, ge=1, description="expert parallel ranks, carved out of dp")
    micro_batch: int = Field(1, ge=1, description="sequences per micro-batch per replica")
    virtual_stages: int = Field(
        1, ge=1, description="model chunks per pipeline stage (interleaved 1F1B)"
    )
    recompute: Recompute = Field("none", description="activation recomputation")
    zero: int = Field(
        0, ge=0, le=3, description="ZeRO stage: 1 optimizer, 2 +grads, 3 +weights (FSDP)"
    )
    sequence_parallel: bool = Field(
        False, description="split norms/dropout by tp (Korthikanti 2022)"
    )
    dtype: Literal["bf16", "fp8"] = Field("bf16", description="GEMM compute dtype")
    pp_layers: tuple[int, ...] | None = Field(
        None, description="layers of each pipeline stage (None: pp divides them evenly)"
    )
    pp_schedule: PipelineSchedule | None = Field(
        None,
        description="1f1b | interleaved | dualpipe (None: 1F1B, interleaved when v > 1)",
    )

    @property
    def num_chips(self) -> int:
        return self.tp * self.pp * self.dp * self.cp

    def num_microbatches(self, global_batch: int) -> int:
        return global_batch // (self.dp * self.micro_batch)

    def as_dict(self) -> dict[str, object]:
        """The plan's options (pp_layers only when the split is explicit, pp_schedule
        only when named)."""
        exclude = {"dtype", "pp_layers", "pp_schedule"}
        out = self.model_dump(exclude=exclude)
        if self.pp_layers is not None:
            out["pp_layers"] = list(self.pp_layers)
        if self.pp_schedule is not None:
            out["pp_schedule"] = str(self.pp_schedule)
        return out


def check_plan(
    plan: ParallelPlan, spec: TransformerSpec, num_chips: int, global_batch: int, seq_len: int
) -> None:
    """Raise with the reason when the plan cannot run this model and batch.

    SpecError: the sizes do not describe this run (product of sizes vs chips, batch not
    divisible). InfeasibleError: a valid run the model cannot be split for (heads, layers,
    experts, sequence)."""
    if plan.num_chips != num_chips:
        raise SpecError(
            f"tp x pp x dp x cp = {plan.tp} x {plan.pp} x {plan.dp} x {plan.cp} = "
            f"{plan.num_chips}, not the {num_chips} chips",
            key_path="plan",
        )
    per_step = plan.dp * plan.micro_batch
    if global_batch % per_step:
        raise SpecError(
            f"global batch {global_batch} is not a multiple of dp x micro-batch = {per_step}",
            key_path="global_batch",
        )
    if spec.num_heads % plan.tp:
        raise InfeasibleError(f"tp={plan.tp} does not divide the {spec.num_heads} attention heads")
    kv = spec.num_kv_heads
    if (plan.tp <= kv and kv % plan.tp) or (plan.tp > kv and plan.tp % kv):
        raise InfeasibleError(f"tp={plan.tp} and the {kv} KV heads do not divide one another")
    _check_stages(plan, spec)
    _check_schedule(plan, plan.num_microbatches(global_batch))
    if plan.cp > 1 and seq_len % (2 * plan.cp):
        raise InfeasibleError(f"cp={plan.cp} needs the sequence ({seq_len}) divisible by 2 cp")
    if plan.ep > 1:
        if not spec.is_moe:
            raise InfeasibleError(f"ep={plan.ep} needs a mixture-of-experts model")
        if spec.num_experts % plan.ep:
            raise InfeasibleError(f"ep={plan.ep} does not divide the {spec.num_experts} experts")
        if plan.dp % plan.ep:
            raise InfeasibleError(f"ep={plan.ep} must divide dp={plan.dp}")
    if plan.sequence_parallel and plan.tp == 1:
        raise InfeasibleError("sequence parallelism needs tp > 1")


def _check_schedule(plan: ParallelPlan, m: int) -> None:
    """Interleaving: pp > 1, micro-batches a multiple of pp (Megatron-LM's interleaved
    schedule); DualPipe: one chunk per stage, pp and micro-batches even
    (arXiv:2412.19437 Sec. 3.2.1); 1F1B: one chunk per stage."""
    schedule = plan.pp_schedule
    if schedule == PipelineSchedule.interleaved and plan.virtual_stages == 1:
        raise InfeasibleError("the interleaved schedule needs virtual stages > 1")
    one_chunk = (PipelineSchedule.one_f_one_b, PipelineSchedule.dualpipe)
    if schedule in one_chunk and plan.virtual_stages > 1:
        raise InfeasibleError(f"the {schedule} schedule runs one model chunk per stage")
    if schedule == PipelineSchedule.dualpipe and (plan.pp % 2 or m % 2):
        raise InfeasibleError(
            f"DualPipe needs pp ({plan.pp}) and micro-batches ({m}) divisible by 2"
        )
    if plan.virtual_stages > 1:
        if plan.pp == 1:
            raise InfeasibleError("virtual stages (interleaving) need pp > 1")
        if m % plan.pp:
            raise InfeasibleError(
                f"the interleaved schedule needs micro-batches ({m}) to be a multiple of "
                f"pp={plan.pp}"
            )


def _check_stages(plan: ParallelPlan, spec: TransformerSpec) -> None:
    """The layers split over the stages: evenly (pp x virtual stages divide them) unless
    the plan lists each stage's layers, one list per stage summing to the layers;
    interleaved chunks of an explicit split each hold a layer (or a model end)."""
    layers = spec.num_layers
    if plan.pp_layers is None:
        chunks = plan.pp * plan.virtual_stages
        if layers % chunks:
            raise InfeasibleError(
                f"pp x virtual stages = {chunks} does not divide the {layers} layers"
            )
    if plan.pp_layers is None:
        return
    if len(plan.pp_layers) != plan.pp or min(plan.pp_layers) < 1 or sum(plan.pp_layers) != layers:
        raise SpecError(
            f"pp_layers {plan.pp_layers[:8]} is not {plan.pp} stages of 1 or more of the "
            f"{layers} layers",
            key_path="--pp-layers",
        )
    v = plan.virtual_stages
    if v > 1 and chunk_layer_counts(plan.pp_layers, v) is None:
        raise InfeasibleError(
            f"a stage of --pp-layers has fewer layers than the {v} virtual stages' chunks"
        )
