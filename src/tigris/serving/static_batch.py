"""`tigris infer`: one static batch of B prompts of I tokens, each generating O tokens.

The batch is prefilled in one step (TTFT), then decodes O - 1 steps together, the KV
cache growing by one token per step (the k-th decode step attends to I + k keys, its own
token included). Output tokens count the first (from prefill). Throughput is output
tokens per second of all replicas, each running its own batch of B:
replicas * B * O / e2e. The step times are the StepTimer's, so a serving simulation of
one request at a time reproduces these latencies.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from tigris.errors import SpecError
from tigris.serving.deployment import Deployment
from tigris.serving.memory import plan_memory
from tigris.serving.step_time import StepTimer, shared_timer

if TYPE_CHECKING:
    from tigris.serving.speculative import Speculation


@dataclass(frozen=True)
class InferResult:
    model: str
    chip: str
    num_chips: int
    tp: int
    pp: int
    ep: int
    num_replicas: int
    batch: int
    input_len: int
    output_len: int
    weight_dtype: str
    kv_dtype: str
    ttft_s: float
    tpot_s: float
    e2e_latency_s: float
    prefill_s: float
    decode_s: float
    throughput_tokens_per_s: float
    memory_per_chip_bytes: float
    weights_per_chip_bytes: float
    kv_cache_per_chip_bytes: float
    kv_capacity_per_chip_bytes: float
    max_batch: int
    fits: bool
    speculative: dict[str, object] | None = None  # --speculative only

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        if self.speculative is None:
            del data["speculative"]
        return data


def _check_lengths(batch: int, input_len: int, output_len: int) -> None:
    for key, value in (
        ("--batch", batch),
        ("--input-len", input_len),
        ("--output-len", output_len),
    ):
        if value < 1:
            raise SpecError(f"must be a positive integer, got {value}", key_path=key)


def infer(
    deployment: Deployment,
    batch: int,
    input_len: int,
    output_len: int,
    timer: StepTimer | None = None,
    speculation: Speculation | None = None,
) -> InferResult:
    """Latency, throughput and memory of one static batch per replica; `speculation`:
    each decode iteration drafts and verifies (tigris.serving.speculative)."""
    _check_lengths(batch, input_len, output_len)
    d = deployment
    timer = timer or shared_timer(d)
    plan = plan_memory(d, min(batch * input_len, max(d.token_budget, input_len)))
    if speculation is not None:
        plan = speculation.memory_plan(plan)
    seq_len = input_len + output_len
    max_batch = plan.max_batch(seq_len) * d.ep
    rank_seqs = -(-batch // d.ep)
    kv_bytes = rank_seqs * plan.blocks_for(seq_len) * plan.block_size * plan.kv_bytes_per_token
    prefill_s = timer.prefill_step_s(batch, input_len)
    draft_prefill_s, decode_s, speculative = _decode(
        timer, batch, input_len, output_len, speculation
    )
    prefill_s += draft_prefill_s
    e2e = prefill_s + decode_s
    return InferResult(
        model=d.model.name,
        chip=d.chip.id,
        num_chips=d.num_chips,
        tp=d.tp,
        pp=d.pp,
        ep=d.ep,
        num_replicas=d.num_replicas,
        batch=batch,
        input_len=input_len,
        output_len=output_len,
        weight_dtype=d.precision.weights,
        kv_dtype=d.precision.kv_cache,
        ttft_s=prefill_s,
        tpot_s=decode_s / (output_len - 1) if output_len > 1 else 0.0,
        e2e_latency_s=e2e,
        prefill_s=prefill_s,
        decode_s=decode_s,
        throughput_tokens_per_s=d.num_replicas * batch * output_len / e2e,
        memory_per_chip_bytes=plan.weights_bytes + plan.activations_bytes + kv_bytes,
        weights_per_chip_bytes=plan.weights_bytes,
        kv_cache_per_chip_bytes=kv_bytes,
        kv_capacity_per_chip_bytes=plan.kv_cache_bytes,
        max_batch=max_batch,
        fits=plan.fits and batch <= max_batch,
        speculative=speculative,
    )


def _decode(
    timer: StepTimer,
    batch: int,
    input_len: int,
    output_len: int,
    speculation: Speculation | None,
) -> tuple[float, float, dict[str, object] | None]:
    """(the draft's prefill seconds, decode seconds, the JSON's `speculative`) of the
    output_len - 1 tokens after the first."""
    if speculation is not None:
        draft_prefill_s = speculation.draft_prefill_s([(input_len, input_len)] * batch)
        decode_s, draft_s, iterations = speculation.static_decode_s(
            timer, batch, input_len, output_len
        )
        share = draft_s / decode_s if decode_s else 0.0
        figures = {"decode_iterations": iterations, "draft_time_share": share}
        return draft_prefill_s, decode_s, speculation.summary() | figures
    decode_s = 0.0
    if output_len > 1:
        per_step = timer.tokenwise_s(batch) + timer.head_s(batch)
        decode_s = (output_len - 1) * per_step + timer.sum_decode_attention_s(
            batch, input_len + 1, output_len - 1
        )
    return 0.0, decode_s, None
