"""Tail latency under an SLO: published p99 TTFT/TPOT and server rates (data/measured-slo.csv).

Each MLPerf Inference server result gives, from its mlperf_log_summary.txt, the p99 first
token latency (TTFT), the p99 time per output token (TPOT, LoadGen: (latency - TTFT) /
(tokens - 1) per sample) and the scheduled Poisson rate the submitter found to meet the
SLO (Llama-2-70B server: TTFT <= 2 s, TPOT <= 200 ms). A row holds one of the three.

The same system is simulated as tigris.validate.infer runs MLPerf Llama-2-70B (the
submitter's tp and in-flight batch, fp8, Poisson arrivals, 600 s LoadGen runs, output
length = the result's tokens/s over samples/s): `ttft_p99` and `tpot_p99` rows are
compared with the simulation AT THE PUBLISHED RATE, `scheduled_samples_per_s` rows with
the highest rate the simulation finds meeting the SLO. Nothing is fitted on these rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from tigris.validate.hardware_names import chip_for_hardware, known_chip

PERCENTILES = (50, 90, 99)
SLO_METRICS = ("ttft_p99", "tpot_p99", "scheduled_samples_per_s")


def tail_percentiles(name: str, values: np.ndarray) -> dict[str, float]:
    """p50/p90/p99 of `values` (NaN dropped: single-token outputs have no TPOT), with
    numpy's linear interpolation between order statistics, as serving.metrics reports."""
    kept = values[~np.isnan(values)]
    if len(kept) == 0:
        return {f"{name}_p{p}_s": 0.0 for p in PERCENTILES}
    return {f"{name}_p{p}_s": float(np.percentile(kept, p)) for p in PERCENTILES}


def trace_tails(
    arrival_s: np.ndarray, first_token_s: np.ndarray, finish_s: np.ndarray, output_len: np.ndarray
) -> dict[str, float]:
    """Tail TTFT and TPOT of a request trace (seconds): TTFT = first token - arrival,
    TPOT = (finish - first token) / (output tokens - 1)."""
    ttft = first_token_s - arrival_s
    steps = output_len - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(steps > 0, (finish_s - first_token_s) / steps, np.nan)
    return tail_percentiles("ttft", ttft) | tail_percentiles("tpot", tpot)


@dataclass(frozen=True)
class SloRow:
    row_id: str
    hardware: str
    metric: str
    measured: float  # seconds or samples/s
    predicted: float | None
    error_pct: float | None
    skipped: str | None = None


def _note(row: dict[str, str], label: str) -> float:
    found = re.search(rf"(?<!scheduled ){re.escape(label)}=([\d.]+)", row["notes"])
    if found is None:
        raise ValueError(f"row {row['id']}: notes lack {label}=")
    return float(found.group(1))


def _published_rate(row: dict[str, str]) -> float:
    if row["metric_name"] == "scheduled_samples_per_s":
        return float(row["metric_value"])
    return float(re.search(r"scheduled samples/s=([\d.]+)", row["notes"]).group(1))  # type: ignore[union-attr]


@lru_cache(maxsize=16)
def _simulated(row_key: tuple[str, str, str], output_tokens: int, rate: float) -> dict:
    """(p99 TTFT s, p99 TPOT s at the published system rate, highest SLO rate
    samples/s of the system) for one MLPerf system."""
    from tigris.serving.scenario import run_server
    from tigris.validate import infer as mlperf

    hardware, num_chips, notes = row_key
    row = {"num_chips": num_chips, "notes": notes}
    system = mlperf._mlperf_system(row, known_chip(hardware))
    tp, _, offline = mlperf._mlperf_best_tp(system, output_tokens)
    max_seqs = next(m for t, m in mlperf._mlperf_layouts(system, "Server") if t == tp)
    deployment = mlperf._mlperf_deployment(system, tp, max_seqs)
    replicas = system.num_chips / tp
    result = run_server(
        deployment,
        mlperf._mlperf_workload(output_tokens),
        timer=mlperf._power_capped_timer(deployment, system.limit_w),
        rate_per_s=rate / replicas,
        min_duration_s=mlperf.MLPERF_MIN_DURATION_S,
        min_queries=mlperf.MLPERF_SERVER_MIN_QUERIES,
        offline=offline,
    )
    return {
        "ttft_p99": float(result["ttft_p99_s"]),  # type: ignore[arg-type]
        "tpot_p99": float(result["tpot_p99_s"]),  # type: ignore[arg-type]
        "scheduled_samples_per_s": float(result["max_rate_meeting_slo"]) * replicas,  # type: ignore[arg-type]
    }


def evaluate_slo_row(row: dict[str, str]) -> SloRow:
    """One row of measured-slo.csv, predicted (seconds for latencies)."""
    metric = row["metric_name"]
    value = float(row["metric_value"])
    measured = value * 1e-3 if row["metric_unit"] == "ms" else value
    common = {"row_id": row["id"], "hardware": row["hardware"], "metric": metric}
    if metric not in SLO_METRICS or chip_for_hardware(row["hardware"]) is None:
        reason = f"metric {metric[:30]!r} or hardware {row['hardware'][:40]!r} not modelled"
        return SloRow(measured=measured, predicted=None, error_pct=None, skipped=reason, **common)
    output_tokens = round(_note(row, "tokens/s") / _note(row, "samples/s"))
    system_notes = re.sub(r"scheduled samples/s=[\d.]+;?", "", row["notes"])
    system = re.search(r"system=[^;]+", system_notes).group(0)  # type: ignore[union-attr]
    key = (row["hardware"], row["num_chips"], system)
    predicted = _simulated(key, output_tokens, _published_rate(row))[metric]
    error = (predicted - measured) / measured * 100.0
    return SloRow(measured=measured, predicted=predicted, error_pct=error, **common)
