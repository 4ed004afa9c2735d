"""Speed of replaying the Azure 2023 conversation trace (19,366 requests, one hour) on 8
H100 (tp 8) for Llama-3-70B, as `tigris serve llama3.1-70b --chip h100-sxm --num-chips 8
--trace azure-conv --scenario replay` does (trace read + simulation). Two figures, each
the median of RUNS runs with the machine's load:
- cold: the whole command in a fresh process (`python -m tigris serve CONFIG ...
  --json --quiet`, interpreter start and imports included; CPU = the child's user + sys,
  as /usr/bin/time reports it);
- warm: serve() called again in one process (the shared step timer and decode memo
  already hold the trace's step shapes).

Llama-3-70B's preset has an 8,192-token context and one request of the trace is 14,089
tokens, so the bench runs the catalog's `llama3.1-70b` (the same weights and shapes with
a 131,072-token context; before 2026-12-08 it wrote that config to a temporary folder).
Target (issue 18): under 3 s of wall time.

Measured on the project's 2-core machine, shared with other jobs, 2026-12-07, run
alternately with the simulator before (01dabe0~1) and after its vectorisation (01dabe0):
median of 3 serve() calls, before CPU 3.42 / 4.35 s, wall 6.51 / 9.92 s (load 3.8 / 4.7);
after CPU 2.39 / 3.18 s, wall 3.81 / 7.99 s (load 4.1 / 5.4). simulate() alone, old and new
alternated in one process, 7 runs each: median CPU 3.87 -> 2.88 s, min 3.26 -> 2.48 s
(load 4.5). Wall time here follows the load (2 cores, load 4-5); the CPU time is the
figure to hold against the 3 s target.

2026-12-08 (load 8-11), before and after commit fdd0990 (step times from the process's
shared timer, decode attention memoised by value per timer, cheaper retirement of
finished sequences) alternated in one process, 6 serve() calls each: median CPU 3.67 ->
2.65 s, wall 5.58 -> 4.66 s; the cold first call 3.6 s CPU either way. Results identical.

2026-12-08 02:34 (load 2.3-3.5), the whole command cold in fresh processes, before and
after commit 293efcb (the running batch's KV total and fewest tokens left kept as Python
ints, one look-up per decode-attention grid segment) alternated, 5 each, /usr/bin/time
user + sys: median CPU 2.29 -> 2.11 s, wall 2.40 -> 2.08 s with PYTHONDONTWRITEBYTECODE=1
(this machine's setting: every tigris module compiled from source each run), 2.04 -> 1.81 s
CPU, 2.09 -> 1.82 s wall with the bytecode cached, as an installed package runs; this
bench (median of 5, load 2.2): cold CPU 2.11 -> 1.96 s, warm serve() 1.06 -> 0.91 s. The
same command took 4.2-4.5 s CPU (9-11 s wall) at 02:21 under load 6-8: CPU time here
follows the load too (the other jobs share the cores' caches). About 0.6 s of a cold run
is interpreter start and imports; the rest the simulation (~1.1 s of scheduler steps and
fast-forwards, ~0.4 s of step times, the tile engine's own evaluations ~0.1 s of it).
Results identical (JSON byte for byte, 70B and 8 other serve runs).
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

from tigris.api.serving import serve
from tigris.workload.presets import load_model


def cold_runs(runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU seconds (user + sys) of the command in `runs` fresh processes."""
    walls, cpus = [], []
    command = [sys.executable, "-m", "tigris", "serve", "llama3.1-70b",
               "--chip", "h100-sxm", "--num-chips", "8", "--trace", "azure-conv",
               "--scenario", "replay", "--json", "--quiet"]  # fmt: skip
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - wall)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def warm_runs(runs: int) -> tuple[list[float], list[float], dict]:
    """Wall and CPU seconds of `runs` serve() calls after a first one, and the metrics."""
    spec = load_model("llama3.1-70b")
    walls, cpus = [], []
    for run in range(runs + 1):
        wall, cpu = time.perf_counter(), time.process_time()
        result = serve(spec, chip="h100-sxm", num_chips=8, scenario="replay", trace="azure-conv")
        if run:  # the first call warms the shared step timer
            walls.append(time.perf_counter() - wall)
            cpus.append(time.process_time() - cpu)
    return walls, cpus, result.metrics


def main(runs: int = 5) -> None:
    median = statistics.median
    cold_wall, cold_cpu = cold_runs(runs)
    warm_wall, warm_cpu, metrics = warm_runs(runs)
    print(
        f"azure-conv replay, {metrics['num_requests']} requests, {metrics['num_steps']} "
        f"engine steps, median of {runs}: cold (fresh process, whole command) wall "
        f"{median(cold_wall):.2f} s, CPU {median(cold_cpu):.2f} s; warm (serve() again) "
        f"wall {median(warm_wall):.2f} s, CPU {median(warm_cpu):.2f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
