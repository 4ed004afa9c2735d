"""Issue 18's matrix: the whole Azure 2023 code and conversation traces (one hour each)
replayed through colocated and disaggregated serving of Llama-3-70B on 8 chips (per pool)
of H100, H200, B200, MI300X, TPU v5p and tigris-1, and on a mixed pool (prefill on 8 H100,
decode on 8 tigris-1): per cell the user's figures (TTFT, TPOT, goodput at MLPerf's SLOs,
power) and, disaggregated, each pool's utilisation and power and the KV transfer.

    .venv/bin/python bench/serve_trace_matrix.py [OUT.json]   # default docs/data/serve-trace-matrix.json

Llama-3-70B's preset has an 8,192-token context; the conversation trace holds a request of
14,089 tokens, so the model gets Llama-3.1-70B's 131,072-token context (same weights and
shapes). bf16 weights and KV; the default engine limits; MLPerf SLOs (TTFT 2 s, TPOT 0.2 s).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from pathlib import Path

from tigris.api.disaggregated import serve_disaggregated
from tigris.api.serving import serve
from tigris.io.output import check_output_path, write_output
from tigris.workload.presets import load_model

CHIPS = ("h100-sxm", "h200-sxm", "b200", "mi300x", "tpu-v5p", "tigris-1")
TRACES = ("azure-code", "azure-conv")
MIXED = ("h100-sxm", "tigris-1")
CHIPS_PER_POOL = 8
SLO = {"slo_ttft_s": 2.0, "slo_tpot_s": 0.2}
DEFAULT_OUT = Path(__file__).parent.parent / "docs" / "data" / "serve-trace-matrix.json"
USER_KEYS = ("num_requests", "duration_s", "throughput_tokens_per_s", "ttft_p50_s", "ttft_p99_s",
             "tpot_p50_s", "tpot_p99_s", "slo_attainment", "goodput_requests_per_s")  # fmt: skip
POOL_KEYS = ("chip", "num_chips", "tp", "num_replicas", "utilization", "kv_occupancy_max",
             "pool_power_node_wall_w", "energy_per_token_j")  # fmt: skip


def _colocated(spec: object, chip: str, trace: str) -> dict[str, object]:
    out = serve(spec, chip=chip, num_chips=CHIPS_PER_POOL, scenario="replay", trace=trace,
                **SLO).to_dict()  # fmt: skip
    row = {k: out[k] for k in USER_KEYS}
    busy = float(out["engine_busy_s"]) / (out["num_replicas"] * float(out["duration_s"]))
    return row | {"utilization": busy, "power_node_wall_w_total":
                  float(out["power_node_wall_w"]) * CHIPS_PER_POOL}  # fmt: skip


def _disaggregated(spec: object, prefill: str, decode: str, trace: str) -> dict[str, object]:
    out = serve_disaggregated(spec, prefill=f"{prefill}:{CHIPS_PER_POOL}",
                              decode=f"{decode}:{CHIPS_PER_POOL}", scenario="replay",
                              trace=trace, **SLO)  # fmt: skip
    pools = {name: {k: pool.get(k) for k in POOL_KEYS} for name, pool in out["pools"].items()}
    transfer = out["kv_transfer"]
    return {k: out[k] for k in USER_KEYS} | {
        "power_node_wall_w_total": out["power_node_wall_w_total"],
        "pools": pools,
        "kv_transfer": {k: transfer[k] for k in ("link", "time_p50_s", "time_p99_s")},
    }


def _cells() -> list[tuple[str, str, str, str]]:
    """(trace, mode, prefill chip, decode chip) of every cell."""
    cells = []
    for trace in TRACES:
        cells += [(trace, "colocated", chip, chip) for chip in CHIPS]
        cells += [(trace, "disaggregated", chip, chip) for chip in CHIPS]
        cells.append((trace, "disaggregated", *MIXED))
    return cells


def main(out_path: str) -> None:
    check_output_path(out_path, option="OUT")  # a bad path fails before the hour of replay
    spec = load_model("llama3-70b").model_copy(update={"max_position_embeddings": 131072})
    load_before = os.getloadavg()
    rows, started = [], time.perf_counter()
    for trace, mode, prefill, decode in _cells():
        cell_start, cpu_start = time.perf_counter(), time.process_time()
        if mode == "colocated":
            figures = _colocated(spec, prefill, trace)
        else:
            figures = _disaggregated(spec, prefill, decode, trace)
        wall = time.perf_counter() - cell_start
        rows.append({"trace": trace, "mode": mode, "prefill_chip": prefill,
                     "decode_chip": decode, "wall_s": wall,
                     "cpu_s": time.process_time() - cpu_start} | figures)  # fmt: skip
        print(f"{trace} {mode} {prefill}->{decode}: {figures['num_requests']} requests, "
              f"TTFT p99 {figures['ttft_p99_s']:.3g} s, TPOT p99 {figures['tpot_p99_s']:.3g} s "
              f"({wall:.1f} s)", file=sys.stderr)  # fmt: skip
    meta = {
        "date": date.today().isoformat(),
        "model": "llama3-70b, max_position_embeddings 131072 (Llama-3.1-70B's context)",
        "chips_per_pool": CHIPS_PER_POOL,
        "scenario": "replay (the trace's own arrival times, whole trace)",
        **SLO,
        "machine": {
            "cpus": os.cpu_count(),
            "load_avg_1_5_15_before": load_before,
            "load_avg_1_5_15_after": os.getloadavg(),
        },  # fmt: skip
        "wall_s_total": time.perf_counter() - started,
    }
    write_output(out_path, json.dumps({"meta": meta, "cells": rows}, indent=1) + "\n",
                 option="OUT")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(DEFAULT_OUT))
