"""A serving workload on one chip: the best layout and batch meeting the latency SLOs.

Model: `tigris.serving.static_batch.infer` (a batch of B prompts prefilled in one step,
then decoded together, the StepTimer's cached step times). For each tp dividing the
deployment's chips (the rest are replicas) the batch is the largest that fits in memory
(paged KV cache, vLLM's plan) and whose TTFT and TPOT meet the SLOs; TTFT and TPOT grow
with B, so it is found by bisection. The best layout has the most output tokens/s per
chip. Static batching is conservative against continuous batching for TTFT (the whole
batch is prefilled before any token comes out); `tigris serve` runs the event simulator.

Energy: the tile engine's flop and DRAM bytes of the prefill graph and of O - 1 decode
steps at the mean KV length, per chip, plus the tp all-reduces (two per layer per token).
"""

from __future__ import annotations

from tigris.compare.activity import OpTimer, Traffic, graph_traffic, sent_fraction
from tigris.compare.cell import Cell, failed, price
from tigris.compare.workloads import ServeWorkload
from tigris.cost import Assumptions, EnergyPerToken, energy_per_token
from tigris.engines.base import get_engine
from tigris.errors import InfeasibleError, TigrisError
from tigris.hardware.chip import Chip
from tigris.parallel.search import divisors
from tigris.serving.deployment import DEFAULT_MAX_NUM_SEQS, Deployment
from tigris.serving.static_batch import InferResult, infer
from tigris.serving.step_time import StepTimer
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.spec import TransformerSpec
from tigris.workload.tasks import decode_graph, prefill_graph


def _meets(result: InferResult, workload: ServeWorkload) -> bool:
    return (
        result.fits
        and result.ttft_s <= workload.slo_ttft_s
        and result.tpot_s <= workload.slo_tpot_s
    )


def largest_batch(deployment: Deployment, workload: ServeWorkload, timer: StepTimer) -> InferResult:
    """The static batch with the most sequences that fits and meets both SLOs."""
    lengths = (workload.input_len, workload.output_len)
    one = infer(deployment, 1, *lengths, timer)
    if not one.fits:
        raise InfeasibleError(
            f"tp={deployment.tp}: {one.weights_per_chip_bytes / 1e9:.1f} GB of weights per chip "
            f"leave no room for a KV cache in {deployment.chip.dram_capacity_bytes / 1e9:.0f} GB"
        )
    if not _meets(one, workload):
        missed = []
        if one.ttft_s > workload.slo_ttft_s:
            missed.append(f"TTFT {one.ttft_s:.3g} s > {workload.slo_ttft_s:g} s")
        if one.tpot_s > workload.slo_tpot_s:
            missed.append(f"TPOT {one.tpot_s * 1e3:.3g} ms > {workload.slo_tpot_s * 1e3:g} ms")
        raise InfeasibleError(
            f"misses the SLO even at batch 1 (tp={deployment.tp}): " + ", ".join(missed)
        )
    low, high = 1, min(one.max_batch, DEFAULT_MAX_NUM_SEQS)
    best = one
    while low < high:
        middle = (low + high + 1) // 2
        result = infer(deployment, middle, *lengths, timer)
        if _meets(result, workload):
            low, best = middle, result
        else:
            high = middle - 1
    return best


def _layouts(num_chips: int) -> list[int]:
    """Each divisor of num_chips is a tp, the rest replicas (a file may ask for up to
    2**31 - 1 chips: `divisors` finds them in O(sqrt n))."""
    return divisors(num_chips)


def evaluate_serve(chip: Chip, workload: ServeWorkload, assumptions: Assumptions) -> Cell:
    """The workload's best layout and batch on `chip`, or the reason none runs."""
    try:
        return _evaluate(chip, workload, assumptions)
    except TigrisError as error:
        return failed(workload.name, "serve", chip.id, error)


