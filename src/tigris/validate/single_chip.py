"""Predicted vs measured for single-chip rows (gemm, memory_bw): errors per row and per chip."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from statistics import mean

from tigris.engines.base import get_engine
from tigris.errors import TigrisError
from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip
from tigris.validate.measured import Case, load_cases, with_progress


@dataclass(frozen=True)
class RowResult:
    case: Case
    predicted: float | None
    error_pct: float | None  # signed: (predicted - measured) / measured * 100
    skipped: str | None = None


@dataclass(frozen=True)
class ChipSummary:
    chip_id: str
    category: str
    num_rows: int
    mean_abs_error_pct: float
    max_abs_error_pct: float


def predict_time_s(case: Case, chip: Chip, engine_name: str = "tile") -> float:
    """Device time of the case's ops, plus the host launch where the row was host-timed.

    The roofline stays a pure bound: no overhead of any kind is added to it.
    """
    engine = get_engine(engine_name)
    time_s = sum(engine.time(op, chip).time_s for op in case.ops)
    if case.host_timed and engine_name != "roofline":
        time_s += chip.calibration.host_overhead
    return time_s


def evaluate(case: Case, chip: Chip | None = None, engine_name: str = "tile") -> RowResult:
    if case.chip_id is None:
        return RowResult(case, None, None, skipped=f"no preset for {case.hardware}")
    try:
        chip = chip or load_chip(case.chip_id)
        predicted = case.metric_from_time(predict_time_s(case, chip, engine_name))
    except TigrisError as error:
        return RowResult(case, None, None, skipped=str(error))
    error_pct = (predicted - case.measured) / case.measured * 100.0
    return RowResult(case, predicted, error_pct)


def validate_rows(
    categories: Iterable[str] = ("gemm", "memory_bw"),
    engine_name: str = "tile",
    progress: Callable[[int, int], None] | None = None,
) -> list[RowResult]:
    """Every row of the categories, predicted; `progress(done, total)` hears of rows done."""
    wanted = set(categories)
    cases = [case for case in load_cases() if case.category in wanted]
    return [evaluate(case, engine_name=engine_name) for case in with_progress(cases, progress)]


def summarize(results: list[RowResult]) -> list[ChipSummary]:
    """Mean and max absolute % error per (chip, category), plus an 'all' row per category."""
    groups: dict[tuple[str, str], list[float]] = {}
    for result in results:
        if result.error_pct is None or result.case.chip_id is None:
            continue
        key = (result.case.chip_id, result.case.category)
        groups.setdefault(key, []).append(abs(result.error_pct))
        groups.setdefault(("all", result.case.category), []).append(abs(result.error_pct))
    return [
        ChipSummary(chip, category, len(errors), mean(errors), max(errors))
        for (chip, category), errors in sorted(
            groups.items(), key=lambda item: (item[0][1], item[0][0] == "all", item[0][0])
        )
    ]
