"""The validation protocol: one case type, fitting kept apart from scoring, two columns.

Every measured row becomes a `ValidationCase` (what was measured, on what, by whom, and
whether any fitted quantity was fitted on it) or an `Unmapped` row with the reason; no row
is dropped. A `Scored` row carries two predictions:

- in-sample: the model as shipped, whose fitted quantities (chip calibrations, the host
  paths of a harness) may have been fitted on this very row;
- held-out: the same model with every fitted quantity re-fitted without the row's group
  (its source, or its chip: `--holdout source|chip`), so no measured value of the group
  feeds its own prediction. A chip left with no fit rows runs on the default, uncalibrated
  efficiencies, as a new chip would.

Group figures are mean absolute % errors (MAPE) in both columns. A chip with fewer than
`MIN_ROWS_FOR_ERROR` rows is "calibration input": its few rows pin its calibration, and
their in-sample error says nothing about accuracy.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from statistics import mean

from tigris.errors import SpecError

HOLDOUTS = ("source", "chip")
MIN_ROWS_FOR_ERROR = 5
CALIBRATION_INPUT = "calibration input"
# Columns of shared/data/calibration/measured.csv every row needs; the columns each
# category reads on top of these are listed in docs/validation.md.
REQUIRED_COLUMNS = (
    "id", "source", "category", "hardware", "num_chips", "model", "metric_name",
    "metric_value", "metric_unit", "notes",
)  # fmt: skip
CATEGORY_COLUMNS = {
    "gemm": ("precision",),
    "memory_bw": (),
    "train_cluster": (
        "source_locator", "layers", "hidden", "heads", "ffn_hidden", "vocab", "seq_len",
        "global_batch_tokens_or_seqs", "tp", "pp", "dp", "precision",
    ),
    "infer_chip": ("tp", "precision", "seq_len", "global_batch_tokens_or_seqs"),
    "infer_cluster": ("tp", "precision", "seq_len", "global_batch_tokens_or_seqs"),
}  # fmt: skip


@dataclass(frozen=True)
class ValidationCase:
    """One measured row as the protocol sees it. `inputs` is what the predictor reads
    (ops, a training setup, a serving setup); `fitted` says whether a fitted quantity of
    the shipped model was fitted on this row."""

    id: str
    source: str
    chip: str | None
    category: str
    inputs: object = field(compare=False, repr=False)
    measured: float = 0.0
    fitted: bool = False
    metric: str = ""


@dataclass(frozen=True)
class Unmapped:
    id: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "reason": self.reason}


@dataclass(frozen=True)
class Scored:
    """A case with its in-sample and held-out predictions (None: no prediction, `note`
    says why; a memory-model failure counts as a 100 % error, see error_pct)."""

    case: ValidationCase
    predicted: float | None
    predicted_held_out: float | None
    note: str | None = None
    memory_failure: bool = False
    interval: dict[str, object] | None = None

    def error_pct(self, held_out: bool = False) -> float | None:
        if self.memory_failure:
            return -100.0  # the model says the run cannot happen: zero throughput
        value = self.predicted_held_out if held_out else self.predicted
        if value is None:
            return None
        return (value - self.case.measured) / self.case.measured * 100.0

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.case.id,
            "source": self.case.source,
            "chip": self.case.chip,
            "category": self.case.category,
            "metric": self.case.metric,
            "measured": self.case.measured,
            "predicted": self.predicted,
            "predicted_held_out": self.predicted_held_out,
            "error_pct": self.error_pct(),
            "error_pct_held_out": self.error_pct(held_out=True),
            "fitted": self.case.fitted,
            "memory_failure": self.memory_failure,
            "note": self.note,
            "interval": self.interval,
        }


INTERVAL_COVERAGE = 0.8
MIN_RESIDUALS = 5


def _quantile(values: list[float], q: float) -> float:
    """Linear-interpolated quantile of sorted `values`."""
    position = q * (len(values) - 1)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def attach_intervals(scored: list[Scored], holdout: str) -> list[Scored]:
    """Each row with an INTERVAL_COVERAGE band around its held-out prediction, from the
    held-out ratios measured / predicted of the rows of its category in OTHER groups (so
    neither the row nor its source or chip shapes its own band); None with fewer than
    MIN_RESIDUALS such rows."""
    ratios = [
        (row.case.category, group_of(row.case, holdout), row.case.measured / row.predicted_held_out)
        for row in scored
        if row.predicted_held_out and not row.memory_failure
    ]
    tail = (1.0 - INTERVAL_COVERAGE) / 2.0
    out = []
    for row in scored:
        group = group_of(row.case, holdout)
        others = sorted(r for c, g, r in ratios if c == row.case.category and g != group)
        interval = None
        if row.predicted_held_out and len(others) >= MIN_RESIDUALS:
            interval = {
                "metric": row.case.metric,
                "low": row.predicted_held_out * _quantile(others, tail),
                "high": row.predicted_held_out * _quantile(others, 1.0 - tail),
                "coverage": INTERVAL_COVERAGE,
                "basis": f"held-out {row.case.category} rows of other {holdout}s ({len(others)})",
            }
        out.append(dataclasses.replace(row, interval=interval))
    return out


def _covered(row: Scored) -> bool | None:
    if row.interval is None:
        return None
    return row.interval["low"] <= row.case.measured <= row.interval["high"]  # type: ignore[operator]


def check_holdout(holdout: str) -> str:
    if holdout not in HOLDOUTS:
        raise SpecError(
            f"unknown holdout {holdout!r}", key_path="--holdout", hint=" | ".join(HOLDOUTS)
        )
    return holdout


def group_of(case: ValidationCase, holdout: str) -> str:
    """The group a row is held out with: its source or its chip."""
    return case.source if holdout == "source" else (case.chip or "?")


def _mape(errors: list[float | None]) -> float | None:
    values = [abs(e) for e in errors if e is not None]
    return mean(values) if values else None


def summarize_by_category(scored: Iterable[Scored]) -> list[dict[str, object]]:
    """summarize_groups for each category's rows, each group tagged with its category."""
    rows = list(scored)
    out = []
    for category in sorted({row.case.category for row in rows}):
        members = [row for row in rows if row.case.category == category]
        out += [{"category": category} | group for group in summarize_groups(members)]
    return out


