"""MLPerf Inference scenarios for LLMs.

- Offline: every request at time 0; the figure is throughput.
- Server: Poisson arrivals; the figure is the highest rate whose p99 TTFT and p99 TPOT
  meet the SLOs (MLPerf Llama-2-70B: 2 s and 200 ms). Found by bisection on the rate with
  the same seed (so the same lengths and arrival pattern, scaled), first between half
  and all of the offline request rate, then (if half fails) between a small fraction of
  it and half.
- Run length: a short run is kinder than MLPerf's long ones near capacity (the queue of a
  Poisson stream at load near 1 grows like the square root of the run's length, so a
  short run meets latency limits that a long one breaks; and an offline run's drain at
  the end weighs more). With `min_duration_s`, every run lasts at least that long, as
  MLPerf LoadGen's min_duration does (600 s for every scenario of Inference v4.x,
  loadgen/mlperf.conf: `*.Server.min_duration = 600000`, `*.Offline.min_duration =
  600000`), with at least `min_queries` queries (Offline: `llama2-70b.Offline.
  min_query_count = 24576`; Server: LoadGen's default of 100). A run longer than the
  workload reuses its requests in order, whole passes over the set, as LoadGen's equal-
  issue mode does for LLMs (`llama2-70b.*.sample_concatenate_permutation = 1`).
"""

from __future__ import annotations

from collections.abc import Callable
from math import ceil

import numpy as np

from tigris.serving.deployment import Deployment
from tigris.serving.metrics import summarize
from tigris.serving.prefix_cache import PrefixSharing
from tigris.serving.requests import Workload, with_poisson_arrivals
from tigris.serving.simulator import SimulationResult, simulate
from tigris.serving.step_time import StepTimer

MLPERF_SLO_TTFT_S = 2.0
MLPERF_SLO_TPOT_S = 0.2
SEARCH_ITERATIONS = 10  # below half of capacity: 50x range, ~0.4% resolution
UPPER_SEARCH_ITERATIONS = 7  # between half and all of capacity: ~0.5% resolution
LOW_RATE_FRACTION = 0.02
HIGH_RATE_FACTOR = 1.0  # no rate above offline capacity is sustainable
# Runs of the search at most: the full rate, half, the lowest, the bisection, the fallback
MAX_SEARCH_RUNS = 3 + max(SEARCH_ITERATIONS, UPPER_SEARCH_ITERATIONS) + 1


# Peak memory a simulated request costs, twice what tracemalloc measured (40-90 bytes in
# offline and server runs of 10,000-40,000 requests): the workload's three columns, its
# first-token and finish times and tokens generated, the summary's latency arrays; and
# 16 bytes per engine step of replica 0 (the KV occupancy series).
REQUEST_BYTES = 160


# Simulator time, measured in-process on the project's 2-core machine (llama3-8b on one
# h100-sxm, 2,000-200,000 requests of 16-2,048 output tokens): ~8 us a request and
# ~12-16 us an engine step (1,000,000 requests offline: estimated 16 s, took 17.5 s). A
# step serves a batch; at a fixed arrival rate the batch can
# be as small as one request, and a rate search runs up to MAX_SEARCH_RUNS simulations
# (measured: 20,000 requests, 16 s searched, 26 s at 10 requests/s, i.e. near batch 1).
REQUEST_S = 8e-6
STEP_S = 16e-6
SEARCH_BATCH_FRACTION = 0.15  # the search's runs average about a sixth-full batch (16 s above)


def estimate_seconds(
    num_requests: int, output_tokens: float, max_num_seqs: int, scenario: str, fixed_rate: bool
) -> float:
    """A rough upper estimate of the wall time of simulating `num_requests` requests that
    generate `output_tokens` in all: offline one run of full batches; a server run at a
    fixed rate may step one request at a time; a server search up to MAX_SEARCH_RUNS runs."""
    full = max(1, min(max_num_seqs, num_requests))
    if scenario == "offline":
        runs, batch = 1, full
    elif fixed_rate:
        runs, batch = 1, 1
    else:
        runs, batch = MAX_SEARCH_RUNS, max(1.0, full * SEARCH_BATCH_FRACTION)
    return runs * (num_requests * REQUEST_S + output_tokens / batch * STEP_S)


def estimate_memory_bytes(num_requests: int) -> float:
    """Peak memory of simulating `num_requests` requests (offline, or each run of a
    server search: the runs are one after another)."""
    return float(num_requests) * REQUEST_BYTES


def repeated(workload: Workload, num_requests: int) -> Workload:
    """The workload's requests in order (their prefixes with them), repeated (whole
    passes) to num_requests; arrivals are zero (callers redraw them), except that a
    workload cut short keeps its own."""
    if num_requests <= workload.num_requests:
        return workload.subset(slice(num_requests))  # views: no per-request copy
    index = np.arange(num_requests) % workload.num_requests
    return workload.subset(index).with_arrivals(np.zeros(num_requests))


