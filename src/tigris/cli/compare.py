"""`tigris compare`: chips side by side on training and serving workloads, with cost."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tigris.cli.fit_table import print_table
from tigris.errors import SpecError, shorten

if TYPE_CHECKING:
    from rich.console import Console

    from tigris.compare.runner import Comparison

DEFAULT_REPORT = "tigris-report.html"


def _split(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def load_cost_assumptions(path: str | None, overrides: list[str]):
    """The cost assumptions: the packaged file, or the user's, with --set overrides."""
    from tigris.cost import load_assumptions

    if path is not None and not Path(path).is_file():
        given = Path(path)
        problem = (
            "is a folder; give a YAML file"
            if given.is_dir()
            else "is not a regular file (a pipe, device or socket)"
            if given.exists()
            else "file not found"
        )
        raise SpecError(problem, file=path, key_path="--assumptions", hint="check the path")
    return load_assumptions(path, overrides)


def compare_command(
    chips: Annotated[
        list[str] | None,
        typer.Option("--chips", help="Chip ids or YAML files, comma-separated or repeated."),
    ] = None,
    workload: Annotated[
        list[str] | None,
        typer.Option(
            "--workload",
            help="train-70b | serve-70b | serve-8b, or a workload YAML file (repeatable).",
        ),
    ] = None,
    out: Annotated[
        str, typer.Option("--out", help="Where to write the HTML report ('' for none).")
    ] = DEFAULT_REPORT,
    assumptions: Annotated[
        str | None,
        typer.Option(
            "--assumptions", help="Cost assumptions YAML (a full copy of the packaged one)."
        ),
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Override a cost assumption: key.path=value, e.g. operations.pue=1.3 (repeatable).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Show every column, however narrow the terminal."),
    ] = False,
    mkdir: Annotated[
        bool, typer.Option("--mkdir", help="Create missing parent folders of --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Compare chips on default (or given) workloads: speed, memory, $/M tokens, J/token,
    area and cost; write a self-contained HTML report with plots."""
    from tigris.io.output import check_output_path, write_output

    started = time.perf_counter()
    if out:  # a bad path fails now, before the models (and plotly) are even imported
        check_output_path(out, option="--out", mkdir=mkdir)
    from tigris.cli.progress import Progress
    from tigris.compare.report import render_comparison
    from tigris.compare.runner import run_comparison
    from tigris.compare.table import capex_fallback_note
    from tigris.compare.workloads import DEFAULT_CHIPS, DEFAULT_WORKLOADS, resolve_workload

    cost = load_cost_assumptions(assumptions, overrides or [])
    chip_ids = _split(chips) or list(DEFAULT_CHIPS)
    if chips and not _split(chips):  # `--chips ""` or `--chips ,`: not a request for defaults
        raise SpecError(
            f"no chip named in {shorten(repr(','.join(chips)))}",
            key_path="--chips",
            hint="give chip ids or YAML files, comma-separated; leave --chips out for the defaults",
        )
    workloads = [resolve_workload(name) for name in workload or []] or list(DEFAULT_WORKLOADS)
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        raise SpecError(f"workload names repeat: {names}", key_path="--workload")
    with Progress("compare: chip x workload", quiet=quiet) as progress:
        comparison = run_comparison(
            chip_ids, workloads, cost, default_chips=not chips, progress=progress.update
        )
    elapsed = time.perf_counter() - started
    note = capex_fallback_note(comparison)
    if note:  # a warning, not progress: --quiet keeps it
        sys.stderr.write(f"note: {note}\n")
    report = None
    if out:
        write_output(out, render_comparison(comparison, elapsed), option="--out", mkdir=mkdir)
        report = out
    if as_json:
        data = comparison.to_dict() | {"report": str(report) if report else None}
        sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")
        return
    from rich.console import Console

    console = Console()
    print_tables(comparison, console, wide=wide)
    total = time.perf_counter() - started
    where = f"; report: {report}" if report else ""
    console.print(f"computed in {elapsed:.1f} s, {total:.1f} s with the report{where}")


def register(app: typer.Typer) -> None:
    """Add `tigris compare`."""
    app.command("compare")(compare_command)


def print_tables(comparison: Comparison, console: Console, *, wide: bool = False) -> None:
    """Every table, each fitted to the console's width (every column with `wide`)."""
    from tigris.compare import table

    for workload in comparison.workloads:
        columns = table.TRAIN_COLUMNS if workload.kind == "train" else table.SERVE_COLUMNS
        rows = table.workload_table_rows(comparison, workload.name)
        failed = [row[1].startswith("cannot run") for row in rows]
        if any(failed):  # the reason is in the plan column: never drop it
            columns = (columns[0], replace(columns[1], priority=0), *columns[2:])
        print_table(
            console,
            f"{workload.name}: {workload.describe()}",
            columns,
            rows,
            wide=wide,
            row_styles=["red" if f else None for f in failed],
        )
    print_table(
        console,
        "Chips: the cost model's estimates (* = an input assumed)",
        table.CHIP_COLUMNS,
        table.chip_rows(comparison),
        wide=wide,
    )
    print_table(
        console,
        "Sanity checks: model (from public specs alone) vs published die area and TDP",
        table.CHECK_COLUMNS,
        table.check_rows(comparison),
        wide=wide,
    )
    basis = comparison.assumptions.operations.price_basis
    console.print(
        f"$ on the '{basis}' basis (operations.price_basis; package.capex_basis = "
        f"'{comparison.assumptions.package.capex_basis}'); every assumption is listed in the "
        "report and can be changed with --set key=value or --assumptions FILE."
    )
