"""The pure evaluation of one design on every workload: parameters in, a row out
(`tigris.explore.rows.Evaluation`).

The same `evaluate_batch` runs in the calling process, in a process-pool worker or as a
Ray task; an `Evaluator` holds only what is derived from the sweep (models, op graphs,
clusters, plans), built once per worker and never shared between processes. A batch is
evaluated in two stages: every design's chip is built and held to the static constraints,
then the training workloads' steps are evaluated on the surviving chips together
(tigris.parallel's `StepMemo.evaluate_many`: the tile engine's op times over the batch's
chips as numpy rows), the same results as one design at a time.

Objectives over several workloads are their weighted geometric mean (scale-free across
workloads of different sizes), or the weighted arithmetic mean when a value is not positive.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
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
from tigris.explore.rows import (
    Evaluation,
    Status,
    design_id,
    encode_rows,
    flat_stored_json,
    make_row,
    stored_json,
)
from tigris.explore.sweep import Sweep

__all__ = [
    "Evaluation",
    "Evaluator",
    "design_id",
    "encode_rows",
    "evaluate_batch",
    "flat_stored_json",
    "load_cost_models",
    "stored_json",
]


class _Rejected(Exception):
    def __init__(self, status: Status, reason: str) -> None:
        self.status = status
        self.reason = reason


class _Staged:
    """A design between its two stages: the chip built and held to the static constraints
    (or `rejected`), then its workloads run (`steps`: the training results its batch
    evaluated, by workload)."""

    __slots__ = ("chip", "derived", "elapsed_s", "env", "figures", "ident", "params")
    __slots__ += ("rejected", "steps")

    def __init__(self, params: Mapping[str, Value], ident: str) -> None:
        self.params, self.ident = params, ident
        self.elapsed_s = 0.0
        self.derived: dict[str, float] = {}
        self.chip: Any = None
        self.env: dict = {}
        self.figures: ChipFigures | None = None
        self.rejected: _Rejected | None = None
        self.steps: dict[str, Any] = {}


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
        # what every design reads of the sweep, looked up once
        self._derived = tuple(d.target for d in sweep.space.derived)
        self._static = tuple(c for c in sweep.constraints if c.kind != "result")
        self._results = tuple(c for c in sweep.constraints if c.kind == "result")
        self._chip_prefix = f"{sweep.base_id}~"

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
            cache = parallel.StepMemo()
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
        # positional (spec, chip, cluster, num_chips, global_batch, seq_len, engine,
        # precision): a keyword call costs as much again, on every design
        return parallel.TrainSetup(
            spec,
            chip,
            cluster,
            workload.num_chips,
            workload.global_batch,
            workload.seq_len,
            workload.engine,
            precision,
        )

    def _work(self, workload: Any, label: str, chip: Any, step: Any = None) -> Work:
        prepared = self._prepare(workload, label)
        task = workload.task
        if task in ("train_step", "prefill", "decode"):
            graph, engine = prepared
            return graph_work(graph, chip, engine)
        if task == "train":
            if step is None:  # not evaluated with its batch
                _, _, plan, parallel, cache, _ = prepared
                setup = self._train_setup(workload, chip, prepared)
                step = parallel.StepModel(setup, cache).evaluate(plan, checked=True)
            return train_work(workload, step)
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
        self,
        workload: Any,
        label: str,
        chip: Any,
        env: dict,
        figures: ChipFigures,
        step: Any = None,
    ) -> dict:
        """`step`: the training step's result where the batch evaluated it."""
        wanted = self._wanted[label]
        if workload.task == "synthetic":
            return synthetic_metrics(workload, env, self._bounds)
        if workload.task == "fleet":  # planned by tigris.fleet (above explore): its hook
            return workload.design_metrics(chip, figures)
        work = self._work(workload, label, chip, step)
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
        first, then the training workloads' steps evaluated on all of them together."""
        staged = [self._stage(params) for params in batch]
        start = time.perf_counter()
        built = [design for design in staged if design.rejected is None]
        self._train_together(built)
        for design in built:  # each design's share of the time spent on all of them
            design.elapsed_s += (time.perf_counter() - start) / len(built)
        return [self._finish(design) for design in staged]

    def _stage(self, params: Mapping[str, Value]) -> _Staged:
        """The design's chip, built and held to the static constraints."""
        start = time.perf_counter()
        design = _Staged(params, design_id(params))
        try:
            chip, env = design.chip, design.env = self._build_chip(params, design.ident)
            design.derived = {target: env[target] for target in self._derived}
            figures = design.figures = ChipFigures(chip, self.cost_models)
            if self._static:
                self._check_static(env, figures)
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
            metrics = self._run_workloads(design)
            objectives = self._objectives(metrics)
            if self._results:
                self._check_results(metrics)
            status, reason = "ok", None
        except _Rejected as rejected:
            status, reason = rejected.status, rejected.reason
        return make_row(
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

    def _train_together(self, designs: list[_Staged]) -> None:
        """Evaluate the training workloads' steps on the batch's chips together
        (tigris.parallel's StepMemo.evaluate_many: the same results as one design at a
        time). Where a design cannot run (a TigrisError), the designs are evaluated one by
        one, and that one fails there with its reason; any other error is a bug and
        propagates."""
        if len(designs) < 2:
            return
        for workload, label in self._workloads:
            if workload.task != "train":
                continue
            try:
                prepared = self._prepare(workload, label)
                chips = [design.chip for design in designs]
                setups = [self._train_setup(workload, chip, prepared) for chip in chips]
                _, _, plan, _, cache, _ = prepared
                steps = cache.evaluate_many(setups, plan, checked=True)
            except (Unavailable, TigrisError):
                continue
            for design, step in zip(designs, steps, strict=True):
                design.steps[label] = step

    def _build_chip(self, params: Mapping[str, Value], ident: str) -> tuple[Any, dict]:
        try:
            return self.sweep.space.build(params, chip_id=self._chip_prefix + ident[:8])
        except ValidationError as error:
            raise _Rejected("invalid", validation_reason(error)) from None
        except (ArithmeticError, ValueError, TypeError) as error:
            raise _Rejected("invalid", f"derived value undefined: {error}") from None

    def _check_static(self, env: dict, figures: ChipFigures) -> None:
        for constraint in self._static:
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

    def _run_workloads(self, design: _Staged) -> dict:
        chip, env, figures = design.chip, design.env, design.figures
        metrics: dict[str, dict[str, Any]] = {}
        for workload, label in self._workloads:
            try:
                metrics[label] = self._workload_metrics(
                    workload,
                    label,
                    chip,
                    env,
                    figures,
                    design.steps.get(label),  # type: ignore[arg-type]
                )
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
        for constraint in self._results:
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


def _plain(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Metrics as JSON-ready values (an Unavailable becomes its reason)."""
    if not any(isinstance(v, Unavailable) for values in metrics.values() for v in values.values()):
        return metrics  # the usual case: numbers only
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
