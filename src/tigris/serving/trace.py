"""Request traces: the formats production traces are published in, detected from the header.

- `tigris` (CSV with a header, or JSONL): `arrival_s` (or `arrival_time`, `timestamp`;
  seconds), `input_len` (or `input_tokens`, `prompt_len`), `output_len` (or
  `output_tokens`).
- `azure`: the Azure LLM inference traces, 2023 (Splitwise, Patel et al. ISCA 2024) and
  2024 (DynamoLLM, Stojkovic et al. HPCA 2025), github.com/Azure/AzurePublicDataset
  (AzureLLMInferenceDataset2023.md, AzureLLMInferenceDataset2024.md): CSV
  `TIMESTAMP,ContextTokens,GeneratedTokens`, TIMESTAMP an ISO date and time (2023:
  `2023-11-16 18:17:03.9799600`; 2024: `2024-05-10 00:00:00.009930+00:00`).
- `mooncake`: JSONL as Mooncake publishes (github.com/kvcache-ai/Mooncake, FAST'25
  traces): `timestamp` (milliseconds), `input_length`, `output_length`, `hash_ids` (one
  id per MOONCAKE_BLOCK_TOKENS tokens of the prompt; equal ids = a shared prefix).
- `burstgpt`: BurstGPT (github.com/HPMLL/BurstGPT, Wang et al. 2024) CSV `Timestamp,
  Model,Request tokens,Response tokens,Total tokens,Log Type`, Timestamp in seconds.
  Its README: rows whose `Response tokens` are 0 are failed requests; they are dropped.
Azure, Mooncake and BurstGPT arrivals start at 0 (the first request's time is subtracted).

The shipped traces are usable by name (SHIPPED_TRACES: `azure-code`, `azure-conv`).
Every problem is a SpecError naming the file, the line and the column: a file that is not
text, a header without a needed column, a malformed line, a missing field, a non-number,
a length that is not a whole number from 1 to MAX_TOKENS, an arrival time that is
negative or not finite, a bad date, hash ids that are not a list of integers.
"""

from __future__ import annotations

import csv
import json
import math
import stat
from array import array
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np

from tigris.errors import SpecError
from tigris.serving.requests import Workload

# per format: where each quantity is (accepted column names, first match wins)
FORMATS: dict[str, dict[str, tuple[str, ...]]] = {
    "tigris": {
        "arrival_s": ("arrival_s", "arrival_time", "timestamp"),
        "input_len": ("input_len", "input_tokens", "prompt_len"),
        "output_len": ("output_len", "output_tokens"),
    },
    "azure": {
        "arrival_s": ("TIMESTAMP",),
        "input_len": ("ContextTokens",),
        "output_len": ("GeneratedTokens",),
    },
    "mooncake": {
        "arrival_s": ("timestamp",),
        "input_len": ("input_length",),
        "output_len": ("output_length",),
    },
    "burstgpt": {
        "arrival_s": ("Timestamp",),
        "input_len": ("Request tokens",),
        "output_len": ("Response tokens",),
    },
}
TRACE_FORMATS = ("auto", *FORMATS)
FIELDS = FORMATS["tigris"]
TIME_SCALE = {"mooncake": 1e-3}  # milliseconds
MOONCAKE_BLOCK_TOKENS = 512  # tokens per hash id (Mooncake trace; Dynamo data_generator README)
BURSTGPT_FAILED = 0  # Response tokens of a failed request (BurstGPT README)

