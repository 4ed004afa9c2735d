"""Request traces: CSV (header naming the columns) or JSONL (one object per line).

Columns/keys: `arrival_s` (or `arrival_time`, `timestamp`; seconds), `input_len` (or
`input_tokens`, `prompt_len`), `output_len` (or `output_tokens`). Every problem is a
SpecError naming the file, the line and the field: a file that is not text, a header
without a needed column, a malformed line, a missing field, a non-number, a length that
is not a whole number from 1 to MAX_TOKENS (negative, zero, NaN, huge), an arrival time
that is negative or not finite.
"""

from __future__ import annotations

import csv
import json
import math
import stat
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.serving.requests import Workload

FIELDS = {
    "arrival_s": ("arrival_s", "arrival_time", "timestamp"),
    "input_len": ("input_len", "input_tokens", "prompt_len"),
    "output_len": ("output_len", "output_tokens"),
}


MAX_TOKENS = 2**31 - 1
"""The longest prompt or output a trace may give (beyond any model's context; a bound that
keeps token counts exact in int64 arithmetic)."""


def _quote(value: object, limit: int = 60) -> str:
    """A value from the trace as a message quotes it: short, never a whole structure."""
    if isinstance(value, (dict, list)):
        return f"a JSON {'object' if isinstance(value, dict) else 'list'}"
    text = repr(value[: limit + 2] if isinstance(value, str) else value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _field(record: dict, name: str, file: str, line: int) -> float:
    for alias in FIELDS[name]:
        if alias in record and record[alias] not in (None, ""):
            raw = record[alias]
            try:
                if isinstance(raw, bool):  # JSON true would read as 1 token
                    raise TypeError(raw)
                value = float(raw)
            except (TypeError, ValueError, OverflowError):
                raise SpecError(
                    f"line {line}: {alias} is not a number: {_quote(raw)}",
                    file=file,
                    key_path=alias,
                ) from None
            if name == "arrival_s":
                if not (math.isfinite(value) and value >= 0):
                    raise SpecError(
                        f"line {line}: {alias} must be a finite time of at least 0 s, "
                        f"got {_quote(raw)}",
                        file=file,
                        key_path=alias,
                    )
                return value
            if not (math.isfinite(value) and 1 <= value <= MAX_TOKENS and value == int(value)):
                raise SpecError(
                    f"line {line}: {alias} must be a whole number of tokens from 1 to "
                    f"{MAX_TOKENS}, got {_quote(raw)}",
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


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict]]:
    # utf-8-sig: a byte-order mark (as Windows editors write) is not part of the first line
    with path.open(encoding="utf-8-sig") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as error:
                # ValueError beyond JSONDecodeError: an integer of more than 4300 digits
                reason = (
                    error.msg
                    if isinstance(error, json.JSONDecodeError)
                    else "nested"
                    if isinstance(error, RecursionError)
                    else "a number too long"
                )
                raise SpecError(
                    f"line {line_number}: malformed JSON ({reason})", file=str(path)
                ) from None
            if not isinstance(record, dict):
                raise SpecError(f"line {line_number}: expected a JSON object", file=str(path))
            yield line_number, record


def _csv_records(path: Path) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise SpecError("empty trace", file=str(path)) from None
        missing = [name for name, aliases in FIELDS.items() if not set(aliases) & set(header)]
        if missing:
            raise SpecError(
                f"line 1: the header names no {' or '.join(missing)} column, "
                f"got {_quote(', '.join(header))}",
                file=str(path),
                hint="; ".join(f"{name}: {', '.join(FIELDS[name])}" for name in missing),
            )
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
            yield line_number, dict(zip(header, (c.strip() for c in row), strict=True))


def count_lines(path: str | Path) -> int:
    """Lines in the file (an upper bound on its requests), read in blocks: nothing of the
    file is kept, so a trace too big for memory can be refused before it is parsed."""
    path = Path(path)
    _require_file(path)
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
    return lines + (last != b"\n")


def _require_file(path: Path) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError("trace file not found", file=str(path), key_path="--trace") from None
    except OSError as error:  # a symbolic link loop, a name too long, no permission
        raise SpecError(
            f"cannot read the trace: {error.strerror}", file=str(path), key_path="--trace"
        ) from None
    if stat.S_ISDIR(info.st_mode):
        raise SpecError("is a directory; give a trace file", file=str(path), key_path="--trace")
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(
            "is not a regular file (a device, pipe or socket); give a trace file",
            file=str(path),
            key_path="--trace",
        )


def read_trace(path: str | Path) -> Workload:
    """A Workload from a CSV or JSONL trace, sorted by arrival time."""
    path = Path(path)
    _require_file(path)
    jsonl = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    file = str(path)
    # 8-byte columns filled line by line: no per-request Python object is kept
    columns = {name: array("d") for name in FIELDS}
    try:
        for line, record in _jsonl_records(path) if jsonl else _csv_records(path):
            for name, column in columns.items():
                column.append(_field(record, name, file, line))
    except UnicodeDecodeError as error:
        raise SpecError(
            f"not a text file (byte {error.start} is not UTF-8); a trace is CSV or JSONL",
            file=file,
            key_path="--trace",
        ) from None
    except csv.Error as error:
        raise SpecError(f"not a CSV trace: {error}", file=file, key_path="--trace") from None
    if not columns["arrival_s"]:
        raise SpecError("the trace has no requests", file=file)
    arrival, inputs, outputs = (np.frombuffer(columns[name]) for name in FIELDS)
    order = np.argsort(arrival, kind="stable")
    return Workload(arrival[order], inputs[order].astype(np.int64), outputs[order].astype(np.int64))
