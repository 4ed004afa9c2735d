"""`tigris.api.serve_disaggregated`: serve a model on a prefill pool and a decode pool
(`tigris serve MODEL --disaggregate --prefill CHIP:COUNT[:tp=..,ep=..] --decode ...`),
or search their layouts under the SLO (`--search`).

    import tigris.api.disaggregated as d
    out = d.serve_disaggregated("llama3-70b", prefill="h100-sxm:8:tp=8",
                                decode="tigris-1:8:tp=4", rate_per_s=4, num_requests=500)
    out["pools"]["decode"]["utilization"], out["kv_transfer"]["time_p99_s"]

Scenarios: offline (every request at time 0); server or replay at `rate_per_s`
(Poisson) or at the trace's own arrivals; server without either: the highest Poisson
rate meeting the SLOs (the MLPerf search of tigris.serving.scenario, on the
disaggregated simulation). `options` (tigris.serving.engines.ServingOptions) apply as in
one pool: the trace's shaping (--rate-scale, --duration, --sample), the engine profile
(each pool's limits for its own chip) and the prefix cache (on the prefill pool, where
prompts are computed).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError

if TYPE_CHECKING:
    from tigris.serving.deployment import Deployment
    from tigris.serving.disaggregated import PoolSpec
    from tigris.serving.engines import ServingOptions


ENGINE_KEYS = ("token_budget", "max_num_seqs", "block_size")


def pool_deployment(
    model: object,
    spec: str | PoolSpec,
    option: str,
    settings: dict[str, object],
    options: ServingOptions | None = None,
) -> Deployment:
    """A pool's Deployment under its stack (the spec's `stack=`, else the options' --stack:
    the chip's kernel efficiency, the Deployment's kernels and host time, the stack's
    engine), with the engine profile's limits for its chip when one is named; a bad chip,
    stack or layout is a SpecError naming `option`."""
    from dataclasses import replace

    from tigris.api.inputs import resolve_chip
    from tigris.hardware.stacks import apply_stack
    from tigris.serving.deployment import build_deployment
    from tigris.serving.disaggregated import parse_pool

    pool = parse_pool(spec, option) if isinstance(spec, str) else spec
    try:
        stack = pool.stack if pool.stack is not None else options and options.stack
        if options is not None:
            options = replace(options, stack=stack)
        chip, stack_settings = apply_stack(stack, resolve_chip(pool.chip), "serving")
        if options is not None:
            engine = {k: v for k, v in settings.items() if k in ENGINE_KEYS}
            limits = options.engine_limits(chip.dram_capacity_bytes, engine, False)[0]  # type: ignore[arg-type]
            settings = {k: v for k, v in settings.items() if k not in ENGINE_KEYS} | limits
        return build_deployment(
            model, chip, num_chips=pool.count, tp=pool.tp, ep=pool.ep, **settings,
            **stack_settings,
        )  # type: ignore[arg-type]  # fmt: skip
    except SpecError as error:
        raise SpecError(
            f"{pool.chip}: {error.message}", file=error.file, key_path=option, hint=error.hint
        ) from None


def serve_disaggregated(
    model: str | Path | object,
    *,
    prefill: str | PoolSpec,
    decode: str | PoolSpec,
    scenario: str = "server",
    rate_per_s: float | None = None,
    num_requests: int = 1000,
    input_len: int = 512,
    output_len: int = 128,
    length_dist: str = "fixed",
    trace: str | Path | None = None,
    chunked_prefill: bool = False,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    seed: int = 0,
    max_memory: str = "2 GiB",
    search: bool = False,
    progress: Callable[[int, int], None] | None = None,
    options: ServingOptions | None = None,
    **settings: object,
) -> dict[str, object]:
    """The JSON of `tigris serve --disaggregate` (see the module doc). `settings`:
    weight_dtype, kv_dtype, compute_dtype, token_budget, max_num_seqs, block_size."""
    from tigris.api.inputs import resolve_model
    from tigris.api.serving import build_workload, check_memory, check_options
    from tigris.serving.engines import ServingOptions

    check_options(scenario, rate_per_s, slo_ttft_s, slo_tpot_s, seed)
    trace = str(trace) if trace is not None else None
    check_memory(trace, num_requests, max_memory)
    spec, opts = resolve_model(model), options or ServingOptions()
    p = pool_deployment(spec, prefill, "--prefill", settings, opts)
    d = pool_deployment(spec, decode, "--decode", settings, opts)
    workload = build_workload(p, trace, scenario, num_requests, (input_len, output_len),
                              length_dist, rate_per_s, seed, opts)  # fmt: skip
    header = {"model": spec.name, "mode": "disaggregated", "scenario": scenario,
              "chunked_prefill": chunked_prefill, "seed": seed}  # fmt: skip
    run = _prefill_settings(p, opts, chunked_prefill)
    if search:
        return header | _search(p, d, workload, slo_ttft_s, slo_tpot_s, progress, run)
    if scenario == "offline":
        from tigris.serving.scenario import at_once

        workload = at_once(workload)
    elif scenario == "server" and rate_per_s is None and trace is None:
        return header | _rate_search(p, d, workload, run, slo_ttft_s, slo_tpot_s, seed)
    return header | _run(p, d, workload, run, slo_ttft_s, slo_tpot_s, progress)


def _prefill_settings(
    p: Deployment, opts: ServingOptions, chunked_prefill: bool
) -> dict[str, object]:
    """The prefill pool's simulation settings: chunked mode (the engine profile's for its
    chip and stack, else --chunked-prefill), step order and prefix cache."""
    from dataclasses import replace

    if p.stack is not None:  # the pool's own stack names its engine
        opts = replace(opts, stack=p.stack.id)
    memory = p.chip.dram_capacity_bytes
    chunked = opts.engine_limits(memory, {}, chunked_prefill)[1]
    return {"chunked_prefill": chunked, **opts.simulation(memory)}


def _run(p, d, workload, run, slo_ttft_s, slo_tpot_s, progress) -> dict[str, object]:  # noqa: ANN001
    from tigris.cost.pool_power import pool_power
    from tigris.serving.disaggregated import simulate_disaggregated, summarize_disaggregated

    result = simulate_disaggregated(p, d, workload, progress=progress, **run)
    return summarize_disaggregated(p, d, result, slo_ttft_s, slo_tpot_s, power=pool_power)


def _slos(slo_ttft_s: float | None, slo_tpot_s: float | None) -> tuple[float, float]:
    from tigris.serving.scenario import MLPERF_SLO_TPOT_S, MLPERF_SLO_TTFT_S

    ttft = slo_ttft_s if slo_ttft_s is not None else MLPERF_SLO_TTFT_S
    return ttft, slo_tpot_s if slo_tpot_s is not None else MLPERF_SLO_TPOT_S


def _rate_search(p, d, workload, run, slo_ttft_s, slo_tpot_s, seed) -> dict[str, object]:  # noqa: ANN001
    """The highest Poisson rate meeting the SLOs (bounded by the offline rate)."""
    from tigris.serving.requests import with_poisson_arrivals
    from tigris.serving.scenario import at_once, highest_rate_meeting_slo

    ttft, tpot = _slos(slo_ttft_s, slo_tpot_s)
    offline = _run(p, d, at_once(workload), run, ttft, tpot, None)

    def at(rate: float) -> dict[str, object]:
        arrivals = with_poisson_arrivals(workload, rate, seed)
        return _run(p, d, arrivals, run, ttft, tpot, None)

    capacity = float(offline["requests_per_s"])  # type: ignore[arg-type]
    best, best_rate = highest_rate_meeting_slo(at, capacity, ttft, tpot)
    shown = best or at(0.02 * capacity)
    mean_output = float(workload.output_len.mean())
    return shown | {
        "rate_per_s": best_rate,
        "max_rate_meeting_slo": best_rate,
        "max_rate_tokens_per_s": best_rate * mean_output,
        "offline_throughput_tokens_per_s": offline["throughput_tokens_per_s"],
    }


def _search(p, d, workload, slo_ttft_s, slo_tpot_s, progress, run) -> dict[str, object]:  # noqa: ANN001
    """Layouts of up to the given chips per pool (tp and replicas), cheapest under SLO."""
    import time

    from tigris.cost.tco import usd_per_chip_hour
    from tigris.serving.layout_search import search_layouts

    ttft, tpot = _slos(slo_ttft_s, slo_tpot_s)
    started = time.perf_counter()
    out = search_layouts(
        p,
        p.chip,
        d.chip,
        p.num_chips,
        d.num_chips,
        workload,
        ttft,
        tpot,
        progress,
        price=usd_per_chip_hour,
        prefill_settings=run,
        decode_base=d,
    )
    return {"search": out | {"wall_s": time.perf_counter() - started}}
