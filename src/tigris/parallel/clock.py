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

The one cap rule (`throttle`). Every power limit (TDP, a MaxQ-style cap from
`--power-cap` or a chip YAML's `power_cap_w`) is applied by this one rule: a board whose
power at the boost clock exceeds its limit runs at the clock ratio r at which it fits,
compute energy per operation going as r^2 (V ~ f), the compute-bound share u of the time
stretching by 1/r (time x (1 + u (1/r - 1))), memory and link energy unchanged. Callers:
- the training step model, through `sustained_clock_ratio` and `clock_stretch` (a dense
  GEMM stream at its chip's sourced ratio s draws the TDP; under a cap, the ratio the cap
  allows the same stream: `PowerCapTerms.dense_clock_ratio`);
- the serving step timer, per op (`cap_adjust`, StepTimer's adjust hook), for infer,
  serve and validate infer/power;
- tigris.cost.power_scope, which sets the terms (`PowerCapTerms`) from its fitted power
  model and evaluates the same rule on whole activities (compare, power reports).
The sustained clock above is the rule's fixed point: a dense stream at boost asks for
s^-3 times the dynamic budget, and the rule settles it at r = s.
"""

from __future__ import annotations

from collections.abc import Callable

from tigris.errors import UnsupportedError
from tigris.hardware.chip import Chip

MIN_CLOCK_RATIO = 0.3  # below this a board would be far outside its DVFS table


def throttle(
    idle_w: float, core_w: float, other_w: float, bound: float, limit_w: float | None
) -> tuple[float, float]:
    """The cap rule: (clock ratio r, time stretch) at which idle + core r^2 / stretch +
    other / stretch fits under `limit_w`, where core and other are the compute and the
    memory + link power at the boost clock and stretch = 1 + bound (1/r - 1). A pure
    compute stream (bound 1, no other power) has the closed form r = (headroom/core)^(1/3);
    otherwise bisection (power falls as r does)."""

    def power(r: float) -> tuple[float, float]:
        stretch = 1.0 + bound * (1.0 / r - 1.0)
        return idle_w + (core_w * r * r + other_w) / stretch, stretch

    if limit_w is None or power(1.0)[0] <= limit_w:
        return 1.0, 1.0
    if bound == 1.0 and other_w == 0.0 and limit_w > idle_w:
        r = max(MIN_CLOCK_RATIO, ((limit_w - idle_w) / core_w) ** (1.0 / 3.0))
        return r, 1.0 / r
    lo, hi = MIN_CLOCK_RATIO, 1.0
    if power(lo)[0] > limit_w:
        return lo, power(lo)[1]
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if power(mid)[0] <= limit_w else (lo, mid)
    return lo, power(lo)[1]


def sustained_clock_ratio(chip: Chip) -> float:
    """s = f_sustained / f_boost of a dense GEMM stream on `chip` under its board limit:
    its preset's sourced `sustained_clock_fraction` (1.0 where none is published), times
    the further ratio a power cap below TDP allows the same stream (PowerCapTerms)."""
    terms = chip.power_cap_terms
    cap = terms.dense_clock_ratio if terms is not None else 1.0
    return (chip.sustained_clock_fraction or 1.0) * cap


def clock_stretch(ratio: float, activity: float) -> float:
    """Factor (>= 1) by which a step's compute time grows when its tensor units are busy
    a fraction `activity` of it (1: a dense GEMM stream) on a chip whose GEMM stream
    settles at `ratio` of its boost clock: the cap rule on a pure compute stream whose
    boost power is activity / ratio^3 of the dynamic budget, under that budget."""
    if ratio >= 1.0 or activity <= 0.0:
        return 1.0
    return throttle(0.0, activity / ratio**3, 0.0, 1.0, 1.0)[1]


def op_clock(
    chip: Chip, dtype: str | None, flop: float, dram_bytes: float, time_s: float, compute_s: float
) -> tuple[float, float]:
    """(clock ratio, time stretch) of one op at its boost-clock time under the chip's
    power cap (`power_cap_terms`; (1, 1) without one): its compute power is the dense
    stream's at boost times its matrix load in its dtype (fp8 at twice the flop/s costs
    half the energy per flop), its memory power its DRAM bytes at the fitted J/byte."""
    terms = chip.power_cap_terms
    if terms is None or time_s <= 0.0:
        return 1.0, 1.0
    try:
        peak = chip.peak_flop_per_s(dtype or terms.dtype)
    except UnsupportedError:
        peak = chip.peak_flop_per_s(terms.dtype)
    load = flop / time_s / (peak * chip.calibration.matrix_fraction)
    memory_w = dram_bytes * terms.dram_j_per_byte / time_s
    bound = min(1.0, max(0.0, compute_s / time_s))
    return throttle(terms.idle_w, load * terms.dense_compute_w, memory_w, bound, terms.limit_w)


def cap_adjust(chip: Chip) -> Callable[[object, object], float] | None:
    """StepTimer's adjust hook for `chip`'s power cap: each op's time stretched by the
    cap rule at its own activity (None: no cap, times as the engine gives them)."""
    if chip.power_cap_terms is None:
        return None

    def adjust(op, result) -> float:  # noqa: ANN001 (an Op and its OpTime)
        dtype = getattr(op, "dtype", None)
        _, stretch = op_clock(chip, dtype, result.flop, result.dram_bytes, result.time_s,
                              result.compute_s)  # fmt: skip
        return result.time_s * stretch

    return adjust