SHIPPED_DIR = Path(__file__).parent / "data" / "traces"
SHIPPED_TRACES = {
    "azure-code": "azure-llm-2023-code.csv",
    "azure-conv": "azure-llm-2023-conv.csv",
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


def _iso_seconds(raw: object, alias: str, file: str, line: int) -> float:
    """Seconds since the epoch of an ISO date and time (any digits of fraction, an
    optional UTC offset; a time without one is read as UTC)."""
    try:
        moment = datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise SpecError(
            f"line {line}: {alias} is not a date and time: {_quote(raw)}",
            file=file,
            key_path=alias,
            hint="as the Azure traces write it: 2023-11-16 18:17:03.9799600",
        ) from None
    if moment.tzinfo is None:
        return (moment - datetime(1970, 1, 1)).total_seconds()
    return moment.timestamp()


def _number(raw: object, alias: str, file: str, line: int) -> float:
    try:
        if isinstance(raw, bool):  # JSON true would read as 1 token
            raise TypeError(raw)
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise SpecError(
            f"line {line}: {alias} is not a number: {_quote(raw)}", file=file, key_path=alias
        ) from None


def _field(record: dict, name: str, file: str, line: int, fmt: str = "tigris") -> float:
    for alias in FORMATS[fmt][name]:
        if alias in record and record[alias] not in (None, ""):
            raw = record[alias]
            if name == "arrival_s":
                if fmt == "azure":
                    return _iso_seconds(raw, alias, file, line)
                value = _number(raw, alias, file, line) * TIME_SCALE.get(fmt, 1.0)
                if not (math.isfinite(value) and value >= 0):
                    raise SpecError(
                        f"line {line}: {alias} must be a finite time of at least 0 s, "
                        f"got {_quote(raw)}",
                        file=file,
                        key_path=alias,
                    )
                return value
            value = _number(raw, alias, file, line)
            if fmt == "burstgpt" and name == "output_len" and value == BURSTGPT_FAILED:
                return 0.0  # a failed request: dropped by the caller
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
        hint=f"accepted names: {', '.join(FORMATS[fmt][name])}",
    )


def _hash_ids(record: dict, file: str, line: int) -> tuple[int, ...]:
    raw = record.get("hash_ids")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(
        isinstance(h, int) and not isinstance(h, bool) for h in raw
    ):
        raise SpecError(
            f"line {line}: hash_ids must be a list of integers, got {_quote(raw)}",
            file=file,
            key_path="hash_ids",
        )
    return tuple(raw)


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


def _csv_header(reader: Iterator[list[str]], path: Path) -> list[str]:
    try:
        return [name.strip() for name in next(reader)]
    except StopIteration:
        raise SpecError("empty trace", file=str(path)) from None


def _check_header(header: list[str], fmt: str, path: Path) -> None:
    fields = FORMATS[fmt]
    missing = [name for name, aliases in fields.items() if not set(aliases) & set(header)]
    if missing:
        raise SpecError(
            f"line 1: the header names no {' or '.join(missing)} column, "
            f"got {_quote(', '.join(header))}",
            file=str(path),
            hint="; ".join(f"{name}: {', '.join(fields[name])}" for name in missing),
        )


