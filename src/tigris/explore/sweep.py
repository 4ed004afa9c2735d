"""The sweep file: a base chip, axes, derived parameters, constraints, workloads, objectives.

    name: better-tigris-1
    base: tigris-1                       # catalog id, or a chip YAML (relative to this file)
    axes:                                # dotted paths into the chip spec (axes.py forms)
      matrix.rows: [64, 128, 256]
      memory.dram.bandwidth: {log_range: ['4 TB/s', '16 TB/s'], num: 3}
    derived:                             # computed in order; a chip path or a new name
      pes: matrix.num_cores * matrix.arrays_per_core * matrix.rows * matrix.cols
      memory.dram.capacity: "memory.dram.num_stacks * '36 GB'"
    constraints:                         # a chip metric, an expression or a workload metric
      - {metric: modelled_die_area, max: 800 mm2}
      - {expr: matrix.rows / matrix.cols, min: 0.5, max: 2}
      - {metric: tokens_per_s, workload: train-llama3-70b, min: 1e5}
    workloads: [...]                     # workloads.py
    objectives:
      - {metric: tokens_per_s, goal: max}
      - {metric: usd_per_mtoken, goal: min}
    search: {sampler: grid, samples: 1000, seed: 0, batch: 64}

Everything is checked when the file is loaded, before any design is evaluated: unknown
paths and names, empty axes, malformed expressions, objectives no workload yields, and
constraints that no design in the space can meet (every design when the space has at most
`CHECK_DESIGNS`, else that many drawn at random).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tigris.errors import SpecError, TigrisError, shorten
from tigris.explore.axes import Axis, Value, parse_axis
from tigris.explore.design import (
    Derived,
    DesignSpace,
    get_path,
    normalize_path,
    resolve_constants,
    set_path,
    split_path,
    validation_reason,
)
from tigris.explore.expression import Expression, parse_expression
from tigris.explore.metrics import CHIP_METRICS, ChipFigures, CostModels, Unavailable
from tigris.explore.quantity import parse_any_quantity
from tigris.explore.workloads import TASK_METRICS, Workload
from tigris.hardware.chip import Chip
from tigris.hardware.presets import chip_path, spec_mapping
from tigris.io.loader import format_location, load_mapping, validate_spec
from tigris.units import UnitError, parse_quantity

CHECK_DESIGNS = 2000
Goal = Literal["min", "max"]
Sampler = Literal["grid", "random", "tpe", "nsga2"]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ObjectiveSpec(_Strict):
    metric: str
    goal: Goal
    workload: str | None = Field(None, description="one workload's value; default: all, weighted")
    name: str | None = None


class ConstraintSpec(_Strict):
    metric: str | None = None
    expr: str | None = None
    workload: str | None = None
    min: float | str | None = None
    max: float | str | None = None


class SearchSpec(_Strict):
    sampler: Sampler = "grid"
    samples: int | None = Field(None, gt=0, description="designs to evaluate (grid: all)")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="numpy's (optuna's) seed range")
    batch: int = Field(64, gt=0, description="designs per task sent to a worker")


class SweepFile(_Strict):
    name: str | None = Field(None, max_length=200)  # it titles tables and the page
    base: str
    axes: dict[str, Any] = Field(min_length=1)
    derived: dict[str, str] = Field(default_factory=dict)
    constraints: list[ConstraintSpec] = Field(default_factory=list)
    workloads: list[Workload] = Field(min_length=1)
    objectives: list[ObjectiveSpec] = Field(min_length=1)
    search: SearchSpec = Field(default_factory=SearchSpec)


@dataclass(frozen=True)
class Objective:
    name: str
    metric: str
    goal: Goal
    workload: str | None

    def better(self, a: float, b: float) -> bool:
        return a < b if self.goal == "min" else a > b


@dataclass(frozen=True)
class Constraint:
    """`kind`: 'chip' (a CHIP_METRICS figure), 'expr' (over the parameters) or 'result'
    (a workload metric, known after evaluation). Bounds in SI."""

    label: str
    kind: Literal["chip", "expr", "result"]
    metric: str | None
    expression: Expression | None
    workload: str | None
    low: float | None
    high: float | None

    def violation(self, value: float) -> str | None:
        """Why `value` breaks the constraint, or None."""
        if self.low is not None and value < self.low:
            return f"{self.label} = {value:.6g} < min {self.low:.6g}"
        if self.high is not None and value > self.high:
            return f"{self.label} = {value:.6g} > max {self.high:.6g}"
        return None


@dataclass(frozen=True)
class Sweep:
    """A loaded, checked sweep: what the samplers, the evaluator and the store need."""

    name: str
    file: str
    base_id: str
    space: DesignSpace
    constraints: tuple[Constraint, ...]
    workloads: tuple[Any, ...]
    objectives: tuple[Objective, ...]
    search: SearchSpec
    sweep_hash: str
    text: str

    @property
    def axes(self) -> tuple[Axis, ...]:
        return self.space.axes

    def base_params(self) -> dict[str, Value] | None:
        """The base chip's own point, when every axis includes the base's value."""
        params: dict[str, Value] = {}
        for axis in self.axes:
            try:
                value = get_path(self.space.base, split_path(axis.path))
            except KeyError:
                return None
            matches = [v for v in axis.values if v == value]
            if not matches:
                return None
            params[axis.path] = matches[0]
        return params

    def numeric_bounds(self) -> dict[str, tuple[float, float]]:
        """Lowest and highest value of each numeric axis."""
        bounds = {}
        for axis in self.axes:
            numbers = [
                v for v in axis.values if isinstance(v, (int, float)) and not isinstance(v, bool)
            ]
            if numbers:
                bounds[axis.path] = (float(min(numbers)), float(max(numbers)))
        return bounds


# ---------------------------------------------------------------------------- loading


def _load_base(base: str, folder: Path, file: str) -> tuple[str, dict[str, Any], Chip]:
    """The base chip: validated from its file (units required), returned as an SI mapping."""
    looks_like_file = base.endswith((".yaml", ".yml", ".json")) or "/" in base
    try:
        path = (folder / base) if looks_like_file and not Path(base).is_absolute() else None
        source = path if path is not None else chip_path(base)
    except SpecError as error:
        raise SpecError(error.message, file=file, key_path="base", hint=error.hint) from None
    if path is not None and not path.exists():
        raise SpecError(
            f"chip file {str(path)!r} not found",
            file=file,
            key_path="base",
            hint="a path is relative to the sweep file's folder; or give a catalog id "
            "(tigris chips)",
        )
    chip = validate_spec(Chip, spec_mapping(source), file=str(source))
    return chip.id, chip.model_dump(), chip


def _bound(value: float | str | None, dimension: str | None, where: str) -> float | None:
    if value is None or isinstance(value, float):
        return value
    try:
        if dimension in (None, "usd"):
            return parse_any_quantity(value)
        return parse_quantity(value, dimension)
    except (SpecError, UnitError) as error:
        raise SpecError(str(getattr(error, "message", error)), key_path=where) from None


def _workload_labels(workloads: tuple[Any, ...], file: str) -> dict[str, Any]:
    labels: dict[str, Any] = {}
    for index, workload in enumerate(workloads):
        if workload.label in labels:
            raise SpecError(
                f"two workloads are named {workload.label!r}",
                file=file,
                key_path=f"workloads[{index}].name",
                hint="give each a distinct name",
            )
        labels[workload.label] = workload
    return labels


def _metric_workloads(
    metric: str, workload: str | None, labels: dict[str, Any], where: str, file: str
) -> None:
    """Check that the workload(s) an objective or constraint reads yield `metric`."""
    if workload is not None and workload not in labels:
        raise SpecError(
            f"unknown workload {workload!r}",
            file=file,
            key_path=f"{where}.workload",
            hint=f"workloads: {', '.join(labels)}",
        )
    chosen = [labels[workload]] if workload else list(labels.values())
    for item in chosen:
        known = TASK_METRICS[item.task]
        if metric not in known:
            raise SpecError(
                f"workload {item.label!r} ({item.task}) has no metric {metric!r}",
                file=file,
                key_path=f"{where}.metric",
                hint=f"{item.task} gives {', '.join(known)}",
            )
        if metric == "time_to_train_s" and getattr(item, "train_tokens", None) is None:
            raise SpecError(
                "time_to_train_s needs train_tokens in the workload",
                file=file,
                key_path=f"{where}.metric",
            )


def _constraint(spec: ConstraintSpec, index: int, labels: dict[str, Any], file: str) -> Constraint:
    where = f"constraints[{index}]"
    if (spec.metric is None) == (spec.expr is None):
        raise SpecError(
            "a constraint gives exactly one of metric or expr", file=file, key_path=where
        )
    if spec.min is None and spec.max is None:
        raise SpecError("a constraint gives min, max or both", file=file, key_path=where)
    if spec.metric in CHIP_METRICS:
        kind, dimension = "chip", CHIP_METRICS[spec.metric]
    elif spec.metric is not None:
        kind, dimension = "result", None
        _metric_workloads(spec.metric, spec.workload, labels, where, file)
    else:
        kind, dimension = "expr", None
    try:
        low = _bound(spec.min, dimension, f"{where}.min")
        high = _bound(spec.max, dimension, f"{where}.max")
        expression = parse_expression(spec.expr, where=f"{where}.expr") if spec.expr else None
    except SpecError as error:
        raise error.with_file(file) from None
    if low is not None and high is not None and low > high:
        raise SpecError(
            f"impossible constraint: min {low:g} exceeds max {high:g}", file=file, key_path=where
        )
    label = spec.metric or spec.expr or ""
    if spec.workload:
        label = f"{label}@{spec.workload}"
    return Constraint(label, kind, spec.metric, expression, spec.workload, low, high)


def _objective(spec: ObjectiveSpec, index: int, labels: dict[str, Any], file: str) -> Objective:
    _metric_workloads(spec.metric, spec.workload, labels, f"objectives[{index}]", file)
    name = spec.name or (f"{spec.metric}@{spec.workload}" if spec.workload else spec.metric)
    return Objective(name, spec.metric, spec.goal, spec.workload)


def _check_axis_paths(space: DesignSpace, file: str) -> None:
    """Each axis value, set alone on the base, must make a valid chip at that path."""
    for axis in space.axes:
        for value in (*axis.values, *axis.written):
            try:
                data = set_path(space.base, split_path(axis.path), value)
            except KeyError:
                raise SpecError(
                    f"unknown path {axis.path!r} (no such item in the base chip)",
                    file=file,
                    key_path=f"axes.{axis.path}",
                ) from None
            try:
                Chip.model_validate(data)
            except ValidationError as error:
                loc = [
                    p
                    for p in error.errors()[0]["loc"]
                    if p not in ("systolic", "tensor_core", "simd")
                ]
                location = format_location(tuple(loc))
                if location.replace("[", ".").replace("]", "").startswith(axis.path):
                    hint = _path_hint(space.base, axis.path)
                    raise SpecError(
                        f"{validation_reason(error)} (value {value!r})",
                        file=file,
                        key_path=f"axes.{axis.path}",
                        hint=hint,
                    ) from None


def _path_hint(base: Any, path: str) -> str | None:
    keys = split_path(path)
    try:
        parent = get_path(base, keys[:-1])
    except KeyError:
        return None
    if isinstance(parent, dict):
        import difflib

        close = difflib.get_close_matches(keys[-1], list(parent), n=3, cutoff=0.5)
        known = close or sorted(parent)
        return f"fields here: {', '.join(known)}"
    return None


def _designs_to_check(space: DesignSpace, seed: int) -> list[dict[str, Value]]:
    if space.size <= CHECK_DESIGNS:
        return [
            dict(zip([a.path for a in space.axes], combo, strict=True))
            for combo in itertools.product(*(a.values for a in space.axes))
        ]
    rng = random.Random(seed)
    return [{a.path: rng.choice(a.values) for a in space.axes} for _ in range(CHECK_DESIGNS)]


def _check_constraints(
    space: DesignSpace, constraints: tuple[Constraint, ...], seed: int, file: str
) -> None:
    """SpecError for a chip or expression constraint that no checked design meets."""
    static = [(i, c) for i, c in enumerate(constraints) if c.kind != "result"]
    if not static:
        return
    designs = _designs_to_check(space, seed)
    met = {i: False for i, _ in static}
    seen: dict[int, list[float]] = {i: [] for i, _ in static}
    cost_models: list[CostModels] = []

    def cost() -> CostModels:
        if not cost_models:
            cost_models.append(CostModels.load())
        return cost_models[0]

    unavailable: set[int] = set()
    for params in designs:
        try:
            chip, env = space.build(params)
        except (ValidationError, ArithmeticError, ValueError, TypeError):
            continue
        figures = ChipFigures(chip, cost)
        for i, constraint in static:
            if met[i] or i in unavailable:
                continue
            try:
                value = _static_value(constraint, figures, env)
            except Unavailable:
                unavailable.add(i)
                continue
            if value is None:
                continue
            seen[i].append(value)
            met[i] = constraint.violation(value) is None
        if all(met[i] or i in unavailable for i, _ in static):
            return
    for i, constraint in static:
        if met[i] or i in unavailable:
            continue
        values = seen[i]
        scope = "the" if space.size <= CHECK_DESIGNS else "the sampled"
        span = f"; over them it ranges {min(values):.6g} .. {max(values):.6g}" if values else ""
        raise SpecError(
            f"impossible constraint: none of {scope} {len(designs)} designs meets "
            f"{constraint.label} in [{constraint.low}, {constraint.high}]{span}",
            file=file,
            key_path=f"constraints[{i}]",
            hint="widen the bound or the axes",
        )


def _static_value(constraint: Constraint, figures: ChipFigures, env: dict) -> Any:
    """A chip or expression constraint's value on one design; None where this design
    cannot give it (the model declines it, or the expression is undefined here). Any
    other error inside a model is a bug and propagates."""
    if constraint.kind == "chip":
        try:
            return figures.get(constraint.metric)  # type: ignore[arg-type]
        except TigrisError:
            return None
    try:
        return constraint.expression.evaluate(env)  # type: ignore[union-attr]
    except (ArithmeticError, ValueError, TypeError):
        return None


def _check_workloads(workloads: tuple[Any, ...], file: str) -> None:
    """Models exist and training plans divide them (independent of the chip)."""
    from tigris.workload import load_model

    for index, workload in enumerate(workloads):
        where = f"workloads[{index}]"
        model = getattr(workload, "model", None)
        if model is None:
            continue
        try:
            spec = load_model(model)
        except SpecError as error:
            raise SpecError(
                error.message, file=file, key_path=f"{where}.model", hint=error.hint
            ) from None
        if workload.task == "train":
            _check_train_plan(workload, spec, where, file)


def _check_train_plan(workload: Any, spec: Any, where: str, file: str) -> None:
    try:
        from tigris.parallel.plan import ParallelPlan, check_plan
    except ImportError:
        return  # the training model is missing: rows will say so
    from tigris.errors import InfeasibleError

    try:
        plan = validate_spec(ParallelPlan, workload.plan, file=file)
        check_plan(plan, spec, workload.num_chips, workload.global_batch, workload.seq_len)
    except SpecError as error:
        raise SpecError(
            error.message, file=file, key_path=f"{where}.plan", hint=error.hint
        ) from None
    except InfeasibleError as error:
        raise SpecError(error.reason, file=file, key_path=f"{where}.plan") from None


def sweep_hash(parts: dict[str, Any]) -> str:
    """A stable digest of what determines the results (not the sample count or batching)."""
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_sweep(path: str | Path) -> Sweep:
    """Load and check a sweep file; SpecError (file, key path, hint) for any mistake."""
    path = Path(path)
    file = str(path)
    spec = validate_spec(SweepFile, load_mapping(path), file=file)
    base_id, base, _ = _load_base(spec.base, path.parent, file)
    axes = _axes(spec, file)
    known = {axis.path for axis in axes}
    derived, names_read = _derived(spec, known, file)
    workloads = tuple(spec.workloads)
    labels = _workload_labels(workloads, file)
    constraints = tuple(_constraint(c, i, labels, file) for i, c in enumerate(spec.constraints))
    for constraint in constraints:
        if constraint.expression is not None:
            names_read |= constraint.expression.names - known
    objectives = _objectives(spec, labels, file)
    _check_synthetic_inputs(workloads, known, file)
    try:
        constants = resolve_constants(base, names_read, known, "derived")
    except SpecError as error:
        raise error.with_file(file) from None
    space = DesignSpace(base, tuple(axes), tuple(derived), constants)
    _check_axis_paths(space, file)
    _check_workloads(workloads, file)
    _check_constraints(space, constraints, spec.search.seed, file)
    return Sweep(
        name=spec.name or path.stem,
        file=file,
        base_id=base_id,
        space=space,
        constraints=constraints,
        workloads=workloads,
        objectives=objectives,
        search=spec.search,
        sweep_hash=_digest(spec, base, axes, derived, workloads),
        text=path.read_text(encoding="utf-8"),
    )


def _axes(spec: SweepFile, file: str) -> list[Axis]:
    axes: list[Axis] = []
    for key, axis_spec in spec.axes.items():
        try:
            axes.append(parse_axis(normalize_path(key), axis_spec, where=f"axes.{key}"))
        except SpecError as error:
            raise error.with_file(file) from None
    return axes


def _derived(spec: SweepFile, known: set[str], file: str) -> tuple[list[Derived], set[str]]:
    """The derived values in order, and the names they read that are neither axes nor
    derived (base-chip fields); `known` gains each target."""
    derived: list[Derived] = []
    names_read: set[str] = set()
    targets = [normalize_path(target) for target in spec.derived]
    for index, (target, text) in enumerate(spec.derived.items()):
        try:
            expression = parse_expression(text, where=f"derived.{target}")
        except SpecError as error:
            raise error.with_file(file) from None
        early = sorted(n for n in expression.names - known if normalize_path(n) in targets[index:])
        if early:  # it would be looked up before it is computed (a KeyError per design)
            raise SpecError(
                f"reads {shorten(early[0])!r} before it is computed",
                file=file,
                key_path=f"derived.{shorten(target)}",
                hint="derived values are computed in order; read only axes, chip fields "
                "and the derived values above",
            )
        names_read |= expression.names - known
        derived.append(Derived(normalize_path(target), expression))
        known.add(normalize_path(target))
    return derived, names_read


def _objectives(spec: SweepFile, labels: dict[str, Any], file: str) -> tuple[Objective, ...]:
    objectives = tuple(_objective(o, i, labels, file) for i, o in enumerate(spec.objectives))
    if spec.search.sampler == "tpe" and len(objectives) != 1:
        raise SpecError(
            f"tpe optimises one objective; this sweep has {len(objectives)}",
            file=file,
            key_path="search.sampler",
            hint="use nsga2 for several objectives",
        )
    names = [o.name for o in objectives]
    if len(set(names)) != len(names):
        raise SpecError("two objectives share a name", file=file, key_path="objectives")
    return objectives


def _check_synthetic_inputs(workloads: tuple[Any, ...], known: set[str], file: str) -> None:
    for workload in workloads:
        if workload.task == "synthetic":
            for name in workload.inputs:
                if normalize_path(name) not in known:
                    raise SpecError(f"unknown input {name!r}", file=file, key_path="workloads")


def _digest(
    spec: SweepFile,
    base: dict[str, Any],
    axes: list[Axis],
    derived: list[Derived],
    workloads: tuple[Any, ...],
) -> str:
    """The sweep hash: what determines the results (not the sample count or batching)."""
    return sweep_hash(
        {
            "base": base,
            "axes": [(a.path, list(a.values)) for a in axes],
            "derived": [(d.target, d.expression.text) for d in derived],
            "constraints": [c.model_dump() for c in spec.constraints],
            "workloads": [TypeAdapter(Workload).dump_python(w) for w in workloads],
            "objectives": [o.model_dump() for o in spec.objectives],
            "sampler": spec.search.sampler,
            "seed": spec.search.seed,
        }
    )
