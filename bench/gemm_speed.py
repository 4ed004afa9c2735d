"""Speed of one in-process `tigris gemm` evaluation (tile engine), median over many runs.

Target (issue 2): under 1 ms per evaluation. Peer figure measured on this machine and
recorded in DESIGN.md section 8: LLMCompass takes 21-80 s per GEMM (it cannot run
offline here in the same process, so its recorded figure is the reference).
Then the whole one-chip command, `tigris gemm 8192 8192 8192 --chip h100-sxm --dtype bf16`
(issue 12: under 0.3 s of wall time), median of 5 runs, wall and CPU, run as
bench/startup_speed.py runs Tigris (its bytecode and spec cache, after an untimed run).
Run: .venv/bin/python bench/gemm_speed.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from tigris.engines.tile import TileEngine
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Gemm

SHAPES = [(4096, 4096, 4096), (1, 28672, 8192), (8192, 128, 128), (2048, 12288, 12288)]
CHIPS = ["h100-sxm", "a100-sxm-80gb", "tpu-v5p", "cobalt-100"]
LLMCOMPASS_FASTEST_S = 21.0
COMMAND_TARGET_S = 0.3  # issue 12: a one-chip `tigris gemm`, wall time


def median_seconds(chip_id: str, shape: tuple[int, int, int], repeats: int = 2000) -> float:
    chip = load_chip(chip_id)  # loading is cached; the bench times the evaluation
    engine = TileEngine()
    op = Gemm("bench", *shape)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.time(op, chip)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    medians = []
    for chip_id in CHIPS:
        for shape in SHAPES:
            seconds = median_seconds(chip_id, shape)
            medians.append(seconds)
            print(f"{chip_id:>14} {'x'.join(map(str, shape)):>18}: median {seconds * 1e6:8.1f} us")
    overall = statistics.median(medians)
    print(f"median of medians: {overall * 1e6:.1f} us per GEMM (target < 1000 us)")
    print(f"ratio vs LLMCompass (21 s, recorded): {LLMCOMPASS_FASTEST_S / overall:,.0f}x faster")
    print_command_time()


def print_command_time(repeats: int = 5) -> None:
    """The one-chip command's median wall and CPU seconds against COMMAND_TARGET_S."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from startup_speed import GEMM_CLI, command_times, tigris_env

    wall, cpu = command_times(GEMM_CLI, repeats, tigris_env())
    verdicts = ["ok" if s < COMMAND_TARGET_S else "MISSED" for s in (wall, cpu)]
    print(
        f"`tigris gemm 8192 8192 8192 --chip h100-sxm --dtype bf16`: median of {repeats} "
        f"{wall:.3f} s wall, {cpu:.3f} s CPU (target < {COMMAND_TARGET_S} s: wall "
        f"{verdicts[0]}, CPU {verdicts[1]}; target / wall {COMMAND_TARGET_S / wall:.2f})"
    )


if __name__ == "__main__":
    main()
