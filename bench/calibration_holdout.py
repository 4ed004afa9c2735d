"""Held-out check of the calibration: fit a chip on one source, score it on the others.

The presets' calibration is fitted on all of a chip's gemm rows; this asks how well the
mechanisms carry to measurements the fit never saw (DESIGN.md section 7: other
measurements exist that we do not see). Prints mean |error| % in and out of sample.
Run: .venv/bin/python bench/calibration_holdout.py   (about a minute)
"""

from __future__ import annotations

from statistics import mean

from tigris.hardware.chip import Calibration
from tigris.hardware.presets import load_chip
from tigris.validate.calibrate import fit_chip, gemm_cases_for
from tigris.validate.single_chip import evaluate


def source_of(row_id: str) -> str:
    return row_id.rsplit("_", 1)[0]


def main() -> None:
    for chip_id in ("h100-sxm", "a100-sxm-80gb"):
        cases = gemm_cases_for(chip_id)
        sources = sorted({source_of(case.row_id) for case in cases})
        for held_out in sources:
            train = [case for case in cases if source_of(case.row_id) != held_out]
            test = [case for case in cases if source_of(case.row_id) == held_out]
            if len(train) < 10:
                continue
            chip = load_chip(chip_id).model_copy(update={"calibration": Calibration()})
            fitted, train_error = fit_chip(chip, train)
            chip = chip.model_copy(update={"calibration": fitted})
            test_error = mean(abs(evaluate(case, chip).error_pct) for case in test)
            print(
                f"{chip_id:>14}: fit without {held_out:<15} ({len(train):3d} rows) "
                f"in-sample {train_error:5.1f}%  held-out {held_out} ({len(test):3d} rows) {test_error:5.1f}%"
            )


if __name__ == "__main__":
    main()