def summarize_groups(scored: Iterable[Scored]) -> list[dict[str, object]]:
    """Per source and per chip (and all rows): rows, in-sample and held-out MAPE, memory
    failures; a chip with fewer than MIN_ROWS_FOR_ERROR rows, fitted on, is 'calibration
    input' (no in-sample figure)."""
    rows = list(scored)
    groups: dict[tuple[str, str], list[Scored]] = {("all", "all"): rows}
    for row in rows:
        groups.setdefault(("source", row.case.source), []).append(row)
        groups.setdefault(("chip", row.case.chip or "?"), []).append(row)
    out = []
    for (kind, name), members in sorted(groups.items(), key=lambda item: item[0]):
        summary: dict[str, object] = {
            "group": kind,
            "name": name,
            "rows": len(members),
            "fitted_rows": sum(m.case.fitted for m in members),
            "memory_failures": sum(m.memory_failure for m in members),
            "in_sample_mape": _mape([m.error_pct() for m in members]),
            "held_out_mape": _mape([m.error_pct(held_out=True) for m in members]),
            "interval_coverage": _coverage(members),
            "status": None,
        }
        if kind == "chip" and len(members) < MIN_ROWS_FOR_ERROR and summary["fitted_rows"]:
            summary |= {"status": CALIBRATION_INPUT, "in_sample_mape": None}
        out.append(summary)
    return out


def _coverage(members: list[Scored]) -> float | None:
    """Share of the rows with an interval whose measurement falls inside it."""
    inside = [c for c in (_covered(m) for m in members) if c is not None]
    return sum(inside) / len(inside) if inside else None


def default_measured_csv() -> Path:
    return Path(str(resources.files("tigris.validate").joinpath("data", "measured.csv")))


def read_measured(path: Path | None, categories: Iterable[str]) -> list[dict[str, str]]:
    """The rows of `categories` in a CSV of measured.csv's schema (default: the packaged
    copy). A missing column or a non-numeric metric_value is a SpecError naming the file,
    the line and the column."""
    wanted = set(categories)
    shown = str(path) if path is not None else "measured.csv"
    try:
        with open(path or default_measured_csv(), newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise SpecError(f"cannot read: {error}", file=shown, key_path="--data") from None
    _check_columns(header, REQUIRED_COLUMNS, shown)
    selected = [row for row in rows if row["category"] in wanted]
    for category in sorted({row["category"] for row in selected}):
        _check_columns(header, CATEGORY_COLUMNS.get(category, ()), shown)
    for line, row in enumerate(rows, start=2):
        if row["category"] in wanted:
            _check_number(row, "metric_value", shown, line)
    return selected


def _check_columns(header: list[str], needed: Iterable[str], shown: str) -> None:
    missing = [column for column in needed if column not in header]
    if missing:
        raise SpecError(
            f"missing column(s) {', '.join(missing[:5])}",
            file=shown,
            key_path="--data",
            hint="the columns of shared/data/calibration/measured.csv (docs/validation.md)",
        )


def _check_number(row: dict[str, str], column: str, shown: str, line: int) -> None:
    text = row.get(column) or ""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise SpecError(
            f"line {line}: column {column} must be a positive number, got {text[:40]!r}",
            file=shown,
            key_path="--data",
        )


def map_rows(
    rows: Iterable[dict[str, str]], mapper: Callable[[dict[str, str]], object]
) -> tuple[list[object], list[Unmapped]]:
    """`mapper(row)` for every row; a row it cannot map (it returns a str reason, or the
    row's free-text fields do not parse) is listed with the reason."""
    mapped: list[object] = []
    unmapped: list[Unmapped] = []
    for row in rows:
        try:
            result = mapper(row)
        except (AttributeError, KeyError, ValueError, IndexError, TypeError) as error:
            # a row whose notes or shape columns do not parse: listed, never dropped
            unmapped.append(Unmapped(row["id"], f"cannot read its setup: {error!s:.80}"))
            continue
        if isinstance(result, str):
            unmapped.append(Unmapped(row["id"], result))
        else:
            mapped.append(result)
    return mapped, unmapped
