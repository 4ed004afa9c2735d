"""The result store: one DuckDB file, one row per evaluated design, committed as they come.

Tables
    sweeps       sweep_hash (key), name, file, text of the sweep file, objectives and axes
                 (JSON), tigris version, created_at
    evaluations  (sweep_hash, design_id) key; seq (order of arrival), params, derived,
                 objectives and metrics (JSON text; SI units), status, feasible, reason,
                 tigris_version, elapsed_s, created_at

Each batch of rows is one INSERT in its own transaction, so a killed sweep keeps every
batch that was written; the (sweep_hash, design_id) key makes a re-run skip what is there
and never duplicate a row (INSERT ... ON CONFLICT DO NOTHING).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tigris.errors import SpecError
from tigris.explore.evaluate import Evaluation, stored_json

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sweeps (
        sweep_hash VARCHAR PRIMARY KEY, name VARCHAR, file VARCHAR, text VARCHAR,
        objectives VARCHAR, axes VARCHAR, tigris_version VARCHAR,
        created_at TIMESTAMP DEFAULT current_timestamp)""",
    """CREATE TABLE IF NOT EXISTS evaluations (
        sweep_hash VARCHAR NOT NULL, design_id VARCHAR NOT NULL, seq BIGINT,
        params VARCHAR, derived VARCHAR, objectives VARCHAR, metrics VARCHAR,
        status VARCHAR, feasible BOOLEAN, reason VARCHAR, tigris_version VARCHAR,
        elapsed_s DOUBLE, created_at TIMESTAMP DEFAULT current_timestamp,
        PRIMARY KEY (sweep_hash, design_id))""",
)
_TYPES = {
    "sweep_hash": "VARCHAR",
    "design_id": "VARCHAR",
    "seq": "BIGINT",
    "params": "VARCHAR",
    "derived": "VARCHAR",
    "objectives": "VARCHAR",
    "metrics": "VARCHAR",
    "status": "VARCHAR",
    "feasible": "BOOLEAN",
    "reason": "VARCHAR",
    "tigris_version": "VARCHAR",
    "elapsed_s": "DOUBLE",
}
_BATCH_VIEW = "tigris_batch"  # the rows of one add(), scanned by DuckDB from numpy columns
_INSERT_NEW = (
    f"INSERT INTO evaluations ({', '.join(_TYPES)}) SELECT {', '.join(_TYPES)} FROM {_BATCH_VIEW}"
)
_INSERT = _INSERT_NEW + " ON CONFLICT DO NOTHING"


def tigris_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tigris")
    except PackageNotFoundError:
        return "unknown"


_json = stored_json


@dataclass(frozen=True)
class StoredSweep:
    sweep_hash: str
    name: str
    file: str
    text: str
    objectives: list[dict[str, Any]]
    axes: list[str]
    tigris_version: str


