"""Speed of one `infer` evaluation (Llama-3-70B, 8 H100): cold (a fresh StepTimer, every
tile-engine evaluation included) and warm (a sweep reusing one StepTimer, as a design
sweep over batch and lengths does). GenZ takes 80-135 ms per estimate here (DESIGN.md)."""

from __future__ import annotations

import statistics
import time

from tigris.serving import StepTimer, build_deployment, infer

COLD_RUNS = 45
GENZ_MS = 80.0  # the fast end of GenZ's 80-135 ms per prefill/decode estimate (DESIGN.md)


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
    cold_ms, warm_ms = statistics.median(cold) * 1e3, statistics.median(warm) * 1e3
    print(
        f"infer cold: median {cold_ms:.2f} ms of {COLD_RUNS} runs "
        f"({GENZ_MS / cold_ms:.0f}x faster than GenZ)   (target < 1 ms)"
    )
    print(f"infer warm: median {warm_ms:.3f} ms ({GENZ_MS / warm_ms:.0f}x faster than GenZ)")


if __name__ == "__main__":
    main()
