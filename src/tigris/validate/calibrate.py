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
from pathlib import Path
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


def fitted_terms(cases: list[Case]) -> set[str]:
    """The calibration terms the rows can tell apart (the others keep their defaults):
    matrix_fraction always, host_overhead only from host-timed rows, the rest from
    MIN_ROWS_FOR_ALL_TERMS rows (one or two peak-throughput rows say nothing about DRAM
    efficiency or overheads)."""
    terms = {"matrix_fraction"}
    if any(case.host_timed for case in cases):
        terms.add("host_overhead")
    if len(cases) >= MIN_ROWS_FOR_ALL_TERMS:
        terms |= {"dram_fraction", "kernel_overhead"}
    return terms


def fit_chip(
    chip: Chip,
    cases: list[Case],
    rounds: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Calibration, float]:
    """Coordinate descent over the calibration grid; returns the fit and its mean |error| %.
    `progress(done, total)` hears of each term's sweep."""
    current = chip.calibration
    terms = fitted_terms(cases)
    best_error = _error(chip, cases)
    sweeps = [name for _ in range(rounds) for name in GRIDS]
    for done, name in enumerate(sweeps):
        if progress is not None:
            progress(done, len(sweeps))
        grid = GRIDS[name]
        if name in terms:
            for value in grid:
                trial = current.model_copy(update={name: float(value)})
                error = _error(chip.model_copy(update={"calibration": trial}), cases)
                if error < best_error - 1e-9:
                    best_error, current = error, trial
    if progress is not None:
        progress(len(sweeps), len(sweeps))
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


# Presets whose GEMM calibration block is copied from another chip's fit rather than fitted
# on their own rows (the preset's fitted_on says so): H200 is the GH100 die of H100 at the
# same tensor clock (h200-sxm.yaml; ml-engineering's MAMF table notes "H200 is the same").
CALIBRATION_TAKEN_FROM = {"h200-sxm": "h100-sxm"}


@lru_cache(maxsize=128)
def calibration_donor(chip_id: str) -> str:
    """The chip on whose gemm rows the preset's GEMM calibration is fitted: the chip itself
    where its file has a `calibration:` block of its own, else the `base:` chip it inherits
    the block from (GB200 from B200, H100 NVL from H100 SXM), or CALIBRATION_TAKEN_FROM.
    A chip's rows are fitted rows only where it is its own donor."""
    import yaml

    from tigris.hardware.presets import chip_path

    if chip_id in CALIBRATION_TAKEN_FROM:
        return calibration_donor(CALIBRATION_TAKEN_FROM[chip_id])
    data = yaml.safe_load(chip_path(chip_id).read_text(encoding="utf-8")) or {}
    base = data.get("base")
    if "calibration" in data or not isinstance(base, str) or "/" in base or "." in base:
        return chip_id
    return calibration_donor(base)


def refit_without(
    cases: Iterable[Case], chip_ids: Iterable[str], leave_out: Callable[[Case], bool]
) -> dict[str, GemmFit]:
    """Each chip's calibration re-fitted as its preset's is (on its donor's gemm rows,
    calibration_donor) on the rows among `cases` for which `leave_out(case)` is false: the
    left-out rows never feed the fit."""
    kept: dict[str, list[Case]] = {}
    for case in cases:
        if case.category == "gemm" and case.chip_id and not leave_out(case):
            kept.setdefault(case.chip_id, []).append(case)
    fits = {}
    for chip_id in chip_ids:
        donor = calibration_donor(chip_id)
        fits[chip_id] = fit_gemm(donor, tuple(kept.get(donor, ())))
    return fits


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


# ---- a user's own rows: `tigris calibrate CHIP --data FILE.csv -o my-chip.yaml` --------

# Fewer rows than this pin a calibration to the rows (the prediction becomes the
# measurement) and say nothing about the chip: the protocol's "calibration input" bound.
MIN_USER_ROWS = 5
USER_CATEGORIES = ("gemm", "memory_bw")


@dataclass(frozen=True)
class UserFit:
    """A chip's calibration fitted on a user's rows, and what it was fitted on."""

    base: Chip
    calibration: Calibration
    data: str
    row_ids: tuple[str, ...]
    error_pct: float
    date: str

    def preset(self, chip_id: str, base: str | None = None) -> dict[str, object]:
        """The chip YAML's mapping: `base:` the chip (its id, or `base`: the path of its
        file relative to the YAML's folder), the fitted terms, the provenance."""
        c = self.calibration
        return {
            "base": base or self.base.id,
            "id": chip_id,
            "name": f"{self.base.name} (calibrated on {Path(self.data).name})",
            "calibration": {
                "matrix_fraction": c.matrix_fraction,
                "dram_fraction": c.dram_fraction,
                "kernel_overhead": f"{c.kernel_overhead * 1e6:g} us",
                "host_overhead": f"{c.host_overhead * 1e6:g} us",
                "fitted_on": c.fitted_on,
            },
            "sources": {
                "calibration": f"{self.data}, {len(self.row_ids)} rows: "
                f"{', '.join(self.row_ids)} (tigris calibrate, {self.date})"
            },
        }


def user_cases(chip: Chip, data: Path) -> list[Case]:
    """The gemm and memory_bw rows of `data` measured on `chip` (its hardware maps to the
    chip's id); SpecError naming --data when fewer than MIN_USER_ROWS."""
    from tigris.errors import SpecError
    from tigris.validate.measured import case_or_reason
    from tigris.validate.protocol import map_rows, read_measured

    mapped, unmapped = map_rows(read_measured(data, USER_CATEGORIES), case_or_reason)
    cases = [case for case in mapped if case.chip_id == chip.id]  # type: ignore[attr-defined]
    if len(cases) < MIN_USER_ROWS:
        raise SpecError(
            f"{len(cases)} gemm/memory_bw rows on {chip.id} ({len(unmapped)} unreadable); "
            f"a fit needs at least {MIN_USER_ROWS}",
            file=str(data),
            key_path="--data",
            hint="rows whose hardware column names the chip (docs/validation.md)",
        )
    return cases  # type: ignore[return-value]


def fit_user_rows(
    chip: Chip, data: Path, progress: Callable[[int, int], None] | None = None
) -> UserFit:
    """The chip's GEMM calibration re-fitted from the defaults on the user's rows (the
    fitter of the packaged presets, fit_chip; memory_bw rows join the fit here)."""
    from datetime import date

    cases = user_cases(chip, data)
    calibration, error = fit_chip(uncalibrated(chip), cases, progress=progress)
    ids = tuple(case.row_id for case in cases)
    today = date.today().isoformat()
    fitted_on = (
        f"{data} rows {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''} "
        f"({len(ids)} rows; mean |error| {error:.1f}%; tigris calibrate {today})"
    )
    calibration = calibration.model_copy(update={"fitted_on": fitted_on})
    return UserFit(chip, calibration, str(data), ids, error, today)


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
