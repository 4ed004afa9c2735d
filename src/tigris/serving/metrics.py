"""What a serving run reports: latency percentiles, throughput, goodput, KV occupancy.

- TTFT: first token time - arrival. TPOT: (finish - first token) / (output tokens - 1),
  over requests of at least two output tokens. E2E: finish - arrival.
- Throughput: output tokens / (last finish - first arrival); requests/s likewise.
- Goodput (DistServe, Zhong et al. 2024): requests per second that meet both SLOs.
"""

from __future__ import annotations

import numpy as np

from tigris.serving.simulator import SimulationResult

PERCENTILES = (50, 90, 99)
KV_SERIES_POINTS = 50


def _percentiles(name: str, values: np.ndarray) -> dict[str, float]:
    if len(values) == 0:
        return {f"{name}_p{p}_s": 0.0 for p in PERCENTILES} | {f"{name}_mean_s": 0.0}
    out = {f"{name}_p{p}_s": float(np.percentile(values, p)) for p in PERCENTILES}
    out[f"{name}_mean_s"] = float(values.mean())
    return out


def latencies(result: SimulationResult) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(TTFT, TPOT, E2E) per request; TPOT is NaN for single-token outputs."""
    w = result.workload
    ttft = result.first_token_s - w.arrival_s
    e2e = result.finish_s - w.arrival_s
    steps = w.output_len - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(steps > 0, (result.finish_s - result.first_token_s) / steps, np.nan)
    return ttft, tpot, e2e


def summarize(
    result: SimulationResult, slo_ttft_s: float | None = None, slo_tpot_s: float | None = None
) -> dict[str, object]:
    w = result.workload
    ttft, tpot, e2e = latencies(result)
    duration = float(np.max(result.finish_s) - np.min(w.arrival_s))
    duration = max(duration, 1e-30)
    meets = np.ones(w.num_requests, dtype=bool)
    if slo_ttft_s is not None:
        meets &= ttft <= slo_ttft_s
    if slo_tpot_s is not None:
        meets &= np.nan_to_num(tpot, nan=0.0) <= slo_tpot_s
    stride = max(1, len(result.kv_time_s) // KV_SERIES_POINTS)
    series = [
        [float(t), float(o)]
        for t, o in zip(result.kv_time_s[::stride], result.kv_occupancy[::stride], strict=True)
    ]
    return {
        "num_requests": w.num_requests,
        "duration_s": duration,
        "throughput_tokens_per_s": float(w.output_len.sum()) / duration,
        "input_tokens_per_s": float(w.input_len.sum()) / duration,
        "requests_per_s": w.num_requests / duration,
        **_percentiles("ttft", ttft),
        **_percentiles("tpot", tpot[~np.isnan(tpot)]),
        **_percentiles("e2e", e2e),
        "slo_ttft_s": slo_ttft_s,
        "slo_tpot_s": slo_tpot_s,
        "slo_attainment": float(meets.mean()),
        "goodput_requests_per_s": float(meets.sum()) / duration,
        "num_preemptions": result.num_preemptions,
        "num_steps": result.num_steps,
        "kv_occupancy_mean": result.kv_mean_occupancy,
        "kv_occupancy_max": result.kv_max_occupancy,
        "kv_occupancy_over_time": series,
    }
