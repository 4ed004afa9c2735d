"""`tigris.api.serve`: simulate serving a model (continuous batching, paged KV cache)
under an MLPerf scenario, as `tigris serve` does.

    import tigris.api as t
    result = t.serve("llama3-8b", chip="h100-sxm", num_chips=1, num_requests=200)
    result.metrics["throughput_tokens_per_s"]
    result.to_dict()  # what `tigris serve ... --json` prints

Errors are those of the command: SpecError for a bad argument (it names the matching
command-line option), InfeasibleError for a model that does not fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError, shorten

if TYPE_CHECKING:
    from tigris.hardware.chip import Chip
    from tigris.serving.deployment import Deployment
    from tigris.serving.engines import ServingOptions
    from tigris.serving.requests import Workload
    from tigris.serving.speculative import Speculation
    from tigris.workload.spec import TransformerSpec

SCENARIOS = ("offline", "server", "replay")


@dataclass(frozen=True)
class ServeResult:
    """One serving simulation: the deployment simulated, the scenario and its metrics
    (the scenario's summary: throughput, latency percentiles, SLO attainment, ...)."""

    deployment: Deployment
    scenario: str
    chunked_prefill: bool
    seed: int
    metrics: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Exactly what `tigris serve ... --json` prints."""
        deployment = self.deployment
        if "search" in self.metrics:  # --search: the layouts are in it
            return {"model": deployment.model.name, "chip": deployment.chip.id,
                    "num_chips": deployment.num_chips, "mode": "colocated",
                    "scenario": self.scenario, "chunked_prefill": self.chunked_prefill,
                    "seed": self.seed} | self.metrics  # fmt: skip
        header = {
            "model": deployment.model.name,
            "chip": deployment.chip.id,
            "num_chips": deployment.num_chips,
            "tp": deployment.tp,
            "pp": deployment.pp,
            "ep": deployment.ep,
            "num_replicas": deployment.num_replicas,
            "chunked_prefill": self.chunked_prefill,
            "seed": self.seed,
        }
        return header | self.metrics | {"interval": self._interval()}

    def _interval(self) -> dict[str, object] | None:
        """The 80 % band of the throughput from held-out inference rows (the serving
        rows of the validation data are MLPerf/engine throughputs)."""
        from tigris.report.prediction_bands import chip_band

        d = self.deployment
        throughput = self.metrics.get("throughput_tokens_per_s")
        return chip_band("infer", throughput, d.chip, metric="throughput_tokens_per_s",  # type: ignore[arg-type]
                         precision=d.precision.weights, rate=True)  # fmt: skip


def serve(
    model: str | Path | TransformerSpec,
    *,
    chip: str | Path | Chip,
    num_chips: int,
    scenario: str = "offline",
    tp: int | None = None,
    pp: int = 1,
    ep: int = 1,
    rate_per_s: float | None = None,
    num_requests: int = 1000,
    input_len: int = 512,
    output_len: int = 128,
    length_dist: str = "fixed",
    trace: str | Path | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str | None = None,
    compute_dtype: str = "bf16",
    chunked_prefill: bool = False,
    token_budget: int = 8192,
    max_num_seqs: int = 256,
    block_size: int = 16,
    slo_ttft_s: float | None = None,
    slo_tpot_s: float | None = None,
    seed: int = 0,
    max_memory: str = "2 GiB",
    max_time: str = "10 min",
    progress: Callable[[int, int], None] | None = None,
    power_cap: str | float | None = None,
    options: ServingOptions | None = None,
    speculative: str | None = None,
    search: bool = False,
) -> ServeResult:
    """Simulate `num_requests` requests (or a trace's) of `model` on `num_chips` x `chip`.
    Offline: all at time 0; server: Poisson at `rate_per_s`, or the highest rate meeting
    the SLOs; replay: as they arrive. `options`: trace, engine and prefix cache (engines.
    ServingOptions); `max_memory`/`max_time` refuse a bigger run; `power_cap` throttles;
    `speculative`: speculative decoding (tigris.serving.speculative);
    `search`: the layouts of up to `num_chips` chips under the SLO (layout_search)."""
    from tigris.cost.power_report import parse_power_cap

    check_options(scenario, rate_per_s, slo_ttft_s, slo_tpot_s, seed)
    _check_modes(search, scenario, (tp, pp, ep), rate_per_s, trace)
    cap_w = parse_power_cap(power_cap)
    check_memory(trace := str(trace) if trace is not None else None, num_requests, max_memory)
    deployment, chunked_prefill, opts = _deployment(
        model, chip, options, (num_chips, tp, pp, ep), (weight_dtype, kv_dtype, compute_dtype),
        dict(token_budget=token_budget, max_num_seqs=max_num_seqs, block_size=block_size),
        chunked_prefill, search, cap_w,
    )  # fmt: skip
    workload = build_workload(deployment, trace, scenario, num_requests, (input_len, output_len),
                              length_dist, rate_per_s, seed, opts)  # fmt: skip
    _check_time(workload, max_num_seqs, scenario, rate_per_s, max_time)
    slo = (slo_ttft_s, slo_tpot_s)
    metrics = (
        _search(deployment, workload, chunked_prefill, slo, speculative, progress) if search
        else _serve_metrics(deployment, workload, scenario, chunked_prefill, slo, rate_per_s,
                            seed, progress, opts, speculative, cap_w)
    )  # fmt: skip
    return ServeResult(deployment, scenario, chunked_prefill, seed, metrics)


def _deployment(
    model: str | Path | TransformerSpec,
    chip: str | Path | Chip,
    options: ServingOptions | None,
    layout: tuple[int, int | None, int, int],
    dtypes: tuple[str | None, str | None, str],
    engine: dict[str, int],
    chunked_prefill: bool,
    search: bool,
    cap_w: float | None = None,
) -> tuple[Deployment, bool, ServingOptions]:
    """The deployment (the engine profile's limits applied; one chip per replica when its
    layout is searched), chunked prefill as the profile sets it, and the options."""
    from tigris.api.inputs import resolve_chip, resolve_model
    from tigris.cost.power_scope import apply_power_cap
    from tigris.hardware.stacks import apply_stack
    from tigris.serving.deployment import build_deployment
    from tigris.serving.engines import ServingOptions

    spec, chip, opts = resolve_model(model), resolve_chip(chip), options or ServingOptions()
    chip, stack_settings = apply_stack(opts.stack, chip, "serving")
    chip = apply_power_cap(chip, cap_w)  # every op of every step timed under the cap
    limits, chunked_prefill = opts.engine_limits(chip.dram_capacity_bytes, engine, chunked_prefill)
    num_chips, tp, pp, ep = (layout[0], 1, 1, 1) if search else layout
    weight_dtype, kv_dtype, compute_dtype = dtypes
    deployment = build_deployment(
        spec, chip, num_chips=num_chips, tp=tp, pp=pp, ep=ep, weight_dtype=weight_dtype,
        kv_dtype=kv_dtype, compute_dtype=compute_dtype, **limits, **stack_settings,
    )  # fmt: skip
    return deployment, chunked_prefill, opts


def _serve_metrics(
    deployment: Deployment,
    workload: Workload,
    scenario: str,
    chunked_prefill: bool,
    slo: tuple[float | None, float | None],
    rate_per_s: float | None,
    seed: int,
    progress: Callable[[int, int], None] | None,
    opts: ServingOptions,
    speculative: str | None,
    cap_w: float | None,
) -> dict[str, object]:
    """One scenario's metrics, with power (and `speculative` when speculating)."""
    from tigris.cost.power_report import serving_power
    from tigris.serving.speculative import build_speculation

    speculation = build_speculation(speculative, deployment)
    metrics = _simulate(deployment, workload, scenario, chunked_prefill, *slo, rate_per_s, seed,
                        progress, opts, speculation)  # fmt: skip
    metrics |= serving_power(deployment, metrics)  # cap_w is on deployment.chip
    if speculation is not None:
        metrics["speculative"] = speculation.serving_summary(workload)
    return metrics


def _search(
    base: Deployment,
    workload: Workload,
    chunked_prefill: bool,
    slo: tuple[float | None, float | None],
    speculative: str | None,
    progress: Callable[[int, int], None] | None,
) -> dict[str, object]:
    """`--search`: the layouts of up to base.num_chips chips (tigris.serving.layout_search),
    each simulated on the same requests; the SLOs default to MLPerf's."""
    import time

    from tigris.cost.tco import usd_per_chip_hour
    from tigris.serving.layout_search import search_colocated
    from tigris.serving.scenario import MLPERF_SLO_TPOT_S, MLPERF_SLO_TTFT_S
    from tigris.serving.speculative import parse_speculative

    ttft = slo[0] if slo[0] is not None else MLPERF_SLO_TTFT_S
    tpot = slo[1] if slo[1] is not None else MLPERF_SLO_TPOT_S
    spec = parse_speculative(speculative) if speculative is not None else None
    started = time.perf_counter()
    found = search_colocated(base, workload, (ttft, tpot), chunked_prefill=chunked_prefill,
                             speculative=spec, progress=progress,
                             price=usd_per_chip_hour)  # fmt: skip
    return {"search": found | {"wall_s": time.perf_counter() - started}}


def _check_modes(
    search: bool,
    scenario: str,
    layout: tuple[int | None, int, int],
    rate_per_s: float | None,
    trace: object,
) -> None:
    """--search searches tp, pp and ep itself and judges every layout on the same arrivals."""
    if not search:
        return
    for option, value, default in zip(("--tp", "--pp", "--ep"), layout, (None, 1, 1), strict=True):
        if value != default:
            raise SpecError(f"is searched with --search, got {value}", key_path=option,
                            hint=f"drop {option}")  # fmt: skip
    if scenario == "replay" or (scenario == "server" and rate_per_s is None and trace is None):
        raise SpecError(
            "--search judges every layout on the same arrivals: give --rate (or a --trace) "
            f"in the server scenario, or use offline; got --scenario {scenario}",
            key_path="--search",
        )


def build_workload(
    deployment: Deployment,
    trace: str | None,
    scenario: str,
    num_requests: int,
    lengths: tuple[int, int],
    length_dist: str,
    rate_per_s: float | None,
    seed: int,
    opts: ServingOptions,
) -> Workload:
    """The trace's requests, shaped by the options (--rate-scale, --duration, --sample),
    or `num_requests` drawn ones of mean `lengths` (input, output) arriving at
    `rate_per_s` in the server and replay scenarios, all at time 0 offline; every one
    within the model's context window (colocated, and each pool of a disaggregated run)."""
    if trace is not None:
        return _read_trace(deployment, trace, opts)
    from tigris.api.inference import check_context
    from tigris.serving.requests import synthetic_workload

    check_context(deployment, *lengths)
    return synthetic_workload(
        num_requests,
        *lengths,
        rate_per_s=rate_per_s if scenario in ("server", "replay") else None,
        seed=seed,
        length_dist=length_dist,  # type: ignore[arg-type]
    )


def _simulate(
    deployment: Deployment,
    workload: Workload,
    scenario: str,
    chunked_prefill: bool,
    slo_ttft_s: float | None,
    slo_tpot_s: float | None,
    rate_per_s: float | None,
    seed: int,
    progress: Callable[[int, int], None] | None,
    opts: ServingOptions,
    speculation: Speculation | None = None,
) -> dict[str, object]:
    """The scenario's summary (offline: one run; server: a rate, or the rate search;
    replay: the arrivals as given), with the options' prefix cache and step order."""
    from tigris.serving.scenario import (
        MLPERF_SLO_TPOT_S,
        MLPERF_SLO_TTFT_S,
        run_offline,
        run_server,
    )
    from tigris.serving.speculative import SpeculativeTimer

    timer = None if speculation is None else SpeculativeTimer(deployment, speculation)
    if scenario == "replay":
        from tigris.serving.engines import run_replay

        slo = (slo_ttft_s, slo_tpot_s)
        return run_replay(deployment, workload, opts, chunked_prefill, slo, progress, timer)
    settings = opts.simulation(deployment.chip.dram_capacity_bytes)
    if scenario == "offline":
        return run_offline(
            deployment,
            workload,
            chunked_prefill=chunked_prefill,
            slo_ttft_s=slo_ttft_s,
            slo_tpot_s=slo_tpot_s,
            progress=progress,
            timer=timer,
            **settings,  # type: ignore[arg-type]
        )
    return run_server(
        deployment,
        workload,
        slo_ttft_s=slo_ttft_s if slo_ttft_s is not None else MLPERF_SLO_TTFT_S,
        slo_tpot_s=slo_tpot_s if slo_tpot_s is not None else MLPERF_SLO_TPOT_S,
        rate_per_s=rate_per_s,
        seed=seed,
        chunked_prefill=chunked_prefill,
        progress=progress,
        timer=timer,
        **settings,  # type: ignore[arg-type]
    )


def check_options(
    scenario: str,
    rate_per_s: float | None,
    slo_ttft_s: float | None,
    slo_tpot_s: float | None,
    seed: int,
) -> None:
    """The scenario is known; SLOs and the rate are positive and finite (NaN compares
    false everywhere, so it would silently disable the check it configures)."""
    if scenario not in SCENARIOS:
        raise SpecError(
            f"unknown scenario {shorten(repr(scenario))}",
            key_path="--scenario",
            hint=", ".join(SCENARIOS),
        )
    for option, value in (("--slo-ttft", slo_ttft_s), ("--slo-tpot", slo_tpot_s)):
        _check_positive(value, option)
    _check_positive(rate_per_s, "--rate")
    if seed < 0:
        raise SpecError(f"must be >= 0, got {seed}", key_path="--seed")


def _check_positive(value: float | None, option: str) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise SpecError(f"must be a positive, finite number, got {value}", key_path=option)


def check_memory(trace: str | None, num_requests: int, max_memory: str) -> None:
    """Before anything is allocated: the requests a trace may hold are at most its lines."""
    from tigris.io.limits import check_memory, parse_limit
    from tigris.serving.scenario import estimate_memory_bytes

    if trace is None and num_requests < 1:
        raise SpecError(
            f"must be a positive integer, got {num_requests}", key_path="--num-requests"
        )
    if trace is not None:
        from tigris.serving.trace import count_lines

        requests, what = count_lines(trace), "simulating a trace of {} lines"
    else:
        requests, what = num_requests, "simulating {} requests"
    check_memory(
        estimate_memory_bytes(requests),
        parse_limit(max_memory, "capacity", "--max-memory"),
        what.format(requests),
        "--max-memory",
    )


def _check_time(
    workload: Workload, max_num_seqs: int, scenario: str, rate_per_s: float | None, max_time: str
) -> None:
    from tigris.io.limits import check_time, parse_limit
    from tigris.serving.scenario import estimate_seconds

    check_time(
        estimate_seconds(
            workload.num_requests,
            float(workload.output_len.sum()),
            max_num_seqs,
            scenario,
            fixed_rate=rate_per_s is not None,
        ),
        parse_limit(max_time, "time", "--max-time"),
        f"simulating {workload.num_requests} requests ({scenario})",
        "--max-time",
    )


def _read_trace(deployment: Deployment, trace: str, opts: ServingOptions) -> Workload:
    """The trace's requests; every one must fit the model's context window, as
    --input-len and --output-len must (the longest is named)."""
    from tigris.serving.requests import shape_workload
    from tigris.serving.trace import read_trace

    workload = shape_workload(
        read_trace(trace, opts.trace_format), rate_scale=opts.rate_scale,
        duration_s=opts.duration_s, sample=opts.sample, seed=opts.seed,
    )  # fmt: skip
    total = workload.input_len + workload.output_len
    worst = int(total.argmax())
    window = deployment.model.max_position_embeddings
    if total[worst] > window:
        raise SpecError(
            f"a request of {workload.input_len[worst]} + {workload.output_len[worst]} tokens "
            f"(arriving at {workload.arrival_s[worst]:g} s) exceeds {deployment.model.name}'s "
            f"context window of {window} tokens (max_position_embeddings)",
            file=trace,
            key_path="--trace",
        )
    return workload
