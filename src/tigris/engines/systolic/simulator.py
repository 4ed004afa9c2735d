"""The entry point: simulate one GEMM on one systolic array.

Pipeline: fold the GEMM onto the array (folds.py), take each fold's length from the PE
schedule, count the words every fold moves (traffic.py), place the folds in time against
the DRAM interface (timeline.py), and, when asked, compute C the way the dataflow adds it
(arithmetic.py) and check it (verify.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tigris.engines.systolic.arithmetic import multiply
from tigris.engines.systolic.config import SystolicConfig, check_gemm_shape
from tigris.engines.systolic.dataflow import RULES
from tigris.engines.systolic.folds import FoldGrid, fold_cycles, make_fold_grid
from tigris.engines.systolic.numerics import NumberFormat
from tigris.engines.systolic.result import Bandwidth, SystolicResult
from tigris.engines.systolic.timeline import FoldTimeline, schedule_folds
from tigris.engines.systolic.traffic import FoldTraffic, fold_traffic
from tigris.engines.systolic.verify import verify as verify_output
from tigris.errors import SpecError


def simulate(
    m: int,
    n: int,
    k: int,
    config: SystolicConfig,
    *,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    compute: bool = False,
    verify: bool = False,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SystolicResult:
    """Simulate C[M,N] = A[M,K] x B[K,N] on `config`'s array.

    Counts and cycles need no data. With `compute` (or `verify`, or when A and B are
    given), C is computed; random A and B of the configured dtype are drawn from `seed`
    when not given. With `verify`, C is checked against an independent reference.
    `progress(done, total)` hears of folds scheduled, then of MACs computed.
    """
    check_gemm_shape(m, n, k)
    rule = RULES[config.dataflow]
    fmt = config.number_format
    grid = make_fold_grid(rule, m, n, k, config.rows, config.cols)
    cycles_per_fold = fold_cycles(rule, config.rows, config.cols, grid.time_steps)
    period = int(rule.fold_period(grid.time_steps, config.rows, config.cols, config.weight_buffers))
    traffic = fold_traffic(
        grid,
        ifmap_half_words=config.ifmap_sram_bytes / 2 / fmt.input_bytes,
        filter_half_words=config.filter_sram_bytes / 2 / fmt.input_bytes,
        ofmap_half_words=config.ofmap_sram_bytes / 2 / fmt.output_bytes,
    )
    fetch_bytes = (traffic.dram_reads_a + traffic.dram_reads_b) * fmt.input_bytes + (
        traffic.dram_reads_c * fmt.output_bytes
    )
    writeback_bytes = traffic.dram_writes_c * fmt.output_bytes
    timeline = schedule_folds(
        cycles_per_fold,
        fetch_bytes,
        writeback_bytes,
        config.dram_bandwidth_bytes_per_cycle,
        progress=progress,
        period=period,
    )
    result = _summarize(m, n, k, config, grid, (cycles_per_fold, period), traffic, timeline, fmt)
    if not (compute or verify or a is not None or b is not None):
        return result
    return compute_output(result, a=a, b=b, verify=verify, seed=seed, progress=progress)


def compute_output(
    result: SystolicResult,
    *,
    a: np.ndarray | None = None,
    b: np.ndarray | None = None,
    verify: bool = False,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> SystolicResult:
    """`result` with C computed the way its dataflow adds it (and, with `verify`, checked);
    random A and B are drawn from `seed` when not given. `progress(done, total)` hears of
    MACs computed."""
    m, n, k, config = result.m, result.n, result.k, result.config
    fmt = config.number_format
    a, b = _operands(m, n, k, fmt, a, b, seed)
    rule = RULES[config.dataflow]
    output = multiply(a, b, rule, config.rows, config.cols, fmt, progress=progress)
    extra: dict = {"output": output}
    if verify:
        check = verify_output(a, b, output, fmt)
        extra.update(verified=check.ok, max_abs_error=check.max_abs_error, error_bound=check.bound)
    return replace(result, **extra)


def random_operands(
    m: int, n: int, k: int, fmt: NumberFormat, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Random A and B in `fmt`: all int8 values, or floats ~ N(0, 1) rounded to the format."""
    rng = np.random.default_rng(seed)
    if fmt.is_integer:
        a = rng.integers(-128, 128, size=(m, k), dtype=np.int8)
        b = rng.integers(-128, 128, size=(k, n), dtype=np.int8)
        return a, b
    a = rng.standard_normal((m, k), dtype=np.float32).astype(fmt.input_dtype)
    b = rng.standard_normal((k, n), dtype=np.float32).astype(fmt.input_dtype)
    return a, b


