"""The `tigris systolic` command. The lead's cli.py calls register(app) to add it."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tigris.errors import SpecError
from tigris.io.limits import DEFAULT_MAX_MEMORY, DEFAULT_MAX_TIME

if TYPE_CHECKING:
    from tigris.engines.systolic.config import SystolicConfig


def parse_sram(text: str) -> int:
    """'512 KiB' -> 524288 bytes; SpecError for anything that is not a capacity."""
    from tigris.units import UnitError, parse_quantity

    try:
        size = parse_quantity(text, "capacity")
    except UnitError as error:
        raise SpecError(str(error), key_path="--sram") from None
    if size < 2:
        raise SpecError(f"--sram must be at least 2 bytes, got {text!r}", key_path="--sram")
    return int(size)


def systolic(
    m: int = typer.Argument(..., help="rows of A and C"),
    n: int = typer.Argument(..., help="columns of B and C"),
    k: int = typer.Argument(..., help="columns of A, rows of B (the reduction)"),
    rows: int = typer.Option(..., "--rows", help="PE rows of the array"),
    cols: int = typer.Option(..., "--cols", help="PE columns of the array"),
    dataflow: str = typer.Option("os", "--dataflow", help="os, ws or is"),
    dtype: str = typer.Option("int8", "--dtype", help="int8, bf16, fp16, fp8_e4m3, fp8_e5m2"),
    sram: str = typer.Option("512 KiB", "--sram", help="capacity of EACH of the 3 SRAMs"),
    dram_bandwidth: float | None = typer.Option(
        None, "--dram-bandwidth", help="bytes per cycle; omit for unlimited (SCALE-Sim CALC)"
    ),
    verify: bool = typer.Option(False, "--verify", help="compute C and check it"),
    show_line_trace: bool = typer.Option(False, "--line-trace", help="per-cycle PE contents"),
    trace: Path | None = typer.Option(
        None, "--trace", help="write the fold timeline (Chrome JSON)"
    ),
    mkdir: bool = typer.Option(False, "--mkdir", help="create missing parent folders"),
    max_memory: str = typer.Option(
        DEFAULT_MAX_MEMORY,
        "--max-memory",
        help="refuse a run estimated to need more memory than this (e.g. 8GiB)",
    ),
    max_time: str = typer.Option(
        DEFAULT_MAX_TIME,
        "--max-time",
        help="refuse a run estimated to take longer than this (e.g. 1h)",
    ),
    quiet: bool = typer.Option(False, "--quiet", help="no progress on stderr"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Simulate C[M,N] = A[M,K] x B[K,N] on a ROWS x COLS systolic array, cycle by cycle.

    Before it starts, the run's memory and time are estimated from the sizes; a run over
    --max-memory (default 2 GiB) or --max-time (default 10 min) is refused, naming its
    estimate."""
    from tigris.cli.progress import Progress
    from tigris.engines.systolic.config import check_gemm_shape
    from tigris.engines.systolic.trace import chrome_trace, line_trace
    from tigris.io.output import check_output_path, write_output

    config = _config(rows, cols, dataflow, dtype, sram, dram_bandwidth)
    check_gemm_shape(m, n, k)
    _check_budget(m, n, k, config, verify, trace is not None, show_line_trace, max_memory, max_time)
    if trace is not None:
        check_output_path(trace, option="--trace", mkdir=mkdir)
    result = _simulate(m, n, k, config, verify, quiet)
    if trace is not None:
        with Progress("writing the fold trace", quiet=quiet) as bar:
            document = json.dumps(chrome_trace(result, progress=bar.update))
        write_output(trace, document, option="--trace", mkdir=mkdir)
    if show_line_trace:
        typer.echo("\n".join(line_trace(m, n, k, config)))
    if as_json:
        typer.echo(json.dumps(result.to_json_dict()))
        return
    typer.echo(_summary_text(result))