def at_once(workload: Workload, count: int | None = None) -> Workload:
    """`count` of the workload's requests (default all; repeated past its end), all
    arriving at time 0, with their prefixes."""
    count = workload.num_requests if count is None else count
    return repeated(workload, count).with_arrivals(np.zeros(count))


def summarize_run(
    result: SimulationResult, slo_ttft_s: float | None, slo_tpot_s: float | None
) -> dict[str, object]:
    """metrics.summarize, with the prefix cache's figures when a cache ran."""
    summary = summarize(result, slo_ttft_s, slo_tpot_s)
    if result.prefix_cache is not None:
        summary["prefix_cache"] = dict(result.prefix_cache)
    return summary


def with_cache_effect(
    summary: dict[str, object], rerun: Callable[[], SimulationResult]
) -> dict[str, object]:
    """When a prefix cache ran: the same run without it (`rerun`) gives the cache's effect
    on TTFT and on engine time (the cost of a fixed fleet)."""
    if "prefix_cache" not in summary:
        return summary
    without = rerun()
    plain = summarize(without)
    summary["prefix_cache"] |= {  # type: ignore[operator]
        "ttft_mean_s_without_cache": plain["ttft_mean_s"],
        "ttft_p99_s_without_cache": plain["ttft_p99_s"],
        "engine_busy_s_without_cache": without.busy_s,
    }
    return summary


def run_offline(
    deployment: Deployment,
    workload: Workload,
    *,
    chunked_prefill: bool = False,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    timer: StepTimer | None = None,
    progress: Callable[[int, int], None] | None = None,
    min_duration_s: float | None = None,
    min_queries: int | None = None,
    prefix: PrefixSharing | None = None,
    prefill_first: bool = False,
    cache_effect: bool = True,
) -> dict[str, object]:
    """All requests at time 0: the workload's, or min_queries of them (the workload
    repeated) when given. With min_duration_s, a run shorter than that is lengthened to
    as many requests as its rate serves in min_duration_s, as LoadGen sizes an Offline
    query (target_qps x min_duration). `prefix`, `prefill_first`: the prefix cache and
    the engine's step order (simulator.simulate); with a cache and `cache_effect`, its
    effect (a run without it) is reported. `progress(done, total)` hears of requests
    simulated."""
    timer = timer or StepTimer(deployment)
    tally = _Tally(progress, runs_left=1, run_size=workload.num_requests)
    run = dict(chunked_prefill=chunked_prefill, timer=timer, prefill_first=prefill_first)
    requests = at_once(workload, min_queries or workload.num_requests)
    result = simulate(deployment, requests, prefix=prefix, progress=tally.run(), **run)
    summary = summarize_run(result, slo_ttft_s, slo_tpot_s)
    if min_duration_s is not None and float(summary["duration_s"]) < min_duration_s:  # type: ignore[arg-type]
        count = ceil(float(summary["requests_per_s"]) * min_duration_s)  # type: ignore[arg-type]
        requests = at_once(workload, count)
        result = simulate(deployment, requests, prefix=prefix, progress=tally.run(), **run)
        summary = summarize_run(result, slo_ttft_s, slo_tpot_s)
    tally.close()
    if cache_effect:
        summary = with_cache_effect(summary, lambda: simulate(deployment, requests, **run))
    return {"scenario": "offline", **summary}


class _Tally:
    """Progress over a series of simulations: requests simulated in every run so far, of
    those plus an upper estimate of the runs still to come (`runs_left` of `run_size`
    requests each); the total shrinks to the work done when the series stops early."""

    def __init__(
        self, progress: Callable[[int, int], None] | None, runs_left: int, run_size: int
    ) -> None:
        self.progress = progress
        self.runs_left = runs_left
        self.run_size = run_size
        self.finished = 0

    def run(self) -> Callable[[int, int], None] | None:
        """The callback for the next simulation."""
        if self.progress is None:
            return None
        self.runs_left = max(self.runs_left - 1, 0)
        base = self.finished
        report = self.progress

        def update(done: int, total: int) -> None:
            report(base + done, base + total + self.runs_left * self.run_size)
            if done >= total:
                self.finished = base + total

        return update

    def close(self) -> None:
        if self.progress is not None:
            self.progress(self.finished, self.finished)


def _meets(summary: dict[str, object], slo_ttft_s: float, slo_tpot_s: float) -> bool:
    return summary["ttft_p99_s"] <= slo_ttft_s and summary["tpot_p99_s"] <= slo_tpot_s  # type: ignore[operator]


