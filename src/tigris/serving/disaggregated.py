"""Disaggregated serving: a prefill pool and a decode pool, possibly of different chips.

One request's life (Splitwise, Patel et al. ISCA 2024; DistServe, Zhong et al. OSDI 2024):
1. Prefill pool: the one-pool simulator (tigris.serving.simulator) over the requests with
   one output token each: token-budget batches of whole prompts (or chunks with
   chunked prefill), FCFS, paged KV, requests dealt round-robin to its replicas. A
   request's prefill ends when that token is emitted.
2. KV transfer (tigris.serving.kv_transfer): the prompt's KV to the decode pool, queued
   behind the same prefill replica's earlier transfers.
3. Decode pool: the same simulator over the requests in the order their KV lands, with
   `kv_transferred` (admission allocates the prompt's KV blocks and costs no compute):
   continuous batching under the decode pool's own KV memory and max-num-seqs, dealt
   round-robin to its replicas. The first token reaches the user when the decode pool
   admits the request (as with vLLM's and Dynamo's disaggregated serving, where the decode
   worker streams the tokens): TTFT = queue + prefill + transfer + decode admission.
Step times are the pools' own StepTimers (one step model for both modes), so a pool of
another chip runs at that chip's speed.

Per-pool figures: utilisation (engine busy time over replicas x the run's span), memory
per chip, KV occupancy, steps and power (tigris.cost's serving activity split by phase:
the prefill pool does the prompts' work, the decode pool the rest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from tigris.errors import SpecError, shorten
from tigris.serving.deployment import Deployment
from tigris.serving.kv_transfer import (
    KvLink,
    Transfers,
    kv_bytes_per_token,
    kv_link,
    schedule_transfers,
    transfer_summary,
)
from tigris.serving.memory import plan_memory
from tigris.serving.metrics import summarize
from tigris.serving.prefix_cache import PrefixSharing
from tigris.serving.requests import Workload
from tigris.serving.simulator import SimulationResult, simulate
from tigris.serving.step_time import StepTimer, shared_timer

POOL_KEYS = ("tp", "ep", "stack")  # stack: the pool's own --stack (a name, not a count)


@dataclass(frozen=True)
class PoolSpec:
    """`CHIP:COUNT[:tp=..,ep=..,stack=..]` as the user wrote it (tp None: all the pool's
    chips; stack None: the command's --stack)."""

    chip: str
    count: int
    tp: int | None = None
    ep: int = 1
    stack: str | None = None


def _positive_int(text: str, what: str, option: str, spec: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise SpecError(
            f"{what} must be a positive integer, got {shorten(repr(text))} in "
            f"{shorten(repr(spec))}",
            key_path=option,
            hint="CHIP:COUNT[:tp=N,ep=N], e.g. h100-sxm:8:tp=8",
        )
    return value


def parse_pool(spec: str, option: str) -> PoolSpec:
    """`CHIP:COUNT[:tp=..,ep=..,stack=..]`; SpecError naming `option` (--prefill, --decode)."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not parts[0].strip():
        raise SpecError(
            f"expected CHIP:COUNT[:tp=N,ep=N,stack=NAME], got {shorten(repr(spec))}",
            key_path=option,
            hint="e.g. h100-sxm:8:tp=8",
        )
    count = _positive_int(parts[1], "COUNT", option, spec)
    settings: dict[str, int] = {}
    stack = None
    for item in parts[2].split(",") if len(parts) == 3 else []:
        key, _, value = (text.strip() for text in item.partition("="))
        if key not in POOL_KEYS or key in settings or (key == "stack" and stack is not None):
            raise SpecError(
                f"unknown or repeated setting {shorten(repr(item))} in {shorten(repr(spec))}",
                key_path=option,
                hint="tp=N, ep=N and stack=NAME",
            )
        if key == "stack":
            stack = value  # checked against the catalog when the pool is built
        else:
            settings[key] = _positive_int(value, key, option, spec)
    tp, ep = settings.get("tp"), settings.get("ep", 1)
    if count % ((tp or 1) * ep):
        raise SpecError(
            f"tp x ep = {(tp or 1) * ep} does not divide the pool's {count} chips",
            key_path=option,
            hint="COUNT must be a multiple of tp x ep (each replica is one tp x ep group)",
        )
    return PoolSpec(parts[0].strip(), count, tp, ep, stack)


@dataclass(frozen=True)
class DisaggregatedResult:
    """Both pools' simulations, the transfers, and the requests' end-to-end times."""

    prefill: SimulationResult
    decode: SimulationResult
    transfers: Transfers
    prefill_done_s: np.ndarray
    link: KvLink
    combined: SimulationResult  # request times as the user sees them


def replica_timer(deployment: Deployment) -> StepTimer:
    """The shared StepTimer of one replica: a step's time does not depend on how many
    replicas there are, so pools of 1, 2, ... replicas of one layout share their cache."""
    one = replace(deployment, num_chips=deployment.chips_per_replica)
    return shared_timer(one)


def prefill_workload(workload: Workload) -> Workload:
    """The prefill pool's requests: the same prompts (and prefixes), one output token each."""
    return Workload(
        workload.arrival_s, workload.input_len, np.ones_like(workload.output_len),
        workload.prefix_hashes, workload.hash_block_tokens,
    )  # fmt: skip


def simulate_disaggregated(
    prefill: Deployment,
    decode: Deployment,
    workload: Workload,
    *,
    chunked_prefill: bool = False,
    link: KvLink | None = None,
    prefill_result: SimulationResult | None = None,
    progress: Callable[[int, int], None] | None = None,
    prefix: PrefixSharing | None = None,
    prefill_first: bool = False,
) -> DisaggregatedResult:
    """Serve `workload` on the two pools. `prefill_result`: the prefill pool's simulation
    of this workload when the caller has it (a layout search reuses it across decode
    pools). `prefix`, `prefill_first`: the prefill pool's prefix cache and step order
    (simulator.simulate; a cached prefix skips prefill compute, its KV is still sent).
    `progress(done, total)` hears of requests through the decode pool."""
    link = link or kv_link(prefill, decode)
    if prefill_result is None:
        prefill_result = simulate_prefill(
            prefill, workload, chunked_prefill=chunked_prefill, prefix=prefix,
            prefill_first=prefill_first,
        )  # fmt: skip
    done = prefill_result.first_token_s
    sender = np.arange(workload.num_requests) % prefill.num_replicas  # simulate's dealing
    bytes_ = kv_bytes_per_token(prefill) * workload.input_len
    transfers = schedule_transfers(done, sender, bytes_.astype(float), link)
    order = np.argsort(transfers.end_s, kind="stable")
    landed = Workload(transfers.end_s[order], workload.input_len[order], workload.output_len[order])
    decode_result = simulate(
        decode, landed, timer=replica_timer(decode), progress=progress, kv_transferred=True
    )
    first = np.empty(workload.num_requests)
    finish = np.empty(workload.num_requests)
    first[order] = decode_result.first_token_s
    finish[order] = decode_result.finish_s
    combined = SimulationResult(
        workload=workload,
        first_token_s=first,
        finish_s=finish,
        num_preemptions=prefill_result.num_preemptions + decode_result.num_preemptions,
        num_steps=prefill_result.num_steps + decode_result.num_steps,
        kv_time_s=decode_result.kv_time_s,
        kv_occupancy=decode_result.kv_occupancy,
        kv_mean_occupancy=decode_result.kv_mean_occupancy,
        kv_max_occupancy=decode_result.kv_max_occupancy,
        busy_s=prefill_result.busy_s + decode_result.busy_s,
    )
    return DisaggregatedResult(prefill_result, decode_result, transfers, done, link, combined)


def simulate_prefill(prefill: Deployment, workload: Workload, **run: object) -> SimulationResult:
    """The prefill pool's simulation of `workload` (simulator.simulate's settings `run`)."""
    return simulate(prefill, prefill_workload(workload), timer=replica_timer(prefill), **run)  # type: ignore[arg-type]


PoolPower = Callable[[Deployment, SimulationResult, float, str], dict[str, object]]
"""A pool's power figures from its deployment, run, span and phase (tigris.cost.pool_power)."""


def pool_summary(
    deployment: Deployment, result: SimulationResult, span_s: float, phase: str
) -> dict[str, object]:
    """A pool's figures: layout (and stack, when one was named), utilisation, memory per
    chip, KV occupancy, power."""
    plan = plan_memory(deployment)
    w = result.workload
    summary = summarize(result)
    stack = {"stack": deployment.stack.id} if deployment.stack is not None else {}
    return {
        "chip": deployment.chip.id,
        **stack,
        "num_chips": deployment.num_chips,
        "tp": deployment.tp,
        "ep": deployment.ep,
        "num_replicas": deployment.num_replicas,
        "utilization": result.busy_s / (deployment.num_replicas * max(span_s, 1e-30)),
        "busy_s": result.busy_s,
        "num_steps": result.num_steps,
        "num_preemptions": result.num_preemptions,
        "input_tokens": int(w.input_len.sum()),
        "output_tokens": int(w.output_len.sum()) if phase == "decode" else w.num_requests,
        "memory_per_chip": {
            "capacity_bytes": plan.capacity_bytes,
            "weights_bytes": plan.weights_bytes,
            "activations_bytes": plan.activations_bytes,
            "kv_cache_bytes": plan.kv_cache_bytes,
            "kv_capacity_tokens": plan.kv_capacity_tokens,
        },
        "kv_occupancy_mean": summary["kv_occupancy_mean"],
        "kv_occupancy_max": summary["kv_occupancy_max"],
    }


def summarize_disaggregated(
    prefill: Deployment,
    decode: Deployment,
    result: DisaggregatedResult,
    slo_ttft_s: float | None,
    slo_tpot_s: float | None,
    power: PoolPower | None = None,
) -> dict[str, object]:
    """The JSON of a disaggregated run: the user's view (TTFT, TPOT, goodput at the SLO:
    metrics.summarize), `pools: {prefill, decode}` and `kv_transfer`. `power` adds each
    pool's power and the total (tigris.cost.pool_power, above this package)."""
    summary = summarize(result.combined, slo_ttft_s, slo_tpot_s)
    span = float(summary["duration_s"])  # type: ignore[arg-type]
    w = result.combined.workload
    prefill_latency = result.prefill_done_s - w.arrival_s
    runs = {"prefill": (prefill, result.prefill), "decode": (decode, result.decode)}
    pools = {phase: pool_summary(d, r, span, phase) for phase, (d, r) in runs.items()}
    if power is not None:
        for phase, (d, r) in runs.items():
            pools[phase].update(power(d, r, span, phase))
    pools["prefill"]["prefill_latency_p50_s"] = float(np.percentile(prefill_latency, 50))
    pools["prefill"]["prefill_latency_p99_s"] = float(np.percentile(prefill_latency, 99))
    if result.prefill.prefix_cache is not None:
        pools["prefill"]["prefix_cache"] = result.prefill.prefix_cache
    totals = {}
    if power is not None:
        watts = (float(p["pool_power_node_wall_w"]) for p in pools.values())  # type: ignore[arg-type]
        totals["power_node_wall_w_total"] = sum(watts)
    return {
        **summary,
        **totals,
        "pools": pools,
        "kv_transfer": transfer_summary(result.transfers, result.prefill_done_s, result.link),
    }
