"""`gemm`: the time of one GEMM C[M,N] = A[M,K] x B[K,N] on a chip (`tigris gemm`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.api.inputs import check_choice, check_int, resolve_chip

if TYPE_CHECKING:
    from tigris.engines.base import OpTime
    from tigris.hardware.chip import Chip

MAX_GEMM_SIZE = 2**31
"""The largest GEMM dimension or batch taken (int32 indexing, as GEMM libraries use): a
typo of many digits is a usage error, not a figure of 1e90 flop."""
GEMM_DTYPES = ("bf16", "fp16", "fp8", "int8", "fp32", "tf32")
GEMM_DTYPES_HINT = "bf16, fp16, fp8 or int8"  # the wide ones are accepted, not advertised


@dataclass(frozen=True)
class GemmResult:
    """One GEMM timed by an engine: the chip, the shape and the engine's OpTime."""

    chip: Chip
    m: int
    n: int
    k: int
    batch: int
    dtype: str
    engine: str
    timing: OpTime
    peak_flop_per_s: float  # the chip's, for the GEMM's dtype

    @property
    def utilization(self) -> float:
        """Achieved over peak flop/s for the GEMM's dtype."""
        return self.timing.achieved_flop_per_s / self.peak_flop_per_s

    def to_dict(self) -> dict[str, object]:
        """What `tigris gemm --json` prints."""
        return {
            "chip": self.chip.id,
            "m": self.m,
            "n": self.n,
            "k": self.k,
            "batch": self.batch,
            "dtype": self.dtype,
            "peak_flop_per_s": self.peak_flop_per_s,
            **self.timing.to_dict(),
            "utilization": self.utilization,
            "interval": self._interval(),
        }

    def _interval(self) -> dict[str, object] | None:
        """The 80 % band of the time from held-out GEMM rows; the tile engine's only (the
        validated one: the roofline is a bound, not a prediction)."""
        if self.engine != "tile":
            return None
        from tigris.report.prediction_bands import chip_band

        return chip_band(
            "gemm", self.timing.time_s, self.chip, metric="time_s", precision=self.dtype
        )


def gemm(
    m: int,
    n: int,
    k: int,
    *,
    chip: str | Path | Chip,
    dtype: str = "bf16",
    batch: int = 1,
    engine: str = "tile",
    overrides: Sequence[str] | Mapping[str, object] | None = None,
) -> GemmResult:
    """Time `batch` independent GEMMs of M x N x K in `dtype` on `chip` with `engine`
    ('tile' or 'roofline'); `overrides` change chip fields first ('matrix.clock=2 GHz')."""
    from tigris.engines.base import get_engine
    from tigris.workload.ops import Gemm

    for option, value in (("m", m), ("n", n), ("k", k), ("--batch", batch)):
        check_int(option, value, 1, MAX_GEMM_SIZE)
    check_choice(dtype, GEMM_DTYPES, "--dtype", hint=GEMM_DTYPES_HINT)
    spec = resolve_chip(chip, overrides)
    op = Gemm("gemm", m=m, n=n, k=k, batch=batch, dtype=dtype)
    timing = get_engine(engine).time(op, spec)
    peak = spec.peak_flop_per_s(dtype)
    return GemmResult(spec, m, n, k, batch, dtype, engine, timing, peak)
