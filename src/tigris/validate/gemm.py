"""`tigris validate gemm` under the protocol (tigris.validate.protocol): gemm and
memory_bw rows, in-sample with the presets' calibrations, held-out with the chip
calibrations re-fitted without the row's source (or chip).

The fit set is always the packaged gemm rows (measured.csv); rows of a user's `--data`
file are only scored. A user's row that repeats a packaged row (same id) is marked fitted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tigris.hardware.presets import load_chip
from tigris.validate.calibrate import calibration_donor, refit_without
from tigris.validate.measured import (
    Case,
    case_or_reason,
    load_cases,
    source_label,
    with_progress,
)
from tigris.validate.protocol import (
    Scored,
    Unmapped,
    ValidationCase,
    attach_intervals,
    check_holdout,
    group_of,
    map_rows,
    read_measured,
)
from tigris.validate.single_chip import RowResult, evaluate

CATEGORIES = ("gemm", "memory_bw")


def _validation_case(case: Case, fit_ids: frozenset[str]) -> ValidationCase:
    return ValidationCase(
        id=case.row_id,
        source=source_label(case.source),
        chip=case.chip_id,
        category=case.category,
        inputs=case,
        measured=case.measured,
        fitted=case.row_id in fit_ids,
        metric=case.metric,
    )


@dataclass(frozen=True)
class GemmValidation:
    scored: list[Scored]
    unmapped: list[Unmapped]
    in_sample: list[RowResult]  # every row as `validate gemm` printed them (in the file's order)
    holdout: str


def _fit_ids() -> frozenset[str]:
    """The packaged gemm rows a preset's calibration is fitted on (a chip whose preset takes
    its calibration from another chip's rows has its own rows scored only)."""
    return frozenset(
        c.row_id
        for c in load_cases()
        if c.category == "gemm" and c.chip_id and calibration_donor(c.chip_id) == c.chip_id
    )


def validate_gemm(
    data: Path | None = None,
    holdout: str = "source",
    engine_name: str = "tile",
    progress: Callable[[int, int], None] | None = None,
) -> GemmValidation:
    """Every gemm/memory_bw row of `data` (default: the packaged rows), in-sample and
    held out by `holdout`; `progress(done, total)` hears of rows and re-fits done."""
    check_holdout(holdout)
    all_cases, unmapped = map_rows(read_measured(data, CATEGORIES), case_or_reason)
    unmapped += [
        Unmapped(case.row_id, f"no preset for {case.hardware[:50]}")  # type: ignore[attr-defined]
        for case in all_cases
        if case.chip_id is None  # type: ignore[attr-defined]
    ]
    cases = [case for case in all_cases if case.chip_id is not None]  # type: ignore[attr-defined]
    fit_ids = _fit_ids()
    protocol = [_validation_case(case, fit_ids) for case in cases]  # type: ignore[arg-type]
    groups = sorted({group_of(case, holdout) for case in protocol})
    in_sample, held_out = [], {}
    # one step per row predicted in-sample, then one per group re-fitted and scored
    for item in with_progress([*all_cases, *groups], progress):
        if isinstance(item, str):
            held_out |= _held_out_group(protocol, item, holdout, engine_name)
        else:
            in_sample.append(evaluate(item, engine_name=engine_name))
    predicted = {result.case.row_id: result for result in in_sample}
    scored = [
        Scored(
            case,
            predicted[case.id].predicted,
            held_out.get(case.id),
            note=predicted[case.id].skipped,
        )
        for case in protocol
    ]
    return GemmValidation(attach_intervals(scored, holdout), unmapped, in_sample, holdout)


def _held_out_group(
    protocol: list[ValidationCase], group: str, holdout: str, engine_name: str
) -> dict[str, float | None]:
    """Predictions of the group's rows by calibrations fitted without the group's rows
    (matched among the packaged fit rows by source or chip)."""
    members = [case for case in protocol if group_of(case, holdout) == group]
    chips = sorted({case.chip for case in members if case.chip})

    def leave_out(fit_case: Case) -> bool:
        key = source_label(fit_case.source) if holdout == "source" else fit_case.chip_id
        return key == group

    fits = refit_without(load_cases(), chips, leave_out)
    out: dict[str, float | None] = {}
    for case in members:
        chip = load_chip(case.chip)  # type: ignore[arg-type]
        chip = chip.model_copy(update={"calibration": fits[case.chip].calibration})  # type: ignore[index]
        out[case.id] = evaluate(case.inputs, chip, engine_name).predicted  # type: ignore[arg-type]
    return out
