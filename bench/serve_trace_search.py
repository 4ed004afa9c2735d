"""Speed of the disaggregated layout search (issue 18: 200 configurations under 60 s on
one core): Llama-3-8B, up to 8 + 8 H100 (225 layouts: tp 1-8 x replicas for each pool),
REQUESTS requests of the Azure 2023 conversation trace's lengths (sampled with seed 0)
at a Poisson 15 requests/s, as `tigris serve llama3-8b --disaggregate --prefill
h100-sxm:8 --decode h100-sxm:8 --scenario server --rate 15 --search` runs them. Prints
the layouts, the wall and CPU time and the machine's load; run it under `taskset -c 0`
for one core.

    taskset -c 0 python bench/serve_trace_search.py [requests]
"""

from __future__ import annotations

import os
import sys
import time

from tigris.api.disaggregated import pool_deployment
from tigris.api.inputs import resolve_model
from tigris.cost.tco import usd_per_chip_hour
from tigris.serving.layout_search import search_layouts
from tigris.serving.requests import shape_workload, with_poisson_arrivals
from tigris.serving.trace import read_trace

RATE_PER_S = 15.0


def main(requests: int = 400) -> None:
    model = resolve_model("llama3-8b")
    prefill = pool_deployment(model, "h100-sxm:8", "--prefill", {})
    decode = pool_deployment(model, "h100-sxm:8", "--decode", {})
    lengths = shape_workload(read_trace("azure-conv"), sample=requests, seed=0)
    workload = with_poisson_arrivals(lengths, RATE_PER_S, seed=0)
    wall, cpu = time.perf_counter(), time.process_time()
    found = search_layouts(prefill, prefill.chip, decode.chip, 8, 8, workload, 2.0, 0.2,
                           price=usd_per_chip_hour, decode_base=decode)  # fmt: skip
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"layout search, {requests} requests: {found['num_layouts']} layouts "
        f"({found['num_feasible']} feasible) in wall {wall:.1f} s, CPU {cpu:.1f} s; load "
        f"average {os.getloadavg()[0]:.1f} on {len(os.sched_getaffinity(0))} usable CPUs"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
