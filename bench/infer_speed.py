"""Speed of one `infer` evaluation (Llama-3-70B, 8 H100, prefill and every decode step):
cold (a fresh StepTimer, every tile-engine evaluation included) and warm (a sweep reusing
one StepTimer, as a design sweep over batch and lengths does), against GenZ timed in the
same run for the same work (a prefill and a decode estimate; bench/peers.py). Without the
peer venv the ratio uses DESIGN.md's 80 ms, the fast end of GenZ's 80-135 ms here.

    .venv/bin/python bench/infer_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from tigris.serving import StepTimer, build_deployment, infer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import GENZ_INFER, time_peer  # noqa: E402

COLD_RUNS = 45
GENZ_RECORDED_S = 80e-3  # DESIGN.md section 8


def main() -> None:
    deployment = build_deployment("llama3-70b", "h100-sxm", num_chips=8)
    infer(deployment, 1, 128, 16)  # imports and the deployment's own set-up, once
    cold = []
    for run in range(COLD_RUNS):  # a fresh StepTimer each: every op timed by the engine
        batch, input_len = (1, 8, 64)[run % 3], (512, 1024, 2048)[run % 5 % 3]
        start = time.perf_counter()
        infer(deployment, batch, input_len, 256)
        cold.append(time.perf_counter() - start)
    timer = StepTimer(deployment)
    infer(deployment, 16, 1024, 256, timer)
    warm = []
    for output_len in range(100, 600, 5):
        start = time.perf_counter()
        infer(deployment, 16, 1024, output_len, timer)
        warm.append(time.perf_counter() - start)
    genz_s = time_peer(GENZ_INFER, repeats=3)
    peer = "GenZ, this run" if genz_s is not None else "GenZ, DESIGN.md's 80 ms"
    genz_s = genz_s if genz_s is not None else GENZ_RECORDED_S
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    print(
        f"infer cold: median {cold_s * 1e3:.2f} ms of {COLD_RUNS} runs   (target < 1 ms); "
        f"{peer}: {genz_s * 1e3:.0f} ms, {genz_s / cold_s:.0f}x"
    )
    print(f"infer warm: median {warm_s * 1e3:.3f} ms; {genz_s / warm_s:.0f}x {peer}")


if __name__ == "__main__":
    main()
