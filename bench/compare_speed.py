"""Wall time of `tigris compare` with no arguments (the README's first command), end to end
in a fresh process (imports, plan searches, serving searches, HTML report), over a few
runs; prints the median against the 10 s budget, and the CPU seconds per run (all
processes) with the load average, since a busy machine stretches the wall time.
Run: .venv/bin/python bench/compare_speed.py
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = 3
BUDGET_S = 10.0


def main() -> None:
    times = []
    cpu = []
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.html"
        for _ in range(RUNS):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "tigris", "compare", "--out", str(report)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            times.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        size = report.stat().st_size
    median = statistics.median(times)
    load = os.getloadavg()[0]
    print(f"CPU per run {statistics.median(cpu):.2f} s on {os.cpu_count()} CPUs, load {load:.1f}")
    print(f"tigris compare (no arguments): runs {', '.join(f'{t:.2f}' for t in times)} s")
    print(
        f"median {median:.2f} s, {median / BUDGET_S:.2f}x the {BUDGET_S:.0f} s budget; report {size / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
