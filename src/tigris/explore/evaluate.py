"""The pure evaluation of one design on every workload: parameters in, a row out.

The same `evaluate_batch` runs in the calling process, in a process-pool worker or as a
Ray task; an `Evaluator` holds only what is derived from the sweep (models, op graphs,
clusters, plans), built once per worker and never shared between processes.

A row's status is one of
    ok           every constraint met and every objective computed
    invalid      the parameters make no valid chip (a field out of range)
    infeasible   a valid chip that breaks a constraint or cannot run a workload
    unavailable  an objective or constraint whose model (training, serving, cost) is missing
Objectives over several workloads are their weighted geometric mean (scale-free across
workloads of different sizes), or the weighted arithmetic mean when a value is not positive.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from pydantic import ValidationError

from tigris.errors import InfeasibleError, SpecError, TigrisError, UnsupportedError
from tigris.explore.axes import Value
from tigris.explore.design import validation_reason
from tigris.explore.metrics import (
    ChipFigures,
    CostModels,
    Unavailable,
    Work,
    derived_metrics,
    graph_work,
    infer_work,
    serve_work,
    synthetic_metrics,
    train_work,
)
from tigris.explore.sweep import Sweep

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


class _Rejected(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        self.status = status
        self.reason = reason


@dataclass
class _Staged:
    """A design between its two stages: the chip built and held to the static constraints
    (or `rejected`), then its workloads run."""

    params: Mapping[str, Value]
    ident: str
    elapsed_s: float = 0.0
    derived: dict[str, float] = field(default_factory=dict)
    chip: Any = None
    env: dict | None = None
    figures: ChipFigures | None = None
    rejected: _Rejected | None = None


class Evaluator:
    """Evaluates designs of one sweep; caches only chip-independent work."""

    def __init__(self, sweep: Sweep, cost: CostModels | None = None) -> None:
        self.sweep = sweep
        self._cost = cost
        self._prepared: dict[str, Any] = {}
        self._bounds = sweep.numeric_bounds()
        # (workload, its label): a label is a pydantic property, read per design otherwise
        self._workloads = tuple((w, w.label) for w in sweep.workloads)
        self._wanted = self._wanted_metrics()
        # the training setups _prefetch built, by (workload, id of the chip), for the batch
        # being evaluated only (its chips are alive, so no other object takes their ids)
        self._batch_setups: dict[tuple[str, int], Any] = {}

    def _wanted_metrics(self) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {label: set() for _, label in self._workloads}
        needs = [(o.metric, o.workload) for o in self.sweep.objectives]
        needs += [(c.metric, c.workload) for c in self.sweep.constraints if c.kind == "result"]
        for metric, workload in needs:
            for label in [workload] if workload else list(wanted):
                wanted[label].add(metric)  # type: ignore[arg-type]
        return wanted

    def cost_models(self) -> CostModels:
        """tigris.cost's assumptions, read when a design first needs them."""
        if self._cost is None:
            self._cost = CostModels.load()
        return self._cost

    # ---- per workload --------------------------------------------------------------

    def _prepare(self, workload: Any, label: str) -> Any:
        """Chip-independent pieces of a workload (model, graph, cluster, plan), once."""
        if label in self._prepared:
            prepared = self._prepared[label]
            if isinstance(prepared, Unavailable):
                raise prepared
            return prepared
        try:
            prepared = self._build(workload)
        except Unavailable as missing:
            self._prepared[label] = missing
            raise
        self._prepared[label] = prepared
        return prepared

    def _build(self, workload: Any) -> Any:
        from tigris.engines.base import get_engine
        from tigris.workload import decode_graph, load_model, prefill_graph, train_step_graph

        task = workload.task
        if task == "synthetic":
            return None
        spec = load_model(workload.model)
        if task == "train_step":
            graph = train_step_graph(
                spec, workload.batch, workload.seq_len, recompute=workload.recompute
            )
            return graph, get_engine(workload.engine)
        if task == "prefill":
            return prefill_graph(spec, workload.batch, workload.prompt_len), get_engine(
                workload.engine
            )
        if task == "decode":
            return decode_graph(spec, workload.batch, workload.kv_len), get_engine(workload.engine)
        if task == "train":
            from tigris.hardware.presets import load_cluster
            from tigris.parallel import step as parallel
            from tigris.parallel.plan import ParallelPlan

            system = workload.system or self.sweep.space.base.get("default_system")
            if system is None:
                raise Unavailable("the training step needs a system (cluster); give `system`")
            plan = ParallelPlan.model_validate(workload.plan)
            cache = parallel.StepCache()
            precision = parallel.Precision()  # one for every design's TrainSetup
            return spec, load_cluster(system), plan, parallel, cache, precision
        from tigris import serving

        if task == "infer":
            return spec, serving, None
        from tigris.serving import simulator
        from tigris.serving.requests import synthetic_workload

        arrivals = synthetic_workload(
            workload.num_requests,
            workload.input_len,
            workload.output_len,
            rate_per_s=workload.rate,
            seed=workload.seed,
        )
        return spec, serving, (simulator, arrivals)

    @staticmethod
    def _train_setup(workload: Any, chip: Any, prepared: tuple) -> Any:
        spec, cluster, _, parallel, _, precision = prepared
        return parallel.TrainSetup(
            spec=spec,
            chip=chip,
            cluster=cluster,
            num_chips=workload.num_chips,
            global_batch=workload.global_batch,
            seq_len=workload.seq_len,
            engine=workload.engine,
            precision=precision,
        )

    def _work(self, workload: Any, label: str, chip: Any) -> Work:
        prepared = self._prepare(workload, label)
        task = workload.task
        if task in ("train_step", "prefill", "decode"):
            graph, engine = prepared
            return graph_work(graph, chip, engine)
        if task == "train":
            _, _, plan, parallel, cache, _ = prepared
            setup = self._batch_setups.get((label, id(chip)))
            if setup is None:
                setup = self._train_setup(workload, chip, prepared)
            return train_work(workload, setup, plan, parallel, cache)
        spec, serving, serve_parts = prepared
        deployment = serving.Deployment(
            model=spec,
            chip=chip,
            num_chips=workload.num_chips,
            tp=workload.tp or workload.num_chips,
        )
        if task == "infer":
            return infer_work(workload, deployment, serving)
        simulator, arrivals = serve_parts
        return serve_work(workload, deployment, arrivals, simulator)

    def _workload_metrics(
        self, workload: Any, label: str, chip: Any, env: dict, figures: ChipFigures
    ) -> dict:
        wanted = self._wanted[label]
        if workload.task == "synthetic":
            return synthetic_metrics(workload, env, self._bounds)
        work = self._work(workload, label, chip)
        metrics = derived_metrics(work, figures, wanted)
        if workload.task in ("train", "train_step"):
            metrics["step_time_s"] = work.time_s
        elif workload.task in ("prefill", "decode"):
            metrics["latency_s"] = work.time_s
        tokens = getattr(workload, "train_tokens", None)
        if tokens is not None:
            metrics["time_to_train_s"] = tokens / work.tokens_per_s
        return metrics

    # ---- one design ----------------------------------------------------------------

    def evaluate(self, params: Mapping[str, Value]) -> Evaluation:
        return self._finish(self._stage(params))

    def evaluate_batch(self, batch: Sequence[Mapping[str, Value]]) -> list[Evaluation]:
        """The same rows as evaluate(params) for each: the chips are built and checked
        first, then the training workloads' ops timed on all of them together."""
        staged = [self._stage(params) for params in batch]
        start = time.perf_counter()
        built = [design for design in staged if design.rejected is None]
        try:
            self._prefetch([design.chip for design in built])
            for design in built:  # each design's share of the time spent on all of them
                design.elapsed_s += (time.perf_counter() - start) / len(built)
            return [self._finish(design) for design in staged]
        finally:
            self._batch_setups.clear()

    def _stage(self, params: Mapping[str, Value]) -> _Staged:
        """The design's chip, built and held to the static constraints."""
        start = time.perf_counter()
        design = _Staged(params, design_id(params))
        try:
            design.chip, design.env = self._build_chip(params, design.ident)
            design.derived = {d.target: design.env[d.target] for d in self.sweep.space.derived}
            design.figures = ChipFigures(design.chip, self.cost_models)
            self._check_static(design.env, design.figures)
        except _Rejected as rejected:
            design.rejected = rejected
        design.elapsed_s = time.perf_counter() - start
        return design

    def _finish(self, design: _Staged) -> Evaluation:
        """The staged design's workloads, objectives and result constraints: its row."""
        start = time.perf_counter()
        metrics: dict[str, dict[str, Any]] = {}
        objectives: dict[str, float | None] = {o.name: None for o in self.sweep.objectives}
        try:
            if design.rejected is not None:
                raise design.rejected
            metrics = self._run_workloads(design.chip, design.env, design.figures)  # type: ignore[arg-type]
            objectives = self._objectives(metrics)
            self._check_results(metrics)
            status, reason = "ok", None
        except _Rejected as rejected:
            status, reason = rejected.status, rejected.reason
        return _row(
            {
                "design_id": design.ident,
                "params": dict(design.params),
                "derived": design.derived,
                "status": status,
                "reason": reason,
                "objectives": objectives,
                "metrics": _plain(metrics),
                "elapsed_s": design.elapsed_s + time.perf_counter() - start,
            }
        )

    def _prefetch(self, chips: list[Any]) -> None:
        """Time the training workloads' ops on the batch's chips together (tigris.parallel's
        StepCache.prefetch: the same times as one design at a time). Where a design cannot
        run (a TigrisError), the designs are timed one by one, and that one fails there
        with its reason; any other error is a bug and propagates."""
        if len(chips) < 2:
            return
        for workload, label in self._workloads:
            if workload.task != "train":
                continue
            try:
                prepared = self._prepare(workload, label)
                setups = [self._train_setup(workload, chip, prepared) for chip in chips]
                _, _, plan, _, cache, _ = prepared
                cache.prefetch(setups, plan)
                for chip, setup in zip(chips, setups, strict=True):
                    self._batch_setups[label, id(chip)] = setup
            except (Unavailable, TigrisError):
                continue

    def _build_chip(self, params: Mapping[str, Value], ident: str) -> tuple[Any, dict]:
        try:
            return self.sweep.space.build(params, chip_id=f"{self.sweep.base_id}~{ident[:8]}")
        except ValidationError as error:
            raise _Rejected("invalid", validation_reason(error)) from None
        except (ArithmeticError, ValueError, TypeError) as error:
            raise _Rejected("invalid", f"derived value undefined: {error}") from None

    def _check_static(self, env: dict, figures: ChipFigures) -> None:
        for constraint in self.sweep.constraints:
            if constraint.kind == "result":
                continue
            try:
                if constraint.kind == "chip":
                    value = figures.get(constraint.metric)  # type: ignore[arg-type]
                else:
                    value = _expression_value(constraint, env)
            except Unavailable as missing:
                raise _Rejected("unavailable", f"{constraint.label}: {missing.reason}") from None
            except (InfeasibleError, UnsupportedError, SpecError) as error:
                raise _Rejected("infeasible", f"{constraint.label}: {error}") from None
            violation = constraint.violation(value)
            if violation:
                raise _Rejected("infeasible", violation)

    def _run_workloads(self, chip: Any, env: dict, figures: ChipFigures) -> dict:
        metrics: dict[str, dict[str, Any]] = {}
        for workload, label in self._workloads:
            try:
                metrics[label] = self._workload_metrics(workload, label, chip, env, figures)
            except Unavailable as missing:
                metrics[label] = {"unavailable": missing.reason}
            except InfeasibleError as error:
                raise _Rejected("infeasible", f"{label}: {error.reason}") from None
            except (UnsupportedError, SpecError) as error:
                raise _Rejected("infeasible", f"{label}: {error}") from None
        return metrics

    def _value(self, metrics: dict, label: str, metric: str) -> float:
        values = metrics[label]
        if "unavailable" in values:
            raise _Rejected("unavailable", f"{metric}@{label}: {values['unavailable']}")
        value = values.get(metric)
        if isinstance(value, Unavailable):
            raise _Rejected("unavailable", f"{metric}@{label}: {value.reason}")
        if value is None:
            raise _Rejected("unavailable", f"{label} gives no {metric}")
        return float(value)

    def _aggregate(self, metrics: dict, metric: str, workload: str | None) -> float:
        if workload is not None:
            return self._value(metrics, workload, metric)
        pairs = [(w.weight, self._value(metrics, label, metric)) for w, label in self._workloads]
        if len(pairs) == 1:
            return pairs[0][1]
        total = sum(weight for weight, _ in pairs)
        if all(value > 0 for _, value in pairs):
            return math.exp(sum(weight * math.log(value) for weight, value in pairs) / total)
        return sum(weight * value for weight, value in pairs) / total

    def _objectives(self, metrics: dict) -> dict[str, float | None]:
        return {
            o.name: self._aggregate(metrics, o.metric, o.workload) for o in self.sweep.objectives
        }

    def _check_results(self, metrics: dict) -> None:
        for constraint in self.sweep.constraints:
            if constraint.kind != "result":
                continue
            value = self._aggregate(metrics, constraint.metric, constraint.workload)  # type: ignore[arg-type]
            violation = constraint.violation(value)
            if violation:
                raise _Rejected("infeasible", violation)


