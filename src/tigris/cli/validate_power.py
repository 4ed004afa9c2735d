"""`tigris validate power`: measured power rows against the scoped power model."""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tigris.errors import SpecError

AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")]
Rows = Annotated[bool, typer.Option("--rows", help="Also print every scored row.")]
Holdout = Annotated[
    str,
    typer.Option("--holdout", help="Held-out groups: refit leaving each source (or chip) out."),
]
Data = Annotated[
    Path | None,
    typer.Option("--data", help="Score another CSV in power.csv's schema (default: shipped)."),
]
WriteFit = Annotated[
    Path | None,
    typer.Option("--write-fit", help="Write the fit on every mapped row (power_fit.json)."),
]


def validate_power_command(
    holdout: Holdout = "source",
    data: Data = None,
    rows: Rows = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    write_fit: WriteFit = None,
) -> None:
    """Predicted vs measured power and J/token per source and chip, in-sample and held out."""
    from tigris.cli.progress import Progress
    from tigris.io.output import check_output_path, write_output
    from tigris.validate.power import read_power_rows
    from tigris.validate.power_score import HOLDOUTS, score

    if holdout not in HOLDOUTS:
        raise SpecError(f"unknown holdout {holdout[:20]!r}", key_path="--holdout",
                        hint=f"one of {', '.join(HOLDOUTS)}")  # fmt: skip
    if data is not None and not data.is_file():
        raise SpecError("no such file", file=str(data), key_path="--data")
    if write_fit is not None:
        check_output_path(write_fit, option="--write-fit")
    measured = read_power_rows(data)
    with Progress("validate power: rows", quiet=quiet) as bar:
        result = score(measured, holdout, progress=bar.update)
    if write_fit is not None:
        write_output(write_fit, json.dumps(result["fit_all_rows"], indent=1) + "\n",
                     option="--write-fit")  # fmt: skip
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2, default=float) + "\n")
        return
    _print_tables(result, rows)


def _pct(value: object) -> str:
    return f"{100 * value:.1f}" if isinstance(value, float) else "-"


def _print_tables(result: dict, rows: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if rows:
        detail = Table(title="Rows (error %, held out)")
        for column in ("id", "chip", "scope", "measured W", "predicted W", "W err", "J/tok err"):
            detail.add_column(column)
        for r in result["rows"]:
            detail.add_row(r["id"], r["chip"], r["scope"], f"{r['measured_power_w']:.4g}",
                           f"{r.get('power_w_held_out', float('nan')):.4g}",
                           _pct(r.get("power_err_held_out")),
                           _pct(r.get("j_per_token_err_held_out")))  # fmt: skip
        console.print(detail)
    table = Table(title=f"Power: mean |error| %, in-sample / held out by {result['holdout']}")
    for column in ("group", "chip", "scope", "rows", "W in", "W out", "J/tok in", "J/tok out"):
        table.add_column(column)
    for g in result["groups"]:
        if "chip" not in g:
            continue
        table.add_row(g["group"][:40], g["chip"], g["scope"], str(g["rows_scored"]),
                      _pct(g["power_mape_in_sample"]), _pct(g["power_mape_held_out"]),
                      _pct(g["j_per_token_mape_in_sample"]),
                      _pct(g["j_per_token_mape_held_out"]))  # fmt: skip
    console.print(table)
    for g in result["groups"]:
        if "rows_total" in g:
            console.print(f"{g['group'][:60]}: {g['rows_total']} rows, "
                          f"{g['rows_unmapped']} unmapped (see --json 'unmapped')")  # fmt: skip


def register(app: typer.Typer, validate_app: typer.Typer) -> None:
    """Add `tigris validate power`."""
    validate_app.command("power")(validate_power_command)