def _config(
    rows: int, cols: int, dataflow: str, dtype: str, sram: str, dram_bandwidth: float | None
) -> "SystolicConfig":
    """The array the options describe: three SRAMs (ifmap, filter, ofmap) of --sram each."""
    from tigris.engines.systolic.config import SystolicConfig
    from tigris.engines.systolic.dataflow import parse_dataflow

    sram_bytes = parse_sram(sram)
    return SystolicConfig(
        rows=rows,
        cols=cols,
        dataflow=parse_dataflow(dataflow),
        dtype=dtype,
        ifmap_sram_bytes=sram_bytes,
        filter_sram_bytes=sram_bytes,
        ofmap_sram_bytes=sram_bytes,
        dram_bandwidth_bytes_per_cycle=dram_bandwidth,
    )


def _simulate(m: int, n: int, k: int, config: "SystolicConfig", verify: bool, quiet: bool):
    """Schedule the folds (cycle counts, traffic); with --verify also compute C and check
    it, a second pass that does every MAC."""
    from tigris.cli.progress import Progress
    from tigris.engines.systolic.simulator import compute_output, simulate

    with Progress("scheduling folds", quiet=quiet) as bar:
        result = simulate(m, n, k, config, progress=bar.update)
    if verify:
        with Progress("computing C (MACs)", quiet=quiet) as bar:
            result = compute_output(result, verify=True, progress=bar.update)
    return result


def _check_budget(
    m: int,
    n: int,
    k: int,
    config: "SystolicConfig",
    verify: bool,
    fold_trace: bool,
    show_line_trace: bool,
    max_memory: str,
    max_time: str,
) -> None:
    """SpecError, before anything is allocated, for a run over the limits (or the cycle
    counter's range)."""
    from tigris.engines.systolic.budget import MAX_CYCLES, estimate_run
    from tigris.io.limits import check_memory, check_time, parse_limit

    memory_limit = parse_limit(max_memory, "capacity", "--max-memory")
    time_limit = parse_limit(max_time, "time", "--max-time")
    estimate = estimate_run(
        m, n, k, config, compute=verify, fold_trace=fold_trace, line_trace=show_line_trace
    )
    m_, n_, k_, rows_, cols_ = (_size(v) for v in (m, n, k, config.rows, config.cols))
    what = f"a {m_}x{n_}x{k_} GEMM on a {rows_}x{cols_} array" + "".join(
        f" with {flag}" for flag, on in (("--verify", verify), ("--trace", fold_trace)) if on
    )
    if m * n * k > MAX_CYCLES or estimate.total_cycles > MAX_CYCLES:
        raise SpecError(
            f"{what} runs for more than 2^62 cycles or MACs, beyond what the simulator counts",
            key_path="M N K",
        )
    check_memory(estimate.memory_bytes, memory_limit, what, "--max-memory")
    check_time(estimate.time_s, time_limit, what, "--max-time")


def _size(value: int) -> str:
    """An integer as a message shows it: whole up to 12 digits, else its power of ten."""
    text = str(value)
    return text if len(text) <= 12 else f"~10^{len(text) - 1}"


def _summary_text(result) -> str:
    data = result.to_json_dict()
    keys = [
        "total_cycles", "stall_cycles", "utilization", "mapping_efficiency",
        "sram_reads_ifmap", "sram_reads_filter", "sram_writes_ofmap",
        "dram_reads_ifmap", "dram_reads_filter", "dram_writes_ofmap",
    ]  # fmt: skip
    if "verified" in data:
        keys += ["verified", "max_abs_error", "error_bound"]
    head = (
        f"{result.m}x{result.n}x{result.k} on {result.config.rows}x{result.config.cols} "
        f"{result.config.dataflow.value.upper()} ({data['dtype']}), {result.num_folds} folds "
        f"of {result.fold_cycles} cycles"
    )
    return "\n".join([head] + [f"  {key:<20} {data[key]}" for key in keys])


def register(app: typer.Typer) -> None:
    """Add the `systolic` command to the `tigris` app."""
    app.command("systolic")(systolic)
