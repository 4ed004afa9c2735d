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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from math import ceil

from tigris.errors import SpecError


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

    def spatial_dims(self) -> tuple[str, str]:
        return (self.rows, self.cols)

    def folds(self, m: int, n: int, k: int, array_rows: int, array_cols: int) -> tuple[int, int]:
        """(number of folds, cycles per fold) of C[M,N] = A[M,K] x B[K,N] on one array,
        stall-free: the rows dimension cut into pieces of R, the columns one into pieces of
        C, and per fold the time dimension streams through the R x C skew after the preload
        (SCALE-Sim's closed form; the simulator reaches the same from the PE schedule)."""
        sizes = {"M": m, "N": n, "K": k}
        folds = ceil(sizes[self.rows] / array_rows) * ceil(sizes[self.cols] / array_cols)
        per_fold = sizes[self.time] + array_rows + array_cols - 2 + self.preload_cycles(array_rows)
        return folds, per_fold


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
