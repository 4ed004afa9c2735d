"""`tigris.api.compare`: chips side by side on training and serving workloads (speed,
memory, $/M tokens, J/token, area and cost), as `tigris compare` does.

    import tigris.api as t
    result = t.compare(chips=["h100-sxm", "mi300x"], workloads=["serve-8b"])
    result.to_dict()  # what `tigris compare ... --out '' --json` prints
    result = result.write_report("report.html")  # the HTML report, a separate step

Errors are those of the command: SpecError for a bad argument (it names the matching
command-line option); a workload a chip cannot run is a row saying why, not an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tigris.errors import SpecError, given, shorten

if TYPE_CHECKING:
    from tigris.compare.runner import Comparison
    from tigris.compare.workloads import Workload
    from tigris.cost import Assumptions
    from tigris.hardware.chip import Chip


@dataclass(frozen=True)
class CompareResult:
    """A comparison (cells by workload and chip, chip estimates, published checks and the
    assumptions used), the seconds it took, and the report file once one is written."""

    comparison: Comparison
    elapsed_s: float
    report: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Exactly what `tigris compare ... --json` prints (`report`: the HTML file
        written by write_report, else None)."""
        return self.comparison.to_dict() | {"report": self.report}

    def capex_note(self) -> str | None:
        """A warning when a chip asked to be costed at its purchase price has none."""
        from tigris.compare.table import capex_fallback_note

        return capex_fallback_note(self.comparison)

    def render_report(self) -> str:
        """The self-contained HTML report (tables, plots, every assumption)."""
        from tigris.compare.report import render_comparison

        return render_comparison(self.comparison, self.elapsed_s)

    def write_report(
        self, path: str | Path, *, mkdir: bool = False, option: str = "path"
    ) -> CompareResult:
        """Write the HTML report to `path` (atomically; `mkdir`: create missing parent
        folders) and return this result with `report` set to it."""
        from tigris.io.output import write_output

        write_output(str(path), self.render_report(), option=option, mkdir=mkdir)
        return replace(self, report=str(path))


def compare(
    chips: str | Sequence[str | Path | Chip] | None = None,
    workloads: str | Sequence[str | Path | Workload] | None = None,
    assumptions: str | Path | Assumptions | None = None,
    overrides: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    workers: int | None = None,
) -> CompareResult:
    """Every workload on every chip.

    `chips`: ids, YAML paths or Chip objects (a string may list several, comma-separated);
    None: the default chips, each workload also on its `also_on` chips. `workloads`:
    train-70b, serve-70b, serve-8b, workload YAML paths or TrainWorkload/ServeWorkload
    objects; None: the three defaults. `assumptions`: the cost assumptions (a full YAML
    copy of the packaged file, or an Assumptions object; None: the packaged one), with
    `overrides` ('key.path=value', as `--set` takes them). `progress(done, total)` hears
    of (workload, chip) cells finished; `workers`: processes (default: one a core)."""
    from tigris.compare.runner import run_comparison

    started = time.perf_counter()
    cost = load_cost_assumptions(assumptions, list(overrides or []))
    names = _chip_names(chips)
    chosen = _workloads(workloads)
    comparison = run_comparison(
        names, chosen, cost, default_chips=chips is None, workers=workers, progress=progress
    )
    return CompareResult(comparison, time.perf_counter() - started)


def load_cost_assumptions(
    path: str | Path | Assumptions | None, overrides: list[str]
) -> Assumptions:
    """The cost assumptions: the packaged file, or the user's, with --set overrides."""
    from tigris.cost import Assumptions, load_assumptions

    if isinstance(path, Assumptions):
        if overrides:
            raise SpecError(
                "overrides apply to an assumptions file, not to an Assumptions object",
                key_path="--set",
                hint="give the file's path, or change the object with model_copy",
            )
        return path
    if path is not None and not Path(path).is_file():
        problem = (
            "is a folder; give a YAML file"
            if Path(path).is_dir()
            else "is not a regular file (a pipe, device or socket)"
            if Path(path).exists()
            else "file not found"
        )
        raise SpecError(problem, file=str(path), key_path="--assumptions", hint="check the path")
    return load_assumptions(path, overrides)


def _chip_names(chips: str | Sequence[str | Path | Chip] | None) -> list[str | Chip]:
    """Ids and paths split at commas (Chip objects kept); the defaults for None; an
    empty list (`--chips ""`) is a mistake, not a request for the defaults."""
    from tigris.compare.workloads import DEFAULT_CHIPS

    if chips is None:
        return list(DEFAULT_CHIPS)
    given_chips = [chips] if isinstance(chips, (str, Path)) else list(chips)
    names: list[str | Chip] = []
    for item in given_chips:
        if isinstance(item, (str, Path)):
            names += [part.strip() for part in str(item).split(",") if part.strip()]
        else:
            names.append(_chip_object(item))
    if not names:
        raise SpecError(
            f"no chip named in {shorten(repr(','.join(map(str, given_chips))))}",
            key_path="--chips",
            hint="give chip ids or YAML files, comma-separated; leave --chips out for the defaults",
        )
    return names


def _chip_object(item: object) -> Chip:
    from tigris.hardware.chip import Chip

    if not isinstance(item, Chip):
        raise SpecError(
            f"must be chip ids, YAML paths or Chip objects, got {given(item)}",
            key_path="--chips",
        )
    return item


def _workloads(workloads: str | Sequence[str | Path | Workload] | None) -> list[Workload]:
    """The workloads named (defaults for none); names must not repeat."""
    from tigris.compare.workloads import (
        DEFAULT_WORKLOADS,
        ServeWorkload,
        TrainWorkload,
        resolve_workload,
    )

    items = [workloads] if isinstance(workloads, (str, Path)) else list(workloads or [])
    chosen = []
    for item in items:
        if isinstance(item, (TrainWorkload, ServeWorkload)):
            chosen.append(item)
        elif isinstance(item, (str, Path)):
            chosen.append(resolve_workload(str(item)))
        else:
            raise SpecError(
                f"must be workload names, YAML paths or workload objects, got {given(item)}",
                key_path="--workload",
            )
    chosen = chosen or list(DEFAULT_WORKLOADS)
    names = [w.name for w in chosen]
    if len(set(names)) != len(names):
        raise SpecError(f"workload names repeat: {names}", key_path="--workload")
    return chosen
