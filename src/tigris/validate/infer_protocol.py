"""`tigris validate infer` under the protocol (tigris.validate.protocol).

What is fitted where: the chip calibrations on GEMM rows (Vidur, LLMCompass,
ml-engineering), and, in-sample only, the LLMCompass host paths on LLMCompass's own op
sweeps (tigris.validate.infer_llmcompass), and a stack's constants on its developer's
rows (tigris.validate.stack_fit: vllm-rocm-v0's step overhead on AMD's MLPerf v4.1 rows,
`fitted: true` on those rows). With `--holdout source` the LLMCompass rows are
re-predicted with neither LLMCompass's GEMM rows nor its sweeps, and the rows of a
source a stack constant was fitted on with that constant at its prior (the rest: no fit
sees their source, so the held-out prediction is the in-sample one). With `--holdout
chip` every row (stack constants at their priors) is re-run on
its chip with no calibration, as for a chip never measured.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tigris.validate.hardware_names import chip_for_hardware
from tigris.validate.infer import CATEGORIES, InferRow, evaluate_row, source_family
from tigris.validate.measured import with_progress
from tigris.validate.protocol import (
    Scored,
    Unmapped,
    ValidationCase,
    attach_intervals,
    check_holdout,
    map_rows,
    read_measured,
)

# Sources with a fitted quantity of their own (re-predicted under --holdout source).
SOURCES_WITH_FITS = ("LLMCompass",)


@dataclass(frozen=True)
class InferValidation:
    results: list[InferRow]  # in-sample, every row (skipped ones with their reason)
    scored: list[Scored]
    unmapped: list[Unmapped]
    holdout: str


def _validation_case(row: dict[str, str], result: InferRow) -> ValidationCase:
    from tigris.validate.stack_fit import is_fit_row

    return ValidationCase(
        id=result.row_id,
        source=result.source,
        chip=chip_for_hardware(row["hardware"]),
        category=result.category,
        inputs=row,
        measured=result.measured,
        fitted=is_fit_row(row),
        metric=result.metric,
    )


def _needs_rerun(row: dict[str, str], holdout: str) -> bool:
    """Re-predicted held out: every row by chip; by source, the rows of a source with a
    fit of its own (LLMCompass's host paths, a stack constant fitted on its rows)."""
    from tigris.validate.stack_fit import fitted_on_source

    family = source_family(row)
    if holdout == "chip" or family in SOURCES_WITH_FITS:
        return True
    return fitted_on_source(row, family)


def validate_infer_protocol(
    data: Path | None = None,
    holdout: str = "source",
    progress: Callable[[int, int], None] | None = None,
) -> InferValidation:
    """Every infer_chip/infer_cluster row of `data` (default: the packaged rows), in-sample
    and held out; `progress(done, total)` hears of each prediction."""
    check_holdout(holdout)
    rows = read_measured(data, CATEGORIES)
    jobs = [(row, None) for row in rows] + [
        (row, holdout) for row in rows if _needs_rerun(row, holdout)
    ]
    predictions: dict[tuple[str, str | None], InferRow] = {}
    unmapped: list[Unmapped] = []
    for row, held_out in with_progress(jobs, progress):
        done, failed = map_rows([row], lambda r, h=held_out: evaluate_row(r, h))
        if done:
            predictions[(row["id"], held_out)] = done[0]  # type: ignore[assignment]
        elif held_out is None:
            unmapped += failed
    results = [predictions[(row["id"], None)] for row in rows if (row["id"], None) in predictions]
    unmapped += [Unmapped(r.row_id, r.skipped) for r in results if r.skipped]
    scored = []
    for row in rows:
        result = predictions.get((row["id"], None))
        if result is None or result.skipped:
            continue
        held = predictions.get((row["id"], holdout), result)
        scored.append(Scored(_validation_case(row, result), result.predicted, held.predicted))
    return InferValidation(results, attach_intervals(scored, holdout), unmapped, holdout)