def _evaluate(chip: Chip, workload: ServeWorkload, assumptions: Assumptions) -> Cell:
    spec = load_model(workload.model)
    chip.peak_flop_per_s(workload.dtype)  # UnsupportedError without that matrix path
    precision = Precision(compute_dtype=workload.dtype)
    deployment, timer, best, misses = _best_layout(spec, chip, workload, precision)
    tp, batch = deployment.tp, best.batch
    ops = OpTimer(get_engine(deployment.engine), chip)
    traffic = _traffic_per_chip(spec, workload, precision, tp, batch, ops)
    steps = workload.output_len - 1
    energy = _energy(chip, spec, workload, tp, best, traffic, assumptions)
    per_chip_rate = best.throughput_tokens_per_s / workload.num_chips
    lengths = (batch, workload.input_len + 1, steps)
    decode_attention = timer.sum_decode_attention_s(*lengths)
    return Cell(
        workload=workload.name,
        kind="serve",
        chip_id=chip.id,
        plan={"tp": tp, "replicas": deployment.num_replicas, "batch": batch},
        time_s=best.tpot_s,
        ttft_s=best.ttft_s,
        tokens_per_s=best.throughput_tokens_per_s,
        tokens_per_s_per_chip=per_chip_rate,
        mfu=traffic.flop / best.e2e_latency_s / chip.peak_flop_per_s(workload.dtype),
        memory_per_chip_bytes=best.memory_per_chip_bytes,
        memory_capacity_bytes=chip.dram_capacity_bytes,
        fits=best.fits,
        energy_per_token_j=energy.energy_per_token_j,
        power_w_per_chip=energy.power_w_per_chip,
        power_cap_slowdown=energy.slowdown,
        breakdown={
            "prefill": best.prefill_s,
            "decode: GEMMs and collectives": best.decode_s - decode_attention,
            "decode: attention": decode_attention,
        },
        extra={
            "e2e_latency_s": best.e2e_latency_s,
            "max_batch_in_memory": best.max_batch,
            "layouts_tried": len(_layouts(workload.num_chips)),
            "layouts_missed": misses,
        },
        ops=ops.results(),
        num_plans_searched=len(_layouts(workload.num_chips)),
        **price(chip, assumptions, energy, per_chip_rate),  # type: ignore[arg-type]
    )


def _best_layout(
    spec: TransformerSpec, chip: Chip, workload: ServeWorkload, precision: Precision
) -> tuple[Deployment, StepTimer, InferResult, list[str]]:
    """The layout (tp, the rest replicas) whose largest SLO-meeting batch has the most
    output tokens/s, with its timer and result, and why the other layouts did not run."""
    candidates: list[tuple[Deployment, StepTimer, InferResult]] = []
    misses: list[str] = []
    for tp in _layouts(workload.num_chips):
        try:
            deployment = Deployment(
                spec, chip, num_chips=workload.num_chips, tp=tp, precision=precision
            )
            timer = StepTimer(deployment)
            candidates.append((deployment, timer, largest_batch(deployment, workload, timer)))
        except InfeasibleError as error:
            misses.append(error.reason)
    if not candidates:
        # layouts go by ascending tp: the last miss is the widest, least loaded chip's
        raise InfeasibleError(misses[-1] if misses else "no layout")
    deployment, timer, best = max(candidates, key=lambda c: c[2].throughput_tokens_per_s)
    return deployment, timer, best, misses


def _traffic_per_chip(
    spec: TransformerSpec,
    workload: ServeWorkload,
    precision: Precision,
    tp: int,
    batch: int,
    ops: OpTimer,
) -> Traffic:
    """Flop and DRAM bytes of one chip: the prefill graph, then O - 1 decode steps at the
    mean KV length (one graph stands for all of them)."""
    from tigris.parallel.partition import shard_graph

    def per_chip(graph):
        return shard_graph(graph, tp=tp) if tp > 1 else graph

    prefill = graph_traffic(
        per_chip(prefill_graph(spec, batch, workload.input_len, precision)), ops
    )
    mean_kv = workload.input_len + workload.output_len // 2
    decode = graph_traffic(per_chip(decode_graph(spec, batch, mean_kv, precision)), ops)
    return prefill.plus(decode, workload.output_len - 1)


def _energy(
    chip: Chip,
    spec: TransformerSpec,
    workload: ServeWorkload,
    tp: int,
    best: InferResult,
    traffic: Traffic,
    assumptions: Assumptions,
) -> EnergyPerToken:
    """Energy per output token of one replica: its tp chips' traffic plus the tp
    all-reduces (two per layer for every token through the model)."""
    batch = best.batch
    tokens_through = batch * (workload.input_len + workload.output_len - 1)
    hidden = spec.hidden_size * precision_bytes(workload.dtype)
    link = 2 * spec.num_layers * tokens_through * hidden * sent_fraction("all_reduce", tp)
    return energy_per_token(
        chip,
        flop=traffic.flop * tp,
        dram_bytes=traffic.dram_bytes * tp,
        link_bytes=link * tp,
        time_s=best.e2e_latency_s,
        tokens=batch * workload.output_len,
        num_chips=tp,
        dtype=workload.dtype,
        assumptions=assumptions,
    )


def precision_bytes(dtype: str) -> float:
    from tigris.hardware.quantities import dtype_bytes

    return dtype_bytes(dtype)
