"""What one chip does over a serving batch or a training step, as an `Activity`.

Serving (one static batch of B prompts of I tokens, each generating O tokens, on a
replica of tp chips): the flop and DRAM bytes the engine counts on the per-chip prefill
graph, plus O - 1 decode steps at the mean KV length (one graph stands for all of them,
as tigris compare counts them), and the tp all-reduces (two per layer for every token
through the model). Training: the step model's own tree (flop, DRAM bytes and link bytes
of one chip over one step), so energy counts what the step time was made of.

Clock: serving ops run at the boost clock unless the chip carries a power cap, when each
op runs at the clock the cap rule gives it (tigris.parallel.clock.op_clock, as the step
timer times it); the activity's clock_sq is the flop-weighted mean of those r^2. A
training step runs at the chip's sustained clock (under its cap, if any).
"""

from __future__ import annotations

from tigris.cost.power import Activity
from tigris.engines.base import get_engine
from tigris.hardware.chip import Chip
from tigris.hardware.quantities import dtype_bytes
from tigris.parallel.clock import op_clock, sustained_clock_ratio
from tigris.parallel.collectives import sent_fraction
from tigris.parallel.partition import shard_graph
from tigris.parallel.step import StepResult
from tigris.serving.deployment import Deployment
from tigris.workload.graph import OpGraph
from tigris.workload.tasks import decode_graph, prefill_graph


def _graph_counts(graph: OpGraph, deployment: Deployment) -> tuple[float, float, float]:
    """(flop, DRAM bytes, flop x r^2) of one chip running `graph` (sharded tp and ep
    ways), r the clock ratio of each op under the chip's cap (1 without one)."""
    d = deployment
    if d.tp > 1 or d.ep > 1:
        graph = shard_graph(graph, tp=d.tp, ep=d.ep)
    engine = get_engine(d.engine)
    flop = dram = flop_r2 = 0.0
    for group in graph.groups:
        for op in group.ops:
            result = engine.time(op, d.chip)
            ratio, _ = op_clock(d.chip, getattr(op, "dtype", None), result.flop,
                                result.dram_bytes, result.time_s, result.compute_s)  # fmt: skip
            flop += group.count * result.flop
            dram += group.count * result.dram_bytes
            flop_r2 += group.count * result.flop * ratio * ratio
    return flop, dram, flop_r2


def inference_activity(
    deployment: Deployment, batch: int, input_len: int, output_len: int, time_s: float
) -> Activity:
    """Activity of one chip of a replica over a static batch that takes `time_s`."""
    d = deployment
    spec, precision = d.model, d.precision
    rank_batch = max(1, -(-batch // d.ep))
    pre_flop, pre_dram, pre_r2 = _graph_counts(
        prefill_graph(spec, rank_batch, input_len, precision), d
    )
    mean_kv = input_len + output_len // 2
    dec_flop, dec_dram, dec_r2 = _graph_counts(
        decode_graph(spec, rank_batch, mean_kv, precision), d
    )
    steps = output_len - 1
    tokens_through = batch * (input_len + output_len - 1)
    hidden = spec.hidden_size * dtype_bytes(d.activation_dtype)
    link = 2 * spec.num_layers * tokens_through * hidden * sent_fraction("all_reduce", d.tp)
    flop = pre_flop + steps * dec_flop
    return Activity(
        time_s=time_s,
        flop=flop,
        dram_bytes=pre_dram + steps * dec_dram,
        link_bytes=link / d.pp if d.tp > 1 else 0.0,
        dtype=precision.compute_dtype,
        clock_sq=(pre_r2 + steps * dec_r2) / flop if flop > 0 else 1.0,
    )


def training_activity(result: StepResult, dtype: str, chip: Chip) -> Activity:
    """Activity of one chip over one training step (the step model's tree), at the
    clock the step model ran `chip` at (tigris.parallel.clock.sustained_clock_ratio)."""
    tree = result.tree
    return Activity(
        time_s=result.step_time_s,
        flop=tree.flop,
        dram_bytes=tree.dram_bytes,
        link_bytes=tree.link_bytes,
        dtype=dtype,
        clock_sq=sustained_clock_ratio(chip) ** 2,
    )
