"""Splitwise (Patel et al., ISCA 2024) iso-power comparison, reproduced with Tigris.

Setup as the paper's simulator (github.com/Mutinifni/splitwise-sim, configs/ and
notebooks/utils.py): Llama-2-70B in 16-bit, one instance per DGX machine (tp=8);
machine power 44 (DGX-H100) vs 24.8 (DGX-A100) and cost 4.76 vs 2.21 (utils.py's
relative units); iso-power clusters sized from a DGX-H100 budget (isopower_cluster.yaml:
A100 machines = int(44 x (H100 budget) / 24.8)); request lengths from the Azure 2023
code and conversation traces, Poisson arrivals (generate_trace.py's rate sweeps).
Scaled to a budget of 5 DGX-H100 (the paper sweeps 40) to run in minutes: throughput
per budget is what is compared. Metric: the highest Poisson rate whose p99 TTFT and
p99 TPOT meet the SLO (MLPerf Llama-2-70B: 2 s, 200 ms; the paper's SLOs are slowdowns
over an unloaded DGX-H100, not reproduced). Baselines: colocated, mixed (chunked)
batching as the paper's baselines; Splitwise: prefill and decode machines, KV over
InfiniBand. Run: .venv/bin/python bench/splitwise_repro.py [requests [tpot_slo_s]] > out.json
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from tigris.api.disaggregated import _rate_search
from tigris.serving.deployment import build_deployment
from tigris.serving.requests import Workload
from tigris.serving.scenario import run_server
from tigris.serving.trace import read_trace

TRACES = "../shared/data/traces/azure-llm-2023-{}.csv"
POWER = {"h100-sxm": 44.0, "a100-sxm-80gb": 24.8}
COST = {"h100-sxm": 4.76, "a100-sxm-80gb": 2.21}
BUDGET_H100 = 5
SLO = (2.0, 0.2)


def machines(chip: str, count: int):
    return build_deployment("llama2-70b", chip, num_chips=8 * count, tp=8)


def sample(name: str, count: int, seed: int = 0) -> Workload:
    w = read_trace(TRACES.format(name))
    pick = np.sort(np.random.default_rng(seed).choice(w.num_requests, count, replace=False))
    return Workload(np.zeros(count), w.input_len[pick], w.output_len[pick])


def designs() -> list[tuple[str, str, int, str, int]]:
    """(name, prefill chip, machines, decode chip, machines); colocated when decode is ''."""
    a100 = int(POWER["h100-sxm"] * BUDGET_H100 // POWER["a100-sxm-80gb"])
    out = [("Baseline-H100", "h100-sxm", BUDGET_H100, "", 0),
           ("Baseline-A100", "a100-sxm-80gb", a100, "", 0)]  # fmt: skip
    for p in range(1, BUDGET_H100):
        out.append((f"Splitwise-HH {p}P/{BUDGET_H100 - p}T", "h100-sxm", p, "h100-sxm",
                    BUDGET_H100 - p))  # fmt: skip
        t = int(POWER["h100-sxm"] * (BUDGET_H100 - p) // POWER["a100-sxm-80gb"])
        out.append((f"Splitwise-HA {p}P/{t}T", "h100-sxm", p, "a100-sxm-80gb", t))
    return out


def run(name: str, design: tuple[str, str, int, str, int], w: Workload) -> dict:
    label, pchip, pn, dchip, dn = design
    started = time.perf_counter()
    if not dchip:
        out = run_server(machines(pchip, pn), w, slo_ttft_s=SLO[0], slo_tpot_s=SLO[1],
                         chunked_prefill=True)  # fmt: skip
        power, cost = pn * POWER[pchip], pn * COST[pchip]
    else:
        out = _rate_search(machines(pchip, pn), machines(dchip, dn), w, False, *SLO, 0)
        power = pn * POWER[pchip] + dn * POWER[dchip]
        cost = pn * COST[pchip] + dn * COST[dchip]
    return {"trace": name, "design": label, "power": power, "cost": cost,
            "max_rate_meeting_slo": out["max_rate_meeting_slo"],
            "ttft_p99_s": out["ttft_p99_s"], "tpot_p99_s": out["tpot_p99_s"],
            "wall_s": time.perf_counter() - started}  # fmt: skip


def main() -> None:
    global SLO
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    if len(sys.argv) > 2:  # a tighter p99 TPOT SLO, seconds
        SLO = (SLO[0], float(sys.argv[2]))
    rows = []
    for name in ("code", "conv"):
        w = sample(name, count)
        for design in designs():
            rows.append(run(name, design, w))
            print(json.dumps(rows[-1]), file=sys.stderr)
    json.dump(rows, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
