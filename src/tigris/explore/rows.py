"""A row of the results: `Evaluation` (one design evaluated on the sweep's workloads), its
stable id (`design_id`) and its store JSON (`stored_json`, made in the worker that
evaluated it: `encode_rows`). `tigris.explore.evaluate` makes the rows.

A row's status is one of
    ok           every constraint met and every objective computed
    invalid      the parameters make no valid chip (a field out of range)
    infeasible   a valid chip that breaks a constraint or cannot run a workload
    unavailable  an objective or constraint whose model (training, serving, cost) is missing
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from tigris.explore.axes import Value

Status = str  # "ok" | "invalid" | "infeasible" | "unavailable"


def _canonical(value: Value) -> Value:
    """Numbers as floats, so that 128 and 128.0 (or '128 MiB' read to SI) name one design."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


def design_id(params: Mapping[str, Value]) -> str:
    """A stable id of a point in the space (the same parameters give the same id): the sha1
    of `_id_text`, the canonical JSON of the parameters."""
    return hashlib.sha1(_id_text(params).encode()).hexdigest()[:16]


def _id_text(params: Mapping[str, Value]) -> str:
    """json.dumps of the parameters as floats, keys sorted, with separators (",", ":") and
    default=repr, joined from each (key, value)'s `"key":value` fragment."""
    parts = []
    try:
        for key in sorted(params):
            value = params[key]
            if not isinstance(key, str):
                raise TypeError(key)
            # 0.0 == -0.0 (and an int 0 canonicalises to 0.0): a zero is not memoised
            if isinstance(value, (int, float)) and value == 0:
                parts.append(_ID_ENCODER.encode(key) + ":" + _ID_ENCODER.encode(_canonical(value)))
            else:
                parts.append(_fragment(key, type(value), value))
    except TypeError:  # an unhashable value or a key that is not text: the plain encoding
        canonical = {key: _canonical(value) for key, value in sorted(params.items())}
        return _ID_ENCODER.encode(canonical)
    return "{" + ",".join(parts) + "}"


@lru_cache(maxsize=4096)
def _fragment(key: str, kind: type, value: Value) -> str:
    """The `"key":value` fragment of the canonical JSON, memoised (a sweep sets the same few
    values on every design); `kind` keeps True apart from 1."""
    return _ID_ENCODER.encode(key) + ":" + _ID_ENCODER.encode(_canonical(value))


# json.dumps(canonical, separators=(",", ":"), default=repr), without building an encoder
# per call (json.dumps reuses its own only for the default options)
_ID_ENCODER = json.JSONEncoder(separators=(",", ":"), default=repr)


@dataclass(frozen=True, eq=False)
class Evaluation:
    """One design evaluated on the sweep's workloads: a row of the store. Rows are equal
    when their fields are (a row received from a worker equals the one sent)."""

    design_id: str
    params: dict[str, Value]
    derived: dict[str, float]
    status: Status
    reason: str | None
    objectives: dict[str, float | None]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def feasible(self) -> bool:
        return self.status == "ok"

    def _fields(self) -> tuple:
        return (
            self.design_id,
            self.params,
            self.derived,
            self.status,
            self.reason,
            self.objectives,
            self.metrics,
            self.elapsed_s,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Evaluation):
            return NotImplemented
        return self._fields() == other._fields()

    __hash__ = None  # type: ignore[assignment]  # rows hold dicts: unhashable, as before

    @cached_property
    def stored_json(self) -> tuple[str, str, str, str]:
        """params, derived, objectives and metrics as the store's JSON text. Worker
        processes compute it before sending the row (`encode_rows`), so the process that
        writes the store does not encode every row itself."""
        return (
            flat_stored_json(self.params),
            flat_stored_json(self.derived),
            stored_json(self.objectives),
            stored_json(self.metrics),
        )

    def __reduce__(self) -> tuple[Any, tuple]:
        """Pickled as its store JSON and the few fields a running sweep reads: a worker's
        rows cost the process that writes the store a quarter of the unpickling, and
        params, derived and metrics are decoded there only if read (`_PackedEvaluation`)."""
        return _packed, (
            self.design_id,
            self.status,
            self.reason,
            self.objectives,
            self.elapsed_s,
            self.stored_json,
        )


class _PackedEvaluation(Evaluation):
    """An Evaluation received from another process: params, derived and metrics are
    decoded from its store JSON when first read; equal to the row it was sent from."""

    @property  # type: ignore[override]
    def params(self) -> dict[str, Value]:
        return self._decoded(0)

    @property  # type: ignore[override]
    def derived(self) -> dict[str, float]:
        return self._decoded(1)

    @property  # type: ignore[override]
    def metrics(self) -> dict[str, dict[str, Any]]:
        return self._decoded(3)

    def _decoded(self, index: int) -> Any:
        decoded = self.__dict__.setdefault("_decoded_json", {})
        if index not in decoded:
            decoded[index] = json.loads(self.stored_json[index])
        return decoded[index]


def _packed(
    design_id: str,
    status: Status,
    reason: str | None,
    objectives: dict[str, float | None],
    elapsed_s: float,
    texts: tuple[str, str, str, str],
) -> Evaluation:
    row = object.__new__(_PackedEvaluation)
    row.__dict__.update(
        design_id=design_id,
        status=status,
        reason=reason,
        objectives=objectives,
        elapsed_s=elapsed_s,
        stored_json=texts,
    )
    return row


def stored_json(value: Any) -> str:
    """A value as the store keeps it: JSON, keys sorted, repr for what JSON lacks."""
    return _STORE_ENCODER.encode(value)


# json.dumps(value, sort_keys=True, default=repr, allow_nan=True), without building an
# encoder per call (four per row)
_STORE_ENCODER = json.JSONEncoder(sort_keys=True, default=repr, allow_nan=True)


def flat_stored_json(values: Mapping[str, Any]) -> str:
    """`stored_json` of a flat mapping (parameters, derived values) joined from memoised
    `"key": value` fragments; zeros (0.0 == -0.0) and odd keys or values: plain."""
    parts = []
    try:
        for key in sorted(values):
            value = values[key]
            if type(key) is not str or (isinstance(value, (int, float)) and value == 0):
                return stored_json(values)
            parts.append(_stored_fragment(key, type(value), value))
    except TypeError:  # an unhashable value, or keys that do not sort
        return stored_json(values)
    return "{" + ", ".join(parts) + "}"


@lru_cache(maxsize=4096)
def _stored_fragment(key: str, kind: type, value: Any) -> str:  # kind: True is not 1
    return _STORE_ENCODER.encode(key) + ": " + _STORE_ENCODER.encode(value)


def encode_rows(rows: list[Evaluation]) -> list[Evaluation]:
    """The rows with their store JSON computed (where they are made: a worker)."""
    for row in rows:
        row.stored_json  # noqa: B018 (cached on the row, pickled with it)
    return rows


def make_row(fields: dict[str, Any]) -> Evaluation:
    """Evaluation(**fields), all fields in order, without the frozen dataclass's __init__
    (a setattr per field); `fields` becomes the row's __dict__, as in `_packed`."""
    row = object.__new__(Evaluation)
    object.__setattr__(row, "__dict__", fields)
    return row