def _check_magic(path: Path) -> None:
    """SpecError for an existing file that is not a DuckDB database (a DuckDB file has
    'DUCK' at byte 8): DuckDB itself may try to download a reader for it (SQLite)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(12)
    except OSError:
        return  # missing or unreadable: duckdb.connect says which
    if head and head[8:12] != b"DUCK":
        raise SpecError(
            "is not a DuckDB results file", file=str(path), hint="give a new name to create one"
        )


class Store:
    """A DuckDB file of sweeps and their evaluations."""

    def __init__(self, path: str | Path, *, read_only: bool = False, checked: bool = True) -> None:
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise SpecError("no such results file", file=str(path), hint="run a sweep first")
        _check_magic(self.path)
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise SpecError(f"cannot open the results file: {error}", file=str(path)) from None
        if not read_only:
            for statement in _SCHEMA:
                self.connection.execute(statement).fetchall()
        if checked:
            self._check_tables(duckdb.Error)
        self.version = tigris_version()

    def _check_tables(self, error_type: type[Exception]) -> None:
        """SpecError for a DuckDB file that is not a results file (no tables of ours, or
        tables of the same names with other columns), seen before any query fails on it."""
        columns = {"sweeps": "sweep_hash, name, file, text, objectives, axes, tigris_version"}
        columns["evaluations"] = ", ".join(_TYPES)
        for table, names in columns.items():
            try:
                self.connection.execute(f"SELECT {names} FROM {table} LIMIT 0").fetchall()
            except error_type:
                self.connection.close()
                raise SpecError(
                    f"a DuckDB file, but not a Tigris results file (its table {table!r} is "
                    "missing or has other columns)",
                    file=str(self.path),
                    hint="give a file `tigris explore run` wrote, or a new name",
                ) from None

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- writing -------------------------------------------------------------------

    def register_sweep(self, sweep: Any) -> None:
        objectives = [
            {"name": o.name, "metric": o.metric, "goal": o.goal, "workload": o.workload}
            for o in sweep.objectives
        ]
        self.connection.execute(
            "INSERT INTO sweeps (sweep_hash, name, file, text, objectives, axes, tigris_version) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                sweep.sweep_hash,
                sweep.name,
                sweep.file,
                sweep.text,
                _json(objectives),
                _json([axis.path for axis in sweep.axes]),
                self.version,
            ],
        ).fetchall()  # a finished statement (DuckDB 2 refuses register() after one left open)

    def add(self, sweep_hash: str, rows: Sequence[Evaluation], first_seq: int) -> None:
        """Insert rows in one statement (one transaction); rows already stored are skipped.

        The rows travel as numpy columns that DuckDB scans in place: half the cost of one
        JSON parameter unnested by DuckDB, several times less than binding twelve
        parameters per row. A transaction costs milliseconds whatever its size, so callers
        group rows (run.py commits every few thousand rows or second).
        """
        if not rows:
            return
        import duckdb
        import numpy as np

        count = len(rows)
        texts = [row.stored_json for row in rows]
        columns = {
            "sweep_hash": np.full(count, sweep_hash, dtype=object),
            "design_id": np.array([row.design_id for row in rows], dtype=object),
            "seq": np.arange(first_seq, first_seq + count, dtype=np.int64),
            "params": np.array([text[0] for text in texts], dtype=object),
            "derived": np.array([text[1] for text in texts], dtype=object),
            "objectives": np.array([text[2] for text in texts], dtype=object),
            "metrics": np.array([text[3] for text in texts], dtype=object),
            "status": np.array([row.status for row in rows], dtype=object),
            "feasible": np.array([row.feasible for row in rows], dtype=bool),
            "reason": np.array([row.reason for row in rows], dtype=object),
            "tigris_version": np.full(count, self.version, dtype=object),
            "elapsed_s": np.array([row.elapsed_s for row in rows], dtype=np.float64),
        }
        self.connection.register(_BATCH_VIEW, columns)
        try:
            try:  # samplers never repeat a stored design, and the plain insert is faster
                self.connection.execute(_INSERT_NEW).fetchall()
            except duckdb.ConstraintException:  # a row already there: skip those, keep the rest
                self.connection.execute(_INSERT).fetchall()
        finally:
            self.connection.unregister(_BATCH_VIEW)

    # ---- reading -------------------------------------------------------------------

    def sweeps(self) -> list[StoredSweep]:
        found = self.connection.execute(
            "SELECT sweep_hash, name, file, text, objectives, axes, tigris_version "
            "FROM sweeps ORDER BY created_at"
        ).fetchall()
        return [
            StoredSweep(h, n, f, t, json.loads(o), json.loads(a), v)
            for h, n, f, t, o, a, v in found
        ]

    def sweep(self, sweep_hash: str | None = None) -> StoredSweep:
        """One sweep by hash (a prefix is enough), or the only/latest one."""
        sweeps = self.sweeps()
        if not sweeps:
            raise SpecError("the results file holds no sweep", file=str(self.path))
        if sweep_hash is None:
            return sweeps[-1]
        matches = [s for s in sweeps if s.sweep_hash.startswith(sweep_hash)]
        if len(matches) != 1:
            raise SpecError(
                f"no single sweep matches {sweep_hash!r}",
                file=str(self.path),
                hint="sweeps: " + ", ".join(f"{s.sweep_hash} ({s.name})" for s in sweeps),
            )
        return matches[0]

    def design_ids(self, sweep_hash: str) -> set[str]:
        found = self.connection.execute(
            "SELECT design_id FROM evaluations WHERE sweep_hash = ?", [sweep_hash]
        ).fetchall()
        return {design for (design,) in found}

    def count(self, sweep_hash: str) -> int:
        return self.connection.execute(
            "SELECT count(*) FROM evaluations WHERE sweep_hash = ?", [sweep_hash]
        ).fetchall()[0][0]

    def next_seq(self, sweep_hash: str) -> int:
        found = self.connection.execute(
            "SELECT max(seq) FROM evaluations WHERE sweep_hash = ?", [sweep_hash]
        ).fetchall()[0][0]
        return 0 if found is None else found + 1

    def evaluations(self, sweep_hash: str, *, feasible_only: bool = False) -> list[Evaluation]:
        where = "sweep_hash = ?" + (" AND feasible" if feasible_only else "")
        found = self.connection.execute(
            "SELECT design_id, params, derived, status, reason, objectives, metrics, elapsed_s "
            f"FROM evaluations WHERE {where} ORDER BY seq",
            [sweep_hash],
        ).fetchall()
        return [
            Evaluation(
                design_id=d,
                params=json.loads(p),
                derived=json.loads(dv),
                status=s,
                reason=r,
                objectives=json.loads(o),
                metrics=json.loads(m),
                elapsed_s=e,
            )
            for d, p, dv, s, r, o, m, e in found
        ]

    def status_counts(self, sweep_hash: str) -> dict[str, int]:
        found = self.connection.execute(
            "SELECT status, count(*) FROM evaluations WHERE sweep_hash = ? GROUP BY status",
            [sweep_hash],
        ).fetchall()
        return dict(found)
