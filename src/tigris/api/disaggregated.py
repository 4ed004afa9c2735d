"""`tigris.api.serve_disaggregated`: serve a model on a prefill pool and a decode pool
(`tigris serve MODEL --disaggregate --prefill CHIP:COUNT[:tp=..,ep=..] --decode ...`),
or search their layouts under the SLO (`--search`).

    import tigris.api.disaggregated as d
    out = d.serve_disaggregated("llama3-70b", prefill="h100-sxm:8:tp=8",
                                decode="tigris-1:8:tp=4", rate_per_s=4, num_requests=500)
    out["pools"]["decode"]["utilization"], out["kv_transfer"]["time_p99_s"]

Scenarios: offline (every request at time 0); server at `rate_per_s` (Poisson) or at
the trace's own arrivals; server without either: the highest Poisson rate meeting the
SLOs (the MLPerf search of tigris.serving.scenario, on the disaggregated simulation).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError

if TYPE_CHECKING:
    from tigris.serving.deployment import Deployment
    from tigris.serving.disaggregated import PoolSpec
    from tigris.serving.requests import Workload


def pool_deployment(
    model: object, spec: str | PoolSpec, option: str, settings: dict[str, object]
) -> Deployment:
    """A pool's Deployment; a bad chip or layout is a SpecError naming `option`."""
    from tigris.api.inputs import resolve_chip
    from tigris.serving.deployment import build_deployment
    from tigris.serving.disaggregated import parse_pool

    pool = parse_pool(spec, option) if isinstance(spec, str) else spec
    try:
        chip = resolve_chip(pool.chip)
        return build_deployment(
            model, chip, num_chips=pool.count, tp=pool.tp, ep=pool.ep, **settings
        )  # type: ignore[arg-type]
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
    **settings: object,
) -> dict[str, object]:
    """The JSON of `tigris serve --disaggregate` (see the module doc). `settings`:
    weight_dtype, kv_dtype, compute_dtype, token_budget, max_num_seqs, block_size."""
    from tigris.api.inputs import resolve_model
    from tigris.api.serving import _check_memory, _check_options

    _check_options(scenario, rate_per_s, slo_ttft_s, slo_tpot_s, seed)
    trace = str(trace) if trace is not None else None
    _check_memory(trace, num_requests, max_memory)
    spec = resolve_model(model)
    p = pool_deployment(spec, prefill, "--prefill", settings)
    d = pool_deployment(spec, decode, "--decode", settings)
    workload = _requests(p, trace, scenario, num_requests, (input_len, output_len),
                         length_dist, rate_per_s, seed)  # fmt: skip
    header = {"model": spec.name, "mode": "disaggregated", "scenario": scenario,
              "chunked_prefill": chunked_prefill, "seed": seed}  # fmt: skip
    if search:
        return header | _search(p, d, workload, slo_ttft_s, slo_tpot_s, progress)
    if scenario == "offline":
        workload = _at_once(workload)
    elif rate_per_s is None and trace is None:
        return header | _rate_search(p, d, workload, chunked_prefill, slo_ttft_s, slo_tpot_s, seed)
    return header | _run(p, d, workload, chunked_prefill, slo_ttft_s, slo_tpot_s, progress)


def _requests(
    p: Deployment,
    trace: str | None,
    scenario: str,
    num_requests: int,
    lengths: tuple[int, int],
    length_dist: str,
    rate_per_s: float | None,
    seed: int,
) -> Workload:
    """The trace's requests (every one within the model's context window), or drawn ones
    arriving at `rate_per_s` (server) or at time 0."""
    from tigris.api.inference import check_context
    from tigris.serving.requests import synthetic_workload

    if trace is None:
        check_context(p, *lengths)
        rate = rate_per_s if scenario == "server" else None
        return synthetic_workload(num_requests, *lengths, rate_per_s=rate, seed=seed,
                                  length_dist=length_dist)  # type: ignore[arg-type]  # fmt: skip
    from tigris.serving.trace import read_trace

    workload = read_trace(trace)
    total = workload.input_len + workload.output_len
    window = p.model.max_position_embeddings
    if int(total.max()) > window:
        raise SpecError(
            f"a request of {int(total.max())} tokens exceeds {p.model.name}'s context window "
            f"of {window} tokens (max_position_embeddings)",
            file=trace,
            key_path="--trace",
        )
    return workload


def _at_once(workload: Workload) -> Workload:
    import numpy as np

    from tigris.serving.requests import Workload

    return Workload(np.zeros(workload.num_requests), workload.input_len, workload.output_len)


def _run(p, d, workload, chunked, slo_ttft_s, slo_tpot_s, progress) -> dict[str, object]:  # noqa: ANN001
    from tigris.cost.pool_power import pool_power
    from tigris.serving.disaggregated import simulate_disaggregated, summarize_disaggregated

    result = simulate_disaggregated(p, d, workload, chunked_prefill=chunked, progress=progress)
    return summarize_disaggregated(p, d, result, slo_ttft_s, slo_tpot_s, power=pool_power)


def _slos(slo_ttft_s: float | None, slo_tpot_s: float | None) -> tuple[float, float]:
    from tigris.serving.scenario import MLPERF_SLO_TPOT_S, MLPERF_SLO_TTFT_S

    ttft = slo_ttft_s if slo_ttft_s is not None else MLPERF_SLO_TTFT_S
    return ttft, slo_tpot_s if slo_tpot_s is not None else MLPERF_SLO_TPOT_S


def _rate_search(p, d, workload, chunked, slo_ttft_s, slo_tpot_s, seed) -> dict[str, object]:  # noqa: ANN001
    """The highest Poisson rate meeting the SLOs (bounded by the offline rate)."""
    from tigris.serving.requests import with_poisson_arrivals
    from tigris.serving.scenario import _highest_rate_meeting_slo

    ttft, tpot = _slos(slo_ttft_s, slo_tpot_s)
    offline = _run(p, d, _at_once(workload), chunked, ttft, tpot, None)

    def at(rate: float) -> dict[str, object]:
        arrivals = with_poisson_arrivals(workload, rate, seed)
        return _run(p, d, arrivals, chunked, ttft, tpot, None)

    capacity = float(offline["requests_per_s"])  # type: ignore[arg-type]
    best, best_rate = _highest_rate_meeting_slo(at, capacity, ttft, tpot)
    shown = best or at(0.02 * capacity)
    mean_output = float(workload.output_len.mean())
    return shown | {
        "rate_per_s": best_rate,
        "max_rate_meeting_slo": best_rate,
        "max_rate_tokens_per_s": best_rate * mean_output,
        "offline_throughput_tokens_per_s": offline["throughput_tokens_per_s"],
    }


def _search(p, d, workload, slo_ttft_s, slo_tpot_s, progress) -> dict[str, object]:  # noqa: ANN001
    """Layouts of up to the given chips per pool (tp and replicas), cheapest under SLO."""
    import time

    from tigris.cost.tco import usd_per_chip_hour
    from tigris.serving.layout_search import search_layouts

    ttft, tpot = _slos(slo_ttft_s, slo_tpot_s)
    started = time.perf_counter()
    out = search_layouts(
        p, p.chip, d.chip, p.num_chips, d.num_chips, workload, ttft, tpot, progress,
        price=usd_per_chip_hour,
    )
    return {"search": out | {"wall_s": time.perf_counter() - started}}
