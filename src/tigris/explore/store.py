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
_INSERT = (
    f"INSERT INTO evaluations ({', '.join(_TYPES)}) "
    f"SELECT {', '.join(f'r.{column}' for column in _TYPES)} "
    f"FROM (SELECT unnest(from_json(?, '{json.dumps([_TYPES])}')) AS r) "
    "ON CONFLICT DO NOTHING"
)
_INSERT_NEW = _INSERT.removesuffix(" ON CONFLICT DO NOTHING")


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


class Store:
    """A DuckDB file of sweeps and their evaluations."""

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        import duckdb

        self.path = Path(path)
        if read_only and not self.path.is_file():
            raise SpecError("no such results file", file=str(path), hint="run a sweep first")
        try:
            self.connection = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as error:
            raise SpecError(f"cannot open the results file: {error}", file=str(path)) from None
        if not read_only:
            for statement in _SCHEMA:
                self.connection.execute(statement)
        self.version = tigris_version()

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
        )

    def add(self, sweep_hash: str, rows: Sequence[Evaluation], first_seq: int) -> None:
        """Insert rows in one transaction; rows already stored are skipped.

        The rows travel as one JSON parameter unnested by DuckDB: binding twelve parameters
        per row costs several times more. A transaction costs milliseconds whatever its
        size, so callers group rows (run.py flushes every few hundred rows or half second).
        """
        if not rows:
            return
        records = [
            {
                "sweep_hash": sweep_hash,
                "design_id": row.design_id,
                "seq": first_seq + offset,
                "params": row.stored_json[0],
                "derived": row.stored_json[1],
                "objectives": row.stored_json[2],
                "metrics": row.stored_json[3],
                "status": row.status,
                "feasible": row.feasible,
                "reason": row.reason,
                "tigris_version": self.version,
                "elapsed_s": row.elapsed_s,
            }
            for offset, row in enumerate(rows)
        ]
        import duckdb

        payload = [json.dumps(records, allow_nan=True)]
        try:  # samplers never repeat a stored design, and the plain insert is faster
            self.connection.execute(_INSERT_NEW, payload)
        except duckdb.ConstraintException:  # a row already there: skip those, keep the rest
            self.connection.execute(_INSERT, payload)

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
        ).fetchone()[0]

    def next_seq(self, sweep_hash: str) -> int:
        found = self.connection.execute(
            "SELECT max(seq) FROM evaluations WHERE sweep_hash = ?", [sweep_hash]
        ).fetchone()[0]
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
