"""`tigris compare`: chips side by side on training and serving workloads, with cost."""

import json
import sys
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from tigris.compare.runner import Comparison

DEFAULT_REPORT = "tigris-report.html"


Chips = Annotated[
    list[str] | None,
    typer.Option("--chips", help="Chip ids or YAML files, comma-separated or repeated."),
]
Workloads = Annotated[
    list[str] | None,
    typer.Option(
        "--workload",
        help="train-70b | serve-70b | serve-8b (the defaults) | serve-deepseek-r1 | "
        "train-deepseek-v3, or a workload YAML file (repeatable).",
    ),
]
Out = Annotated[str, typer.Option("--out", help="Where to write the HTML report ('' for none).")]
AssumptionsFile = Annotated[
    str | None,
    typer.Option("--assumptions", help="Cost assumptions YAML (a full copy of the packaged one)."),
]
Overrides = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Override a cost assumption: key.path=value, e.g. operations.pue=1.3 (repeatable).",
    ),
]


def compare_command(
    chips: Chips = None,
    workload: Workloads = None,
    out: Out = DEFAULT_REPORT,
    assumptions: AssumptionsFile = None,
    overrides: Overrides = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="Show every column, however narrow the terminal.")
    ] = False,
    mkdir: Annotated[
        bool, typer.Option("--mkdir", help="Create missing parent folders of --out.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Compare chips on default (or given) workloads: speed, memory, $/M tokens, J/token,
    area and cost; write a self-contained HTML report with plots."""
    from tigris.io.output import check_output_path

    started = time.perf_counter()
    if out:  # a bad path fails now, before the models (and plotly) are even imported
        check_output_path(out, option="--out", mkdir=mkdir)
    from tigris.api.comparison import compare
    from tigris.cli.progress import Progress

    with Progress("compare: chip x workload", quiet=quiet) as progress:
        result = compare(chips, workload, assumptions, overrides, progress=progress.update)
    note = result.capex_note()
    if note:  # a warning, not progress: --quiet keeps it
        sys.stderr.write(f"note: {note}\n")
    if out:
        result = result.write_report(out, mkdir=mkdir, option="--out")
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2, default=float) + "\n")
        return
    from rich.console import Console

    console = Console()
    print_tables(result.comparison, console, wide=wide)
    total = time.perf_counter() - started
    where = f"; report: {result.report}" if result.report else ""
    console.print(f"computed in {result.elapsed_s:.1f} s, {total:.1f} s with the report{where}")


def register(app: typer.Typer) -> None:
    """Add `tigris compare`."""
    app.command("compare")(compare_command)


def print_tables(comparison: "Comparison", console: "Console", *, wide: bool = False) -> None:
    """Every table, each fitted to the console's width (every column with `wide`)."""
    from tigris.cli.fit_table import print_table
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
