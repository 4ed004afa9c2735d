"""The one rule table that tells each dataflow what goes to array rows, columns and time.

GEMM: C[M, N] = A[M, K] x B[K, N] on an R x C array of multiply-accumulate PEs. A dataflow
is three choices: which GEMM dimension is spread over the array's rows, which over its
columns, and which is walked through in time. Everything else (folds, operand reuse, fold
length, accumulation order) follows from that choice, so no dataflow has code of its own.

Mapping as in SCALE-Sim (Samajdar et al., "A Systematic Methodology for Characterizing
Scalability of DNN Accelerators using SCALE-Sim", ISPASS 2020):

    dataflow  rows  cols  time  stationary  preload cycles
    OS        M     N     K     C (outputs) 0   (accumulators start at zero in place)
    WS        K     N     M     B (weights) R   (weights shift down R rows before streaming)
    IS        K     M     N     A (inputs)  R   (inputs shift down R rows before streaming)

Weight double buffering (`weight_buffers=2`, a property of the array): each PE holds a
second register for the stationary operand, so the next fold's operand shifts in while the
current fold streams, and it takes effect with the advancing wavefront: PE (i, j) switches
to fold f+1's operand when fold f+1's first data reach it, one cycle after its last MAC of
fold f at the earliest. Source: Jouppi et al. 2017, "In-Datacenter Performance Analysis of
a Tensor Processing Unit" (ISCA, arXiv:1704.04760), section 2: the matrix unit holds one
tile of weights plus one for double buffering, to hide the cycles it takes to shift a tile
in, and preloaded weights take effect with the advancing wave alongside the first data of a
new block; Norrie et al. 2021, "The Design Process for Google's Training Chips: TPUv2 and
TPUv3" (IEEE Micro 41(2)), keep that weight-stationary MXU in the later TPUs.
Fold f's stream then starts at preload + f * period with

    period = max(time steps, preload)   the wave ahead must have passed (time steps) and the
                                        next operand must have shifted in (preload, R)

and back-to-back folds overlap their fill and drain: F folds take
length + (F - 1) * period cycles, one first preload and one fill/drain (R + C - 2) for the
run. With one buffer (SCALE-Sim; the default) the array is reloaded only once the fold
before it has drained: period = length and F folds take F * length. A dataflow with
nothing to preload (OS: the outputs stay) is the same with either setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from math import ceil
from typing import TYPE_CHECKING, Any

from tigris.errors import SpecError

if TYPE_CHECKING:  # numpy loads on first use: `tigris gemm` on one chip must not load it
    import numpy as np


class Dataflow(StrEnum):
    """Which operand stays in the PEs while the others stream past."""

    OS = "os"
    WS = "ws"
    IS = "is"


@dataclass(frozen=True)
class DataflowRule:
    """Where the GEMM dimensions 'M', 'N', 'K' go on the array for one dataflow."""

    rows: str
    cols: str
    time: str
    preload_rows: bool
    """True when the stationary operand is shifted in row by row before a fold (R cycles)."""

    def preload_cycles(self, array_rows: int) -> int:
        return array_rows if self.preload_rows else 0

    def fold_length(self, time_steps: Any, array_rows: int, array_cols: int) -> Any:
        """Cycles from one fold's first preload cycle to its last PE's last MAC (inclusive):
        preload + time steps + the skew R + C - 2 of the wavefront."""
        return self.preload_cycles(array_rows) + time_steps + array_rows + array_cols - 2

    def fold_period(
        self, time_steps: Any, array_rows: int, array_cols: int, weight_buffers: int = 1
    ) -> Any:
        """Cycles between the starts of two back-to-back folds (time steps a scalar or a
        numpy array): the fold length with one buffer, max(time steps, preload) with two."""
        if weight_buffers < 2 or not self.preload_rows:
            return self.fold_length(time_steps, array_rows, array_cols)
        preload = self.preload_cycles(array_rows)
        if isinstance(time_steps, int | float):
            return max(time_steps, preload)
        import numpy as np

        return np.maximum(time_steps, preload)

    def run_cycles(
        self,
        num_folds: int,
        time_steps: int,
        array_rows: int,
        array_cols: int,
        weight_buffers: int = 1,
    ) -> int:
        """Stall-free cycles of `num_folds` back-to-back folds of `time_steps` each on one
        array: length + (F - 1) * period (F * length with one buffer); 0 for no folds."""
        if num_folds < 1:
            return 0
        length = self.fold_length(time_steps, array_rows, array_cols)
        period = int(self.fold_period(time_steps, array_rows, array_cols, weight_buffers))
        return length + (num_folds - 1) * period

    def fold_starts(
        self,
        num_folds: int,
        time_steps: int,
        array_rows: int,
        array_cols: int,
        weight_buffers: int = 1,
    ) -> np.ndarray:
        """Cycle at which each of `num_folds` back-to-back folds starts (its first preload
        cycle); its stream starts preload_cycles later."""
        import numpy as np

        period = int(self.fold_period(time_steps, array_rows, array_cols, weight_buffers))
        return np.arange(num_folds, dtype=np.int64) * period

    def spatial_dims(self) -> tuple[str, str]:
        return (self.rows, self.cols)

    def folds(self, m: int, n: int, k: int, array_rows: int, array_cols: int) -> tuple[int, int]:
        """(number of folds, cycles per fold) of C[M,N] = A[M,K] x B[K,N] on one array,
        stall-free: the rows dimension cut into pieces of R, the columns one into pieces of
        C, and per fold the time dimension streams through the R x C skew after the preload
        (SCALE-Sim's closed form; the simulator reaches the same from the PE schedule)."""
        sizes = {"M": m, "N": n, "K": k}
        folds = ceil(sizes[self.rows] / array_rows) * ceil(sizes[self.cols] / array_cols)
        return folds, self.fold_length(sizes[self.time], array_rows, array_cols)

    def total_cycles(
        self, m: int, n: int, k: int, array_rows: int, array_cols: int, weight_buffers: int = 1
    ) -> int:
        """Stall-free cycles of the whole GEMM on one array, its folds back to back."""
        folds, _ = self.folds(m, n, k, array_rows, array_cols)
        time_steps = {"M": m, "N": n, "K": k}[self.time]
        return self.run_cycles(folds, time_steps, array_rows, array_cols, weight_buffers)


# The one fold table: the closed form (closed_form.py), the simulator's fold grid and PE
# schedule (folds.py) and the tile engine (tigris.engines.tile.systolic) all read it.
RULES: dict[Dataflow, DataflowRule] = {
    Dataflow.OS: DataflowRule(rows="M", cols="N", time="K", preload_rows=False),
    Dataflow.WS: DataflowRule(rows="K", cols="N", time="M", preload_rows=True),
    Dataflow.IS: DataflowRule(rows="K", cols="M", time="N", preload_rows=True),
}

# The GEMM dimensions each matrix spans; A is SCALE-Sim's ifmap, B its filter, C its ofmap.
OPERAND_DIMS: dict[str, tuple[str, str]] = {"A": ("M", "K"), "B": ("K", "N"), "C": ("M", "N")}


def parse_dataflow(text: str | Dataflow) -> Dataflow:
    """'os' / 'WS' / Dataflow.IS -> Dataflow; anything else is a SpecError."""
    if isinstance(text, Dataflow):
        return text
    try:
        return Dataflow(str(text).strip().lower())
    except ValueError:
        raise SpecError(
            f"unknown dataflow {text!r}",
            key_path="dataflow",
            hint="use os (output-stationary), ws (weight-stationary) or is (input-stationary)",
        ) from None


def rule_for(dataflow: str | Dataflow) -> DataflowRule:
    return RULES[parse_dataflow(dataflow)]


WEIGHT_BUFFERS = (1, 2)


def check_weight_buffers(value: object) -> int:
    """1 or 2 (registers per PE for the stationary operand); anything else is a SpecError."""
    if isinstance(value, bool) or value not in WEIGHT_BUFFERS:
        raise SpecError(
            f"weight_buffers must be 1 or 2, got {value!r}",
            key_path="weight_buffers",
            hint="1: reload after each fold drains (SCALE-Sim); 2: preload the next fold's weights",
        )
    return int(value)  # type: ignore[call-overload]