def _expression_value(constraint: Any, env: dict) -> float:
    """An expression constraint's value; one undefined for this design (a division by
    zero, a name the design leaves unset) makes the design invalid."""
    try:
        return constraint.expression.evaluate(env)
    except (ArithmeticError, ValueError, TypeError) as error:
        raise _Rejected("invalid", f"{constraint.label}: {error}") from None


def _row(fields: dict[str, Any]) -> Evaluation:
    """Evaluation(**fields), all fields in order, without the frozen dataclass's __init__
    (a setattr per field); `fields` becomes the row's __dict__, as in `_packed`."""
    row = object.__new__(Evaluation)
    object.__setattr__(row, "__dict__", fields)
    return row


def _plain(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metrics as JSON-ready values (an Unavailable becomes its reason)."""
    return {
        label: {
            key: (value.reason if isinstance(value, Unavailable) else value)
            for key, value in values.items()
        }
        for label, values in metrics.items()
    }


def load_cost_models() -> CostModels:
    """tigris.cost's assumptions, read once in the parent and handed to every worker."""
    return CostModels.load()


def evaluate_batch(
    sweep: Sweep, batch: Sequence[Mapping[str, Value]], cost: CostModels | None = None
) -> list[Evaluation]:
    """Evaluate a batch with a fresh Evaluator (the form a one-off remote task takes);
    `cost` saves each task from reading the cost assumptions again."""
    return encode_rows(Evaluator(sweep, cost).evaluate_batch(batch))