def run_server(
    deployment: Deployment,
    workload: Workload,
    *,
    slo_ttft_s: float = MLPERF_SLO_TTFT_S,
    slo_tpot_s: float = MLPERF_SLO_TPOT_S,
    rate_per_s: float | None = None,
    seed: int = 0,
    chunked_prefill: bool = False,
    timer: StepTimer | None = None,
    progress: Callable[[int, int], None] | None = None,
    min_duration_s: float | None = None,
    min_queries: int = 1,
    offline: dict[str, object] | None = None,
    prefix: PrefixSharing | None = None,
    prefill_first: bool = False,
    arrivals: Callable[[Workload, float, int], Workload] = with_poisson_arrivals,
) -> dict[str, object]:
    """Metrics at the highest rate meeting the SLOs (or at rate_per_s when given), with
    `max_rate_meeting_slo` (requests/s, all replicas) and the output tokens/s it carries.
    With min_duration_s, each rate's run has max(min_queries, rate x min_duration_s)
    requests (the workload repeated). `offline`: run_offline's result for the same
    deployment and workload, when the caller has it. `prefix`, `prefill_first`: as
    run_offline (every run with them; the cache's figures are the shown run's).
    `arrivals(workload, rate, seed)` times the requests at each rate tried (default
    Poisson; tigris.fleet replays a trace's own arrivals scaled to the rate).
    `progress(done, total)` hears of requests simulated over every run of the search."""
    run = dict(chunked_prefill=chunked_prefill, timer=timer or StepTimer(deployment),
               prefill_first=prefill_first)  # fmt: skip
    max_runs = MAX_SEARCH_RUNS + (offline is None) + (rate_per_s is not None)
    tally = _Tally(progress, runs_left=max_runs, run_size=workload.num_requests)

    def at(rate: float) -> dict[str, object]:
        runs = workload
        if min_duration_s is not None:
            runs = repeated(workload, max(min_queries, ceil(rate * min_duration_s)))
        timed = arrivals(runs, rate, seed)
        result = simulate(deployment, timed, prefix=prefix, progress=tally.run(), **run)
        return summarize_run(result, slo_ttft_s, slo_tpot_s)

    if offline is None:
        offline = run_offline(
            deployment, workload, min_duration_s=min_duration_s, progress=tally.run(),
            prefix=prefix, cache_effect=False, **run,
        )  # fmt: skip
    capacity = float(offline["requests_per_s"])  # type: ignore[arg-type]
    best, best_rate = highest_rate_meeting_slo(at, capacity, slo_ttft_s, slo_tpot_s)
    low_summary = best or at(LOW_RATE_FRACTION * capacity)
    mean_output = float(workload.output_len.mean())
    shown = at(rate_per_s) if rate_per_s is not None else low_summary
    tally.close()
    return {
        "scenario": "server",
        **shown,
        "rate_per_s": rate_per_s if rate_per_s is not None else best_rate,
        "max_rate_meeting_slo": best_rate,
        "max_rate_tokens_per_s": best_rate * mean_output,
        "offline_throughput_tokens_per_s": offline["throughput_tokens_per_s"],
    }


def highest_rate_meeting_slo(
    at: Callable[[float], dict[str, object]],
    capacity: float,
    slo_ttft_s: float,
    slo_tpot_s: float,
) -> tuple[dict[str, object] | None, float]:
    """(summary, rate) of the highest arrival rate found meeting the SLOs; (None, 0.0) when
    even the low rate misses them. `at(rate)` simulates one rate; `capacity` is the offline
    throughput in requests/s, which bounds the search."""

    def meets(rate: float) -> dict[str, object] | None:
        summary = at(rate)
        return summary if _meets(summary, slo_ttft_s, slo_tpot_s) else None

    # Full capacity first: loose SLOs are met even there, and one run then settles it.
    high = HIGH_RATE_FACTOR * capacity
    best = meets(high)
    best_rate = high if best is not None else 0.0
    if best is None:
        # half capacity splits the range: the narrow upper half needs fewer bisection
        # steps for the same resolution than the wide range below it
        half = 0.5 * high
        best = meets(half)
        if best is not None:
            low, iterations, best_rate = half, UPPER_SEARCH_ITERATIONS, half
        else:
            low, high, iterations = LOW_RATE_FRACTION * capacity, half, SEARCH_ITERATIONS
            best = meets(low)
            best_rate = low if best is not None else 0.0
            iterations = iterations if best is not None else 0
        # geometric bisection: rates span orders of magnitude
        for _ in range(iterations):
            middle = (low * high) ** 0.5
            summary = meets(middle)
            if summary is not None:
                low, best, best_rate = middle, summary, middle
            else:
                high = middle
    return best, best_rate
