"""The held-out residuals behind the `interval` of gemm, train, infer, serve and compare.

A query's band comes from the validation rows most like it (issue 14, item 5), so the
residuals of every packaged row are computed once, here, and shipped as
tigris/report/data/prediction_bands.json, which tigris.report.prediction_bands reads (a
table kept outside the model: deleting it removes the bands, never changes a prediction).

Each row of the table is one packaged measured row scored held out, twice:

- `holdout: source`: every fitted quantity re-fitted without the row's publication, as a
  chip with measured rows meets a query nobody measured;
- `holdout: chip`: the row's chip run without its own fit, as an unmeasured chip is.

Its `ratio` is measured / predicted TIME (a rate's ratio inverted), so one band applies to
a time and, inverted, to a rate. Regenerate after any change to a model or a fit:

    python -m tigris.validate.interval_table --write src/tigris/report/data/prediction_bands.json
"""

from __future__ import annotations

import argparse
import datetime
from collections.abc import Callable, Iterable
from pathlib import Path

from tigris.validate.protocol import HOLDOUTS, Scored, read_measured

CATEGORIES = ("gemm", "train", "infer")
ROW_CATEGORIES = {
    "gemm": ("gemm",),
    "train": ("train_cluster",),
    "infer": ("infer_chip", "infer_cluster"),
}


def is_time_metric(metric: str) -> bool:
    """Whether a validation metric is a duration (time_s, first_token_latency); the others
    are rates (flop_per_s, tokens_per_s, output_throughput), whose names may end in '_s'."""
    if "per_s" in metric or "throughput" in metric:
        return False
    return metric.endswith("_s") or "latency" in metric or "time" in metric


def time_ratio(row: Scored) -> float | None:
    """Measured / predicted time of a held-out row; None without a usable prediction."""
    predicted = row.predicted_held_out
    if not predicted or row.memory_failure or row.case.measured <= 0 or predicted <= 0:
        return None
    if is_time_metric(row.case.metric):
        return row.case.measured / predicted
    return predicted / row.case.measured


def _scored(category: str, holdout: str) -> list[Scored]:
    """The packaged rows of `category` scored held out by `holdout`."""
    if category == "gemm":
        from tigris.validate.gemm import validate_gemm

        return [row for row in validate_gemm(holdout=holdout).scored if row.case.category == "gemm"]
    if category == "train":
        from tigris.validate.train_protocol import validate_train_protocol

        return validate_train_protocol(holdout=holdout).scored
    from tigris.validate.infer_protocol import validate_infer_protocol

    return validate_infer_protocol(holdout=holdout).scored


def _precisions(category: str) -> dict[str, str]:
    """Row id -> the row's precision column (empty where the row does not state it)."""
    rows = read_measured(None, ROW_CATEGORIES[category])
    return {row["id"]: (row.get("precision") or "").strip().lower() for row in rows}


def _vendor(chip_id: str | None, cache: dict[str, str]) -> str:
    if not chip_id:
        return ""
    if chip_id not in cache:
        from tigris.hardware.presets import load_chip

        cache[chip_id] = load_chip(chip_id).vendor.lower()
    return cache[chip_id]


def table_rows(category: str, holdout: str, scored: Iterable[Scored]) -> list[dict]:
    """One table row per scored row with a usable held-out prediction."""
    precisions = _precisions(category)
    vendors: dict[str, str] = {}
    out = []
    for row in scored:
        ratio = time_ratio(row)
        if ratio is None:
            continue
        out.append(
            {
                "category": category,
                "holdout": holdout,
                "id": row.case.id,
                "source": row.case.source,
                "chip": row.case.chip or "",
                "vendor": _vendor(row.case.chip, vendors),
                "precision": precisions.get(row.case.id, ""),
                "ratio": round(ratio, 6),
            }
        )
    return out


def build_table(progress: Callable[[str], None] | None = None) -> dict:
    """The whole table: every category, both holdouts, with its provenance."""
    rows: list[dict] = []
    for category in CATEGORIES:
        for holdout in HOLDOUTS:
            if progress:
                progress(f"{category} held out by {holdout}")
            rows += table_rows(category, holdout, _scored(category, holdout))
    return {
        "about": "held-out measured/predicted time ratios of the packaged validation rows "
        "(tigris.validate.interval_table); read by tigris.report.prediction_bands",
        "generated": datetime.date.today().isoformat(),
        "rows": rows,
    }


def _one_row_per_line(table: dict) -> str:
    """The table as JSON with one row per line, so a regeneration diffs row by row."""
    import json

    head = {key: value for key, value in table.items() if key != "rows"}
    rows = ",\n".join(json.dumps(row, separators=(",", ":")) for row in table["rows"])
    return json.dumps(head)[:-1] + ', "rows": [\n' + rows + "\n]}\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m tigris.validate.interval_table --write PATH`: regenerate the table."""
    from tigris.io.output import check_output_path, write_output

    parser = argparse.ArgumentParser(prog="python -m tigris.validate.interval_table")
    parser.add_argument("--write", metavar="PATH", required=True, help="prediction_bands.json")
    args = parser.parse_args(argv)
    check_output_path(Path(args.write), option="--write")
    table = build_table(progress=lambda step: print(step, flush=True))
    write_output(Path(args.write), _one_row_per_line(table), option="--write")
    print(f"{len(table['rows'])} rows -> {args.write}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
