"""The 80 % `interval` next to a headline figure of gemm, train, infer, serve and compare.

The band is the figure times the 10th and 90th percentiles of measured / predicted over
the held-out validation rows most like the query (data/prediction_bands.json, written by
`python -m tigris.validate.interval_table --write ...`; read its notes):

1. the pool: a chip whose efficiencies were fitted on measurements takes the rows held out
   by source (its fit re-done without the row's publication); a chip with none (TPU v7,
   Maia, Trainium, tigris-1, a user's design) takes the rows held out by chip, each chip run
   on the default efficiencies as it is, which gives it the wider band it deserves;
2. within the pool, the first of: the same chip and precision class, the same chip, the
   same vendor and precision class, the same vendor, every row, that has MIN_BAND_ROWS;
3. an unmeasured chip's band is never narrower than the fitted chips' band over every row
   of the category (the union of the two), so a default efficiency never looks surer than
   a measured one.

The table is data kept outside the model: without it every interval is None and no
prediction changes.
"""

from __future__ import annotations

import json
import statistics
from functools import cache
from importlib import resources

COVERAGE = 0.8
MIN_BAND_ROWS = 10
PRECISION_CLASSES = {
    "bf16": "16-bit", "fp16": "16-bit", "bfloat16": "16-bit", "float16": "16-bit",
    "fp8": "8-bit float", "e4m3": "8-bit float", "fp8_e4m3": "8-bit float", "e5m2": "8-bit float",
    "fp4": "4-bit float", "nvfp4": "4-bit float", "mxfp4": "4-bit float",
    "fp32": "32-bit", "tf32": "32-bit", "int8": "int8", "int4": "int4",
}  # fmt: skip


def precision_class(precision: str | None) -> str:
    """The class a precision's rows are compared in ('bf16' and 'fp16' are one)."""
    name = (precision or "").strip().lower()
    return PRECISION_CLASSES.get(name, name)


@cache
def _table() -> tuple[dict, ...]:
    path = resources.files("tigris.report").joinpath("data", "prediction_bands.json")
    if not path.is_file():
        return ()
    return tuple(json.loads(path.read_text(encoding="utf-8"))["rows"])


def _similar_rows(pool: list[dict], chip_id: str, vendor: str, precision: str) -> tuple:
    """The first subset of `pool` (most alike first) with MIN_BAND_ROWS rows, and its name."""
    wanted = precision_class(precision)
    subsets = (
        (f"chip {chip_id}, {wanted}", lambda r: r["chip"] == chip_id and _same_class(r, wanted)),
        (f"chip {chip_id}", lambda r: r["chip"] == chip_id),
        (f"{vendor} chips, {wanted}", lambda r: r["vendor"] == vendor and _same_class(r, wanted)),
        (f"{vendor} chips", lambda r: r["vendor"] == vendor),
        ("all chips", lambda r: True),
    )
    for name, keep in subsets:
        rows = [row for row in pool if keep(row)]
        if len(rows) >= MIN_BAND_ROWS:
            return name, rows
    return "", []


def _pool(category: str, holdout: str) -> list[dict]:
    return [r for r in _table() if r["category"] == category and r["holdout"] == holdout]


def _deciles(rows: list[dict]) -> tuple[float, float]:
    """The (1 - COVERAGE) / 2 and (1 + COVERAGE) / 2 quantiles of the rows' ratios."""
    tail = (1.0 - COVERAGE) / 2.0
    cuts = statistics.quantiles([row["ratio"] for row in rows], n=round(1 / tail), method="inclusive")  # fmt: skip
    return cuts[0], cuts[-1]


def _same_class(row: dict, wanted: str) -> bool:
    return bool(wanted) and precision_class(row["precision"]) == wanted


def prediction_band(
    category: str,
    value: float,
    *,
    metric: str,
    chip_id: str,
    vendor: str,
    fitted: bool,
    precision: str | None = None,
    rate: bool = False,
) -> dict[str, object] | None:
    """The COVERAGE band of `value` (a time, or a rate when `rate`) for a query of
    `category` (gemm, train, infer) on `chip_id`; `fitted` says whether the chip's
    efficiencies were fitted on measurements. None without enough held-out rows."""
    if value is None or not value > 0:
        return None
    holdout = "source" if fitted else "chip"
    name, rows = _similar_rows(_pool(category, holdout), chip_id, vendor.lower(), precision or "")
    if not rows:
        return None
    low, high = _deciles(rows)
    if not fitted:  # never narrower than a fitted chip's band over every chip
        measured_low, measured_high = _deciles(_pool(category, "source"))
        low, high = min(low, measured_low), max(high, measured_high)
    if rate:  # the ratios are of times: a rate's band is the time band inverted
        low, high = 1.0 / high, 1.0 / low
    state = "chip fitted" if fitted else "chip unmeasured"
    return {
        "metric": metric,
        "low": value * low,
        "high": value * high,
        "coverage": COVERAGE,
        "basis": f"held-out {category} rows by {holdout}, {name}, {state} ({len(rows)} rows)",
    }


def chip_band(
    category: str,
    value: float,
    chip: object,
    *,
    metric: str,
    precision: str | None = None,
    rate: bool = False,
) -> dict[str, object] | None:
    """prediction_band for a chip spec: fitted when its calibration records fit rows."""
    fitted = bool(getattr(chip.calibration, "fitted_on", None))  # type: ignore[attr-defined]
    return prediction_band(
        category,
        value,
        metric=metric,
        chip_id=chip.id,  # type: ignore[attr-defined]
        vendor=chip.vendor,  # type: ignore[attr-defined]
        fitted=fitted,
        precision=precision,
        rate=rate,
    )
