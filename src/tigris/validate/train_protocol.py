"""`tigris validate train` under the protocol (tigris.validate.protocol).

No quantity of the shipped model is fitted on a training row: the chip calibrations are
fitted on GEMM rows (Vidur, LLMCompass, ml-engineering) and the attention fractions on
FlashAttention rows (Dao 2023), none of them a training source. So with `--holdout
source` a row's held-out prediction is its in-sample one (every row has `fitted: false`).
With `--holdout chip` every row is re-run on its chip with the default, uncalibrated
efficiencies (no GEMM or attention fit), as for a chip nobody has measured.

The framework options per source (train.py: MEGATRON_2021, LLM_FOUNDRY, ...) were chosen
by reading the frameworks' code, not fitted; but they were written while these rows were
in view, which no held-out figure here can undo: other measurements are the real test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tigris.hardware.chip import Calibration
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
from tigris.validate.train import TrainCase, TrainResult, evaluate_case, train_case_or_reason


@dataclass(frozen=True)
class TrainValidation:
    results: list[TrainResult]  # in-sample, as `validate train` printed them
    scored: list[Scored]
    unmapped: list[Unmapped]
    holdout: str


def _validation_case(case: TrainCase) -> ValidationCase:
    return ValidationCase(
        id=case.row_id,
        source=case.source,
        chip=case.chip_id,
        category="train_cluster",
        inputs=case,
        measured=case.measured,
        fitted=False,
        metric=case.metric,
    )


def _scored(result: TrainResult, held_out: TrainResult) -> Scored:
    return Scored(
        _validation_case(result.case),
        result.predicted,
        held_out.predicted,
        note=result.note,
        memory_failure=result.memory_failure,
    )


def validate_train_protocol(
    data: Path | None = None,
    holdout: str = "source",
    sources: tuple[str, ...] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> TrainValidation:
    """Every train_cluster row of `data` (default: the packaged rows) of `sources`,
    in-sample and held out; `progress(done, total)` hears of rows done."""
    check_holdout(holdout)
    mapped, unmapped = map_rows(read_measured(data, ("train_cluster",)), train_case_or_reason)
    cases = [c for c in mapped if sources is None or c.source in sources]  # type: ignore[attr-defined]
    runs = 2 if holdout == "chip" else 1
    jobs = [(case, run) for run in range(runs) for case in cases]
    results: list[TrainResult] = []
    for case, run in with_progress(jobs, progress):
        results.append(evaluate_case(case, Calibration() if run else None))  # type: ignore[arg-type]
    in_sample = results[: len(cases)]
    held_out = results[len(cases) :] or in_sample
    scored = [_scored(a, b) for a, b in zip(in_sample, held_out, strict=True)]
    return TrainValidation(in_sample, attach_intervals(scored, holdout), unmapped, holdout)
