"""`tigris calibrate CHIP --data FILE.csv -o my-chip.yaml`: a chip's GEMM calibration
fitted on the user's own gemm/memory_bw rows (tigris.validate.calibrate), written as a
preset with `base: CHIP` and the provenance, so that `--chip my-chip.yaml` predicts with it."""

import json
import sys
from typing import Annotated

import typer


def calibrate_command(
    chip: Annotated[str, typer.Argument(help="Chip id (or YAML) the rows were measured on.")],
    data: Annotated[str, typer.Option("--data", help="Your measurements (measured.csv's schema).")],
    out: Annotated[str, typer.Option("--out", "-o", help="The chip YAML to write.")],
    mkdir: Annotated[bool, typer.Option("--mkdir", help="Create missing parent folders.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress on stderr.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Fit CHIP's calibration on your gemm/memory_bw rows and write a preset (base: CHIP)."""
    from pathlib import Path

    import yaml

    from tigris.api.inputs import resolve_chip
    from tigris.cli.progress import Progress
    from tigris.io.output import check_output_path, write_output
    from tigris.validate.calibrate import fit_user_rows

    check_output_path(out, option="--out", mkdir=mkdir)
    base = resolve_chip(chip)
    with Progress("calibrate: sweeps", quiet=quiet) as bar:
        fit = fit_user_rows(base, Path(data), progress=bar.update)
    chip_id = Path(out).stem
    header = (
        f"# {chip_id}: {base.id} calibrated on {data} by `tigris calibrate` on {fit.date}\n"
        f"# {len(fit.row_ids)} rows, mean |error| {fit.error_pct:.1f}% in-sample.\n"
    )
    text = header + yaml.safe_dump(
        fit.preset(chip_id, _base_reference(chip, out)), sort_keys=False, width=100
    )
    written = write_output(out, text, option="--out", mkdir=mkdir)
    summary = {
        "chip": base.id,
        "out": str(written),
        "rows": list(fit.row_ids),
        "error_pct": fit.error_pct,
        "calibration": fit.calibration.model_dump(),
    }
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2, default=float) + "\n")
        return
    typer.echo(
        f"wrote {written}: {base.id} fitted on {len(fit.row_ids)} rows of {data} "
        f"(mean |error| {fit.error_pct:.1f}% in-sample)"
    )


def _base_reference(chip: str, out: str) -> str | None:
    """A chip given as a file: its path relative to the output's folder (how `base:` reads
    a path); a catalog id: None (the id itself)."""
    import os

    from tigris.hardware.presets import _looks_like_path

    if not _looks_like_path(chip):
        return None
    return os.path.relpath(os.path.abspath(chip), os.path.dirname(os.path.abspath(out)))


def register(app: typer.Typer) -> None:
    """Add `tigris calibrate`."""
    app.command("calibrate")(calibrate_command)
