"""`tigris validate collectives` under the protocol (tigris.validate.protocol).

The collective model's constants (tigris.parallel.collectives.CollectiveConstants) are
fitted on the packaged collective rows (tigris/parallel/data/collective_fit.json, written by
`python -m tigris.validate.collective_fit --write`), so every packaged row is `fitted: true`:

- in-sample: the constants as shipped in that file;
- held out by source: the constants re-fitted (collective_fit.fit_collectives) on the
  packaged rows of the other sources (ml-engineering or vidur), scoring the left-out one;
- held out by chip: re-fitted without the rows of the row's system (dgx-a100, dgx-h100,
  hgx-h200, dgx-b200): "chip" is the system here, the unit the constants describe.

Rows whose algorithm the model does not cover are listed as unmapped (none today: NVLink
SHARP rows are predicted with NCCL's choice among ring, tree and NVLS).
The fit set is always the packaged rows; rows of a user's `--data` file are only scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tigris.validate.collective_fit import (
    CollectiveFit,
    fit_collectives,
    predict_with,
    shipped,
)
from tigris.validate.collectives import (
    CollectiveCase,
    collective_case_or_reason,
    load_collective_cases,
)
from tigris.validate.measured import source_label, with_progress
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

CATEGORY = "collective"


@dataclass(frozen=True)
class CollectivesValidation:
    scored: list[Scored]
    unmapped: list[Unmapped]
    cases: list[CollectiveCase]  # every mapped row in the file's order, skipped ones too
    holdout: str
    fit: CollectiveFit | None = None  # the constants fitted on every packaged row


def fit_set() -> tuple[CollectiveCase, ...]:
    """The packaged rows the constants are fitted on (those the model covers)."""
    return tuple(case for case in load_collective_cases() if not case.skipped)


def _validation_case(case: CollectiveCase, fit_ids: frozenset[str]) -> ValidationCase:
    return ValidationCase(
        id=case.row_id,
        source=source_label(case.source),
        chip=case.system_id,
        category=CATEGORY,
        inputs=case,
        measured=case.measured,
        fitted=case.row_id in fit_ids,
        metric=case.metric,
    )


def fit_without(group: str, holdout: str) -> CollectiveFit:
    """The constants fitted on the packaged rows outside `group` (a source or a system)."""
    fit_ids = frozenset(case.row_id for case in fit_set())
    kept = tuple(
        case for case in fit_set() if group_of(_validation_case(case, fit_ids), holdout) != group
    )
    return fit_collectives(kept)


def validate_collectives_protocol(
    data: Path | None = None,
    holdout: str = "source",
    progress: Callable[[int, int], None] | None = None,
) -> CollectivesValidation:
    """Every collective row of `data` (default: the packaged rows), in-sample with the
    shipped constants and held out by `holdout`; `progress(done, total)` hears of rows
    done."""
    check_holdout(holdout)
    mapped, unmapped = map_rows(read_measured(data, (CATEGORY,)), collective_case_or_reason)
    cases: list[CollectiveCase] = mapped  # type: ignore[assignment]
    unmapped += [Unmapped(case.row_id, case.skipped) for case in cases if case.skipped]
    fit_ids = frozenset(case.row_id for case in fit_set())
    protocol = [_validation_case(case, fit_ids) for case in cases if not case.skipped]
    fits: dict[str, CollectiveFit] = {}
    scored = []
    for case in with_progress(protocol, progress):  # a group's re-fit at its first row
        group = group_of(case, holdout)
        if group not in fits:
            fits[group] = fit_without(group, holdout)
        in_sample = predict_with(case.inputs, shipped())  # type: ignore[arg-type]
        held_out = predict_with(case.inputs, fits[group].constants)  # type: ignore[arg-type]
        scored.append(Scored(case, in_sample, held_out))
    fit = fit_collectives(fit_set())
    return CollectivesValidation(attach_intervals(scored, holdout), unmapped, cases, holdout, fit)
