"""What one `simulate` will cost, in memory and time, known from the sizes before anything
is allocated, so that a command can refuse a run that would exhaust the machine.

The figures are upper estimates measured on this implementation (tracemalloc peaks and
wall times on one laptop-class core), not a model of any hardware:

* counts and cycles: a few int64 arrays per fold (fold grid, traffic, timeline), about
  250 bytes a fold at the peak; with a limited DRAM bandwidth the schedule is a Python
  loop, about 30 us a fold, else vectorised, about 1 us a fold. The PE schedule grid of
  one fold (folds.mac_cycle_grid) holds two int64 per PE.
* computing C (--verify): the operands, their widened copies and a few M x N arrays
  (arithmetic.py and verify.py): integers about 9 bytes per operand word and 40 per
  output, floats 16 + the input width per operand word and 48 per output. Time: floats
  about 2 ns a MAC (fp32 chains, one numpy pass per product); integers about 1 ns a MAC
  plus 60 ns per output per K-chunk (one float64 GEMM and an int32 wrap per fold along K).
* the fold timeline as Chrome JSON: a dict per event, about 1 KB a fold (3.5 KB with
  DRAM transfers drawn), 25 us a fold (120 us with transfers).
* the line trace: about 200 bytes and 20 us per MAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from tigris.engines.systolic.arithmetic import chain_length
from tigris.engines.systolic.config import SystolicConfig, check_gemm_shape
from tigris.engines.systolic.dataflow import RULES

# Cycle numbers are int64 in the timeline arrays.
MAX_CYCLES = 2**62

_FOLD_BYTES = 250
_PE_GRID_BYTES = 16
_FOLD_S_UNLIMITED = 1e-6
_FOLD_S_LIMITED = 30e-6
_TRACE_FOLD_BYTES = (1_000, 3_500)  # unlimited, limited DRAM bandwidth
_TRACE_FOLD_S = (25e-6, 120e-6)
_LINE_TRACE_MAC_BYTES = 200
_LINE_TRACE_MAC_S = 20e-6


@dataclass(frozen=True)
class RunEstimate:
    """Peak memory (bytes) and wall time (seconds) of one run, and its size."""

    memory_bytes: float
    time_s: float
    num_folds: int
    total_cycles: int
    """Stall-free cycles of the run (a lower bound on what the simulation reports)."""


def estimate_run(
    m: int,
    n: int,
    k: int,
    config: SystolicConfig,
    *,
    compute: bool = False,
    fold_trace: bool = False,
    line_trace: bool = False,
) -> RunEstimate:
    """Memory and time of simulate(m, n, k, config, compute=compute), plus the traces asked
    for; Python integers throughout, so any size gives an answer without allocating."""
    check_gemm_shape(m, n, k)
    rule = RULES[config.dataflow]
    sizes = {"M": m, "N": n, "K": k}
    rows, cols = config.rows, config.cols
    num_folds = -(-sizes[rule.rows] // rows) * -(-sizes[rule.cols] // cols)
    fold_cycles = rule.preload_cycles(rows) + rows + cols - 2 + sizes[rule.time]
    limited = config.dram_bandwidth_bytes_per_cycle is not None
    memory = num_folds * _FOLD_BYTES + rows * cols * _PE_GRID_BYTES
    time_s = num_folds * (_FOLD_S_LIMITED if limited else _FOLD_S_UNLIMITED)
    if compute:
        extra_bytes, extra_s = _compute_cost(m, n, k, config)
        memory += extra_bytes
        time_s += extra_s
    if fold_trace:
        memory += num_folds * _TRACE_FOLD_BYTES[limited]
        time_s += num_folds * _TRACE_FOLD_S[limited]
    if line_trace:
        memory += m * n * k * _LINE_TRACE_MAC_BYTES
        time_s += m * n * k * _LINE_TRACE_MAC_S
    return RunEstimate(float(memory), float(time_s), num_folds, num_folds * fold_cycles)


def _compute_cost(m: int, n: int, k: int, config: SystolicConfig) -> tuple[int, float]:
    """(bytes, seconds) of computing C the dataflow's way and checking it."""
    fmt = config.number_format
    operand_words = m * k + k * n
    outputs = m * n
    macs = outputs * k
    if fmt.is_integer:
        chunks = -(-k // chain_length(RULES[config.dataflow], k, config.rows, config.cols))
        return operand_words * 9 + outputs * 40, macs * 1e-9 + outputs * chunks * 60e-9
    return operand_words * (16 + fmt.input_bytes) + outputs * 48, macs * 2e-9