def _csv_records(path: Path, fmt: str) -> Iterator[tuple[int, dict]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = _csv_header(reader, path)
        _check_header(header, fmt, path)
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


def _csv_fast(path: Path, fmt: str) -> dict[str, np.ndarray] | None:
    """The columns of a well-formed CSV trace, converted a column at a time (a trace of
    tens of thousands of lines in a few tens of ms); None when any line is odd (blank,
    short, an empty cell, a bad value): the line-by-line reader then says which."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = _csv_header(reader, path)
        _check_header(header, fmt, path)
        rows = list(reader)
    if not rows or any(len(row) != len(header) for row in rows):
        return None
    cells = list(zip(*rows, strict=True))
    columns = {}
    try:
        for name, aliases in FORMATS[fmt].items():
            column = cells[header.index(next(a for a in aliases if a in header))]
            if name == "arrival_s" and fmt == "azure":
                values = _dates_s(column)
            else:
                values = list(map(float, column))
            columns[name] = np.array(values, dtype=float)
    except (ValueError, SpecError):
        return None
    return columns if _valid(columns, fmt) else None


def _dates_s(column: tuple[str, ...]) -> np.ndarray | list[float]:
    """Seconds of ISO dates and times: numpy's parser for times without a UTC offset
    (relative to the earliest, so that float64 keeps sub-microsecond steps), else one
    by one."""
    if any(cell.endswith("Z") or cell[-6:-5] in ("+", "-") for cell in column[:1]):
        return [_iso_seconds(cell, "", "", 0) for cell in column]
    moments = np.array(column).astype("datetime64[ns]")
    return (moments - moments.min()).astype(np.int64) / 1e9


def _valid(columns: dict[str, np.ndarray], fmt: str) -> bool:
    arrival = columns["arrival_s"] * TIME_SCALE.get(fmt, 1.0)
    columns["arrival_s"] = arrival
    if not (np.isfinite(arrival).all() and (fmt == "azure" or (arrival >= 0).all())):
        return False
    for name in ("input_len", "output_len"):
        values = columns[name]
        lowest = 0 if fmt == "burstgpt" and name == "output_len" else 1
        if not ((values >= lowest) & (values <= MAX_TOKENS) & (values == np.floor(values))).all():
            return False
    return True


def _first_keys(path: Path, jsonl: bool) -> set[str]:
    """The column names of the header (CSV) or the first record (JSONL); empty when the
    file has none (the reader then says why)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if not jsonl:
                return {name.strip() for name in next(csv.reader(handle), [])}
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    return set(record) if isinstance(record, dict) else set()
    except (ValueError, RecursionError, csv.Error):
        return set()
    return set()


def detect_format(path: Path, jsonl: bool) -> str:
    """The first format whose every quantity has a column in the header (tigris last:
    its `timestamp` alias would also match Mooncake)."""
    keys = _first_keys(path, jsonl)
    for fmt in ("azure", "mooncake", "burstgpt"):
        if all(set(aliases) & keys for aliases in FORMATS[fmt].values()):
            return fmt
    return "tigris"


def resolve_trace(trace: str | Path) -> Path:
    """A trace file's path: a shipped trace's name (SHIPPED_TRACES) or a path."""
    name = str(trace)
    if name in SHIPPED_TRACES and not Path(name).exists():
        return SHIPPED_DIR / SHIPPED_TRACES[name]
    return Path(trace)


def count_lines(path: str | Path) -> int:
    """Lines in the file (an upper bound on its requests), read in blocks: nothing of the
    file is kept, so a trace too big for memory can be refused before it is parsed."""
    path = resolve_trace(path)
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
        raise SpecError(
            "trace file not found",
            file=str(path),
            key_path="--trace",
            hint=f"a file, or a shipped trace: {', '.join(SHIPPED_TRACES)}",
        ) from None
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


def _check_format(fmt: str) -> None:
    if fmt not in TRACE_FORMATS:
        raise SpecError(
            f"unknown trace format {_quote(fmt)}",
            key_path="--trace-format",
            hint=", ".join(TRACE_FORMATS),
        )


def read_trace(path: str | Path, trace_format: str = "auto") -> Workload:
    """A Workload from a trace file (or a shipped trace's name), sorted by arrival time."""
    _check_format(trace_format)
    path = resolve_trace(path)
    _require_file(path)
    jsonl = path.suffix.lower() in (".jsonl", ".json", ".ndjson")
    fmt = detect_format(path, jsonl) if trace_format == "auto" else trace_format
    file = str(path)
    # 8-byte columns filled line by line: no per-request Python object is kept
    columns = {name: array("d") for name in FIELDS}
    hashes: list[tuple[int, ...]] = []
    try:
        fast = None if jsonl else _csv_fast(path, fmt)
        if fast is not None:
            return _workload(fast, hashes, fmt, file)
        records = _jsonl_records(path) if jsonl else _csv_records(path, fmt)
        for line, record in records:
            for name, column in columns.items():
                column.append(_field(record, name, file, line, fmt))
            if fmt == "mooncake":
                hashes.append(_hash_ids(record, file, line))
    except UnicodeDecodeError as error:
        raise SpecError(
            f"not a text file (byte {error.start} is not UTF-8); a trace is CSV or JSONL",
            file=file,
            key_path="--trace",
        ) from None
    except csv.Error as error:
        raise SpecError(f"not a CSV trace: {error}", file=file, key_path="--trace") from None
    return _workload(columns, hashes, fmt, file)


def _workload(
    columns: dict[str, array] | dict[str, np.ndarray], hashes: list, fmt: str, file: str
) -> Workload:
    """The parsed columns as a Workload: failed requests dropped, sorted by arrival,
    arrivals from 0 for the published formats."""
    arrival, inputs, outputs = (np.asarray(columns[name], dtype=float) for name in FIELDS)
    kept = outputs > 0
    if not kept.any():
        raise SpecError("the trace has no requests", file=file)
    order = np.flatnonzero(kept)[np.argsort(arrival[kept], kind="stable")]
    arrival = arrival[order]
    if fmt != "tigris":
        arrival = arrival - arrival[0]
    prefix = None
    if any(hashes):
        prefix = np.empty(len(order), dtype=object)
        prefix[:] = [hashes[i] for i in order]
    return Workload(
        arrival,
        inputs[order].astype(np.int64),
        outputs[order].astype(np.int64),
        prefix_hashes=prefix,
        hash_block_tokens=MOONCAKE_BLOCK_TOKENS if prefix is not None else 0,
    )
