"""Request traces: CSV (header naming the columns) or JSONL (one object per line).

Columns/keys: `arrival_s` (or `arrival_time`, `timestamp`; seconds), `input_len` (or
`input_tokens`, `prompt_len`), `output_len` (or `output_tokens`). Every problem is a
SpecError naming the file, the line and the field: a malformed line, a missing field, a
non-number, a negative or zero length, a negative arrival time.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.serving.requests import Workload

FIELDS = {
    "arrival_s": ("arrival_s", "arrival_time", "timestamp"),
    "input_len": ("input_len", "input_tokens", "prompt_len"),
    "output_len": ("output_len", "output_tokens"),
}


def _field(record: dict, name: str, file: str, line: int) -> float:
    for alias in FIELDS[name]:
        if alias in record and record[alias] not in (None, ""):
            raw = record[alias]
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise SpecError(
                    f"line {line}: {alias} is not a number: {raw!r}", file=file, key_path=alias
                ) from None
            if name == "arrival_s":
                if value < 0 or value != value:
                    raise SpecError(
                        f"line {line}: {alias} must not be negative, got {raw!r}",
                        file=file,
                        key_path=alias,
                    )
                return value
            if value < 1 or value != int(value):
                raise SpecError(
                    f"line {line}: {alias} must be a positive whole number of tokens, got {raw!r}",
                    file=file,
                    key_path=alias,
                )
            return value
    raise SpecError(
        f"line {line}: missing field {name}",
        file=file,
        key_path=name,
        hint=f"accepted names: {', '.join(FIELDS[name])}",
    )


def _jsonl_records(path: Path) -> list[tuple[int, dict]]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise SpecError(
                    f"line {line_number}: malformed JSON ({error.msg})", file=str(path)
                ) from None
            if not isinstance(record, dict):
                raise SpecError(f"line {line_number}: expected a JSON object", file=str(path))
            records.append((line_number, record))
    return records


def _csv_records(path: Path) -> list[tuple[int, dict]]:
    records = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise SpecError("empty trace", file=str(path)) from None
        for row in reader:
            line_number = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise SpecError(
                    f"line {line_number}: malformed line: {len(row)} fields, "
                    f"the header has {len(header)}",
                    file=str(path),
                )
            records.append((line_number, dict(zip(header, (c.strip() for c in row), strict=True))))
    return records


def read_trace(path: str | Path) -> Workload:
    """A Workload from a CSV or JSONL trace, sorted by arrival time."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("trace file not found", file=str(path), key_path="--trace")
    jsonl = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    records = _jsonl_records(path) if jsonl else _csv_records(path)
    if not records:
        raise SpecError("the trace has no requests", file=str(path))
    file = str(path)
    values = np.array(
        [[_field(r, name, file, line) for name in FIELDS] for line, r in records], dtype=float
    )
    order = np.argsort(values[:, 0], kind="stable")
    values = values[order]
    return Workload(values[:, 0], values[:, 1].astype(np.int64), values[:, 2].astype(np.int64))