def _operands(m, n, k, fmt, a, b, seed) -> tuple[np.ndarray, np.ndarray]:
    if (a is None) != (b is None):
        raise SpecError("give both A and B, or neither (random operands are drawn)")
    if a is None:
        return random_operands(m, n, k, fmt, seed)
    a = np.asarray(a)
    b = np.asarray(b)
    if a.shape != (m, k) or b.shape != (k, n):
        raise SpecError(f"A must be {m}x{k} and B {k}x{n}, got {a.shape} and {b.shape}")
    return a.astype(fmt.input_dtype), b.astype(fmt.input_dtype)


def _summarize(
    m: int,
    n: int,
    k: int,
    config: SystolicConfig,
    grid: FoldGrid,
    fold_length_and_period: tuple[int, int],
    traffic: FoldTraffic,
    timeline: FoldTimeline,
    fmt: NumberFormat,
) -> SystolicResult:
    cycles_per_fold, period = fold_length_and_period
    num_pes = config.num_pes
    used_pes = grid.rows_used * grid.cols_used
    num_macs = int((used_pes * grid.time_steps).sum())
    # Stall-free: the folds back to back, overlapping with two weight buffers (dataflow.py).
    compute_cycles = cycles_per_fold + (grid.num_folds - 1) * period - 1
    busy = timeline.busy_cycles
    total_cycles = busy - 1
    bandwidth = _bandwidths(config, grid, traffic, timeline, fmt, busy)
    return SystolicResult(
        m=m,
        n=n,
        k=k,
        config=config,
        num_folds=grid.num_folds,
        fold_cycles=cycles_per_fold,
        compute_cycles=compute_cycles,
        stall_cycles=total_cycles - compute_cycles,
        total_cycles=total_cycles,
        final_writeback_cycles=timeline.final_writeback_cycles,
        num_macs=num_macs,
        # Over cycles 0..total_cycles inclusive; SCALE-Sim divides by total_cycles instead.
        utilization=num_macs / (busy * num_pes),
        mapping_efficiency=float(used_pes.mean() / num_pes),
        # PE-cycles doing MACs over the stall-free run (one fold period per fold and the
        # last fold's whole length: with one buffer, every fold's length)
        compute_utilization=float(
            (used_pes * grid.time_steps).mean() / (num_pes * (compute_cycles + 1) / grid.num_folds)
        ),
        sram_reads_ifmap=int(traffic.sram_reads_a.sum()),
        sram_reads_filter=int(traffic.sram_reads_b.sum()),
        sram_writes_ofmap=int(traffic.sram_writes_c.sum()),
        dram_reads_ifmap=int(traffic.dram_reads_a.sum()),
        dram_reads_filter=int(traffic.dram_reads_b.sum()),
        dram_writes_ofmap=int(traffic.dram_writes_c.sum()),
        dram_reads_ofmap=int(traffic.dram_reads_c.sum()),
        bandwidth=bandwidth,
        timeline=timeline,
    )


def _bandwidths(config, grid, traffic, timeline, fmt, busy_cycles) -> dict[str, Bandwidth]:
    """Average over the run and peak over folds, in bytes per cycle.

    SRAM peaks are per cycle of the array's edge: a stream entering along the rows reads
    one word per row per cycle (R), along the columns one per column (C); outputs leave
    one row of C words per cycle. DRAM peaks are the largest fold's transfer spread over
    one fold time, the bandwidth needed to hide that fold's traffic behind its compute.
    """
    rule = RULES[config.dataflow]
    fold_len = np.maximum(timeline.fold_end - timeline.fold_start, 1)

    def edge_words(operand_dims: tuple[str, str]) -> int:
        spatial = [d for d in operand_dims if d in (rule.rows, rule.cols)]
        if len(spatial) == 2:  # stationary: moved one array row (C words) per cycle
            return config.cols
        return config.rows if spatial[0] == rule.rows else config.cols

    out = {}
    for name, words, dims, width in (
        ("sram_ifmap", traffic.sram_reads_a, ("M", "K"), fmt.input_bytes),
        ("sram_filter", traffic.sram_reads_b, ("K", "N"), fmt.input_bytes),
        ("sram_ofmap", traffic.sram_writes_c, ("M", "N"), fmt.output_bytes),
    ):
        out[name] = Bandwidth(words.sum() * width / busy_cycles, float(edge_words(dims) * width))
    for name, words, width in (
        ("dram_ifmap", traffic.dram_reads_a, fmt.input_bytes),
        ("dram_filter", traffic.dram_reads_b, fmt.input_bytes),
        ("dram_ofmap", traffic.dram_writes_c + traffic.dram_reads_c, fmt.output_bytes),
    ):
        out[name] = Bandwidth(
            float(words.sum() * width / busy_cycles), float((words * width / fold_len).max())
        )
    return out
