"""`tigris validate attention` under the protocol (tigris.validate.protocol).

The one fitted quantity is `attention_fraction` per chip and FlashAttention implementation
(flash2, flash1), fitted on that chip's rows of the implementation (`fit_attention`, which
records the row ids). The 'standard' rows have no term fitted on them (`fitted: false`).

- in-sample: the presets' fractions (fitted on these very rows);
- held out by source: each chip's fractions re-fitted without the source's rows. Every
  packaged row is Dao 2023's, so a packaged row's held-out prediction runs at the chip's
  GEMM `matrix_fraction` (fitted on other sources' GEMM rows): a kernel nobody measured;
- held out by chip: the chip with the default, uncalibrated efficiencies.

The fit set is the packaged rows plus the rows of a `--data` file whose notes say
`split=fit` (data/measured-attention-extra.csv: the FA3 paper's BF16 head-dim-128 rows,
which the H100 preset's flash3, cudnn and triton fractions are fitted on); its other rows
are only scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from tigris.hardware.chip import Calibration, Chip
from tigris.hardware.presets import load_chip
from tigris.validate.attention import (
    AttentionCase,
    AttentionResult,
    attention_case_or_reason,
    evaluate_attention,
    fit_fraction,
    load_attention_cases,
)
from tigris.validate.measured import with_progress
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

CATEGORY = "attention"
FITTED_IMPLEMENTATIONS = ("flash2", "flash1", "flash3", "cudnn", "triton")
# Kernels fitted on a --data file's split=fit rows (flash2 and flash1 only on packaged ones).
EXTRA_FITTED = ("flash3", "cudnn", "triton")


@dataclass(frozen=True)
class AttentionFit:
    """A chip's attention_fraction for one implementation and the rows it was fitted on
    (fraction None: no rows, the kernel runs at the chip's matrix_fraction)."""

    chip_id: str
    implementation: str
    fraction: float | None
    row_ids: tuple[str, ...]


@dataclass(frozen=True)
class AttentionValidation:
    scored: list[Scored]
    unmapped: list[Unmapped]
    in_sample: list[AttentionResult]
    holdout: str


def fit_set() -> tuple[AttentionCase, ...]:
    """The packaged rows the presets' attention fractions are fitted on."""
    return tuple(c for c in load_attention_cases() if c.implementation in FITTED_IMPLEMENTATIONS)


@lru_cache(maxsize=64)
def fit_attention(
    chip_id: str, implementation: str, cases: tuple[AttentionCase, ...]
) -> AttentionFit:
    """The chip's attention_fraction for `implementation` fitted on `cases`."""
    if not cases:
        return AttentionFit(chip_id, implementation, None, ())
    fraction = fit_fraction(load_chip(chip_id), implementation, list(cases))
    return AttentionFit(chip_id, implementation, fraction, tuple(c.row_id for c in cases))


def refit_chip(chip: Chip, kept: list[AttentionCase]) -> Chip:
    """`chip` with its attention fractions re-fitted on the `kept` rows of its chip id (an
    implementation with none left runs at matrix_fraction)."""
    fractions = {}
    for implementation in FITTED_IMPLEMENTATIONS:
        rows = tuple(c for c in kept if c.chip_id == chip.id and c.implementation == implementation)
        fit = fit_attention(chip.id, implementation, rows)
        if fit.fraction is not None:
            fractions[implementation] = fit.fraction
    calibration = chip.calibration.model_copy(
        update={"attention_fraction": fractions, "attention_fitted_on": None}
    )
    return chip.model_copy(update={"calibration": calibration})


def held_out_chip(
    chip_id: str, holdout: str, group: str, extra: tuple[AttentionCase, ...] = ()
) -> Chip:
    """The chip as a score held out from `group` sees it (`extra`: the split=fit rows of a
    --data file, fitted on as the packaged rows are)."""
    chip = load_chip(chip_id)
    if holdout == "chip":
        return chip.model_copy(update={"calibration": Calibration()})
    kept = [c for c in (*fit_set(), *extra) if c.source != group]
    return refit_chip(chip, kept)


def _validation_case(case: AttentionCase, fit_ids: frozenset[str]) -> ValidationCase:
    return ValidationCase(
        id=case.row_id,
        source=case.source,
        chip=case.chip_id,
        category=CATEGORY,
        inputs=case,
        measured=case.measured_flop_per_s,
        fitted=case.row_id in fit_ids,
        metric="flop_per_s",
    )


def validate_attention_protocol(
    data: Path | None = None,
    holdout: str = "source",
    progress: Callable[[int, int], None] | None = None,
) -> AttentionValidation:
    """Every attention row of `data` (default: the packaged rows), in-sample and held out
    by `holdout`; `progress(done, total)` hears of rows done."""
    check_holdout(holdout)
    mapped, unmapped = map_rows(read_measured(data, (CATEGORY,)), attention_case_or_reason)
    cases: list[AttentionCase] = mapped  # type: ignore[assignment]
    extra = tuple(
        c for c in cases if c.split == "fit" and c.implementation in EXTRA_FITTED and data
    )
    fit_ids = frozenset(c.row_id for c in (*fit_set(), *extra))
    in_sample, scored = [], []
    for case in with_progress(cases, progress):
        result = evaluate_attention(case)
        protocol_case = _validation_case(case, fit_ids)
        chip = held_out_chip(case.chip_id, holdout, group_of(protocol_case, holdout), extra)
        held_out = evaluate_attention(case, chip).predicted_flop_per_s
        in_sample.append(result)
        scored.append(Scored(protocol_case, result.predicted_flop_per_s, held_out))
    return AttentionValidation(attach_intervals(scored, holdout), unmapped, in_sample, holdout)
