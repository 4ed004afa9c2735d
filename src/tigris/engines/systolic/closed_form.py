"""SCALE-Sim's closed form for stall-free compute cycles (DESIGN.md section 7).

This is the formula the simulator is tested against, and what the tile engine must equal;
the simulator itself reaches its cycle counts by scheduling every PE (see folds.py and
trace.py), not by calling this.
"""

from __future__ import annotations

from tigris.engines.systolic.config import check_gemm_shape
from tigris.engines.systolic.dataflow import Dataflow, check_weight_buffers, rule_for


def compute_cycles(
    m: int,
    n: int,
    k: int,
    rows: int,
    cols: int,
    dataflow: str | Dataflow,
    weight_buffers: int = 1,
) -> int:
    """Stall-free cycles of C[M,N] = A[M,K] x B[K,N] on a rows x cols array, as SCALE-Sim reports.

    OS: ceil(M/R) * ceil(N/C) folds of K + R + C - 2 cycles;
    WS: ceil(K/R) * ceil(N/C) folds of M + 2R + C - 2;
    IS: ceil(K/R) * ceil(M/C) folds of N + 2R + C - 2;
    reported total = folds * cycles_per_fold - 1 (SCALE-Sim reports the index of the last
    cycle, counting from 0). The folds come from the one table, dataflow.RULES. With two
    weight buffers (WS, IS) the folds overlap: length + (folds - 1) * max(time, R) - 1.
    """
    check_gemm_shape(m, n, k)
    if rows < 1 or cols < 1:
        raise ValueError("array dimensions must be positive")
    check_weight_buffers(weight_buffers)
    return rule_for(dataflow).total_cycles(m, n, k, rows, cols, weight_buffers) - 1
