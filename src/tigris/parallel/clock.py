"""The clock a chip holds through a training step under its board power limit.

Short benchmarks (a GEMM timed for tens of milliseconds, the rows every chip's calibration
is fitted on) run at the chip's unthrottled boost clock: the power controller averages
over a longer window than they last. A training step runs dense tensor-core work back to
back for seconds, and a chip whose power at that clock exceeds its board limit settles at
a lower clock. Observed on NVIDIA SXM boards:

- Hopper at 700 W: 1980 MHz -> 1575 MHz while GEMMs overlap communication, "the power
  consumption exceeded the limit" (github.com/deepseek-ai/DeepGEMM/issues/120); an H200
  at 700 W cannot hold 1830 MHz under full load, 1500 MHz is what it sustains
  (github.com/tile-ai/TileOPs/issues/1587).
- Blackwell B200 at 1000 W: 1965 MHz -> ~1580 MHz after tens of back-to-back
  FlashAttention iterations, throughput down 15% (github.com/flashinfer-ai/flashinfer/pull/2899).

Each chip preset carries its figure as `sustained_clock_fraction`, with its source.

Model. Dynamic power is C V^2 f with the voltage following the clock along the DVFS
curve (V ~ f near the top of it), so at a fixed activity it goes as f^3; static power
does not change with the clock and cancels out of the budget. A stream of large GEMMs
(the tensor units busy at the chip's calibrated matrix_fraction, activity u = 1) settles
at the sourced ratio s = f_sustained / f_boost, i.e. at boost it asks for s^-3 times the
dynamic budget. A step whose tensor units are busy a fraction u of its compute time (u
from the matrix flop it executes: FlashAttention's causal kernels skip the masked half,
attention at its low utilisation and the memory-bound ops count little) asks for
u s^-3, and settles at f / f_boost = min(1, s u^(-1/3)). Its compute time stretches by
the inverse; the memory-bound kernels are stretched too (their issue and L2 run on the
same clock), an approximation on the slow side for them.

Assumed: activity proportional to the tensor units' busy time (the power of memory-bound
kernels and of overlapped communication is left out, so the clock errs on the high side
for a step rich in them); chips without a sourced sustained clock (A100 at 400 W among
them: its training rows show no throttling) hold their clock.
"""

from __future__ import annotations

from tigris.hardware.chip import Chip


def sustained_clock_ratio(chip: Chip) -> float:
    """s = f_sustained / f_boost of a dense GEMM stream on `chip`: its preset's sourced
    `sustained_clock_fraction`, 1.0 where none is published."""
    return chip.sustained_clock_fraction or 1.0


def clock_stretch(ratio: float, activity: float) -> float:
    """Factor (>= 1) by which a step's compute time grows when its tensor units are busy
    a fraction `activity` of it (1: a dense GEMM stream) on a chip whose GEMM stream
    settles at `ratio` of its boost clock."""
    if ratio >= 1.0 or activity <= 0.0:
        return 1.0
    return max(1.0, activity ** (1.0 / 3.0) / ratio)
