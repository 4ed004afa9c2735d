"""Fit a chip's few calibration terms on its measured GEMM rows (measured.csv only).

The terms (hardware.chip.Calibration) each stand for a mechanism; the fit is coordinate
descent on a grid, minimising the mean absolute % error over the chip's gemm rows. The
memory_bw rows are not used in the fit, so they are a held-out check of the DRAM and host
terms. Run `python -m tigris.validate.calibrate CHIP...` to print fitted values to copy
into the chip's preset YAML (with `fitted_on`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from statistics import mean

import numpy as np

from tigris.hardware.chip import Calibration, Chip
from tigris.hardware.presets import load_chip
from tigris.validate.measured import Case, load_cases, source_label
from tigris.validate.single_chip import evaluate

GRIDS = {
    "matrix_fraction": np.round(np.arange(0.40, 1.001, 0.01), 3),
    "dram_fraction": np.round(np.arange(0.60, 1.001, 0.01), 3),
    "kernel_overhead": np.round(np.arange(0.0, 12.01, 0.25) * 1e-6, 9),
    "host_overhead": np.round(np.arange(0.0, 60.01, 1.0) * 1e-6, 9),
}


def _error(chip: Chip, cases: list[Case]) -> float:
    errors = [evaluate(case, chip).error_pct for case in cases]
    return mean(abs(error) for error in errors if error is not None)


# Below this many rows a chip's fit moves only matrix_fraction: one or two peak-throughput
# rows say nothing about DRAM efficiency or overheads.
MIN_ROWS_FOR_ALL_TERMS = 10


def fit_chip(chip: Chip, cases: list[Case], rounds: int = 3) -> tuple[Calibration, float]:
    """Coordinate descent over the calibration grid; returns the fit and its mean |error| %."""
    current = chip.calibration
    uses_host = any(case.host_timed for case in cases)
    terms = set(GRIDS) if len(cases) >= MIN_ROWS_FOR_ALL_TERMS else {"matrix_fraction"}
    best_error = _error(chip, cases)
    for _ in range(rounds):
        for name, grid in GRIDS.items():
            if name not in terms or (name == "host_overhead" and not uses_host):
                continue
            for value in grid:
                trial = current.model_copy(update={name: float(value)})
                error = _error(chip.model_copy(update={"calibration": trial}), cases)
                if error < best_error - 1e-9:
                    best_error, current = error, trial
    ids = sorted({case.row_id.rsplit("_", 1)[0] for case in cases})
    fitted = current.model_copy(update={"fitted_on": f"measured.csv gemm rows {', '.join(ids)}"})
    return fitted, best_error


@dataclass(frozen=True)
class GemmFit:
    """A chip's calibration and the rows it was fitted on (empty: the default,
    uncalibrated efficiencies, as for a chip never measured)."""

    chip_id: str
    calibration: Calibration
    row_ids: tuple[str, ...]
    error_pct: float | None


def uncalibrated(chip: Chip) -> Chip:
    """The chip with its GEMM calibration terms at their defaults (other fitted
    quantities, such as attention fractions, kept)."""
    default = Calibration()
    update: dict[str, object] = {name: getattr(default, name) for name in GRIDS}
    update["fitted_on"] = None
    return chip.model_copy(update={"calibration": chip.calibration.model_copy(update=update)})


@lru_cache(maxsize=64)
def fit_gemm(chip_id: str, cases: tuple[Case, ...]) -> GemmFit:
    """The chip's calibration fitted from its defaults on `cases` (its gemm rows)."""
    chip = uncalibrated(load_chip(chip_id))
    if not cases:
        return GemmFit(chip_id, chip.calibration, (), None)
    calibration, error = fit_chip(chip, list(cases))
    return GemmFit(chip_id, calibration, tuple(case.row_id for case in cases), error)


def refit_without(
    cases: Iterable[Case], chip_ids: Iterable[str], leave_out: Callable[[Case], bool]
) -> dict[str, GemmFit]:
    """Each chip's calibration re-fitted on its gemm rows among `cases` for which
    `leave_out(case)` is false: the left-out rows never feed the fit."""
    kept: dict[str, list[Case]] = {}
    for case in cases:
        if case.category == "gemm" and case.chip_id and not leave_out(case):
            kept.setdefault(case.chip_id, []).append(case)
    return {chip_id: fit_gemm(chip_id, tuple(kept.get(chip_id, ()))) for chip_id in chip_ids}


def held_out_chip(chip_id: str, holdout: str | None, group: str = "") -> Chip:
    """The chip as a score held out by `holdout` sees it: the preset (None), its GEMM
    calibration re-fitted without the rows of source `group` ("source"), or with no
    calibration at all ("chip": a chip never measured)."""
    chip = load_chip(chip_id)
    if holdout == "chip":
        return chip.model_copy(update={"calibration": Calibration()})
    if holdout == "source":
        fits = refit_without(
            load_cases(), [chip_id], lambda case: source_label(case.source) == group
        )
        return chip.model_copy(update={"calibration": fits[chip_id].calibration})
    return chip


def gemm_cases_for(chip_id: str) -> list[Case]:
    return [case for case in load_cases() if case.chip_id == chip_id and case.category == "gemm"]


def main(argv: list[str]) -> int:
    for chip_id in argv:
        cases = gemm_cases_for(chip_id)
        if not cases:
            print(f"{chip_id}: no gemm rows")
            continue
        fitted, error = fit_chip(load_chip(chip_id), cases)
        print(f"{chip_id}: {len(cases)} rows, mean |error| {error:.2f}%")
        print(f"  calibration: {fitted.model_dump()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
