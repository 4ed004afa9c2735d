"""`tigris compare`: chips side by side on training and serving workloads, with cost."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from tigris.errors import SpecError

DEFAULT_REPORT = "tigris-report.html"


def _split(values: list[str] | None) -> list[str]:
    return [item.strip() for value in values or [] for item in value.split(",") if item.strip()]


def load_cost_assumptions(path: str | None, overrides: list[str]):
    """The cost assumptions: the packaged file, or the user's, with --set overrides."""
    from tigris.cost import load_assumptions

    if path is not None and not Path(path).is_file():
        raise SpecError(
            "file not found", file=path, key_path="--assumptions", hint="check the path"
        )
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
) -> None:
    """Compare chips on default (or given) workloads: speed, memory, $/M tokens, J/token,
    area and cost; write a self-contained HTML report with plots."""
    from tigris.compare.report import render_comparison
    from tigris.compare.runner import run_comparison
    from tigris.compare.workloads import DEFAULT_CHIPS, DEFAULT_WORKLOADS, resolve_workload
    from tigris.report.html import write_atomically

    started = time.perf_counter()
    cost = load_cost_assumptions(assumptions, overrides or [])
    chip_ids = _split(chips) or list(DEFAULT_CHIPS)
    workloads = [resolve_workload(name) for name in workload or []] or list(DEFAULT_WORKLOADS)
    names = [w.name for w in workloads]
    if len(set(names)) != len(names):
        raise SpecError(f"workload names repeat: {names}", key_path="--workload")
    comparison = run_comparison(chip_ids, workloads, cost, default_chips=not chips)
    elapsed = time.perf_counter() - started
    report = None
    if out:
        report = write_atomically(out, render_comparison(comparison, elapsed))
    if as_json:
        data = comparison.to_dict() | {"report": str(report) if report else None}
        sys.stdout.write(json.dumps(data, indent=2, default=float) + "\n")
        return
    from rich.console import Console

    from tigris.compare.table import print_tables

    console = Console()
    print_tables(comparison, console)
    total = time.perf_counter() - started
    where = f"; report: {report}" if report else ""
    console.print(f"computed in {elapsed:.1f} s, {total:.1f} s with the report{where}")


def register(app: typer.Typer) -> None:
    """Add `tigris compare`."""
    app.command("compare")(compare_command)
