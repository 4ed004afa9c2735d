"""What a design scores on a workload, computed by the models that own each figure.

Nothing here models hardware: times come from the engines (tigris.engines), the training
step model (tigris.parallel), the serving simulator (tigris.serving); area, cost, power
and energy from tigris.cost, each imported by name (lazily: a sweep file is read and checked
without loading them). A model says "this design cannot run this" by raising
InfeasibleError, UnsupportedError or SpecError, which the sweep records in the row with
the reason; a figure nothing can compute here (no die_area in the spec, no cluster for a
training workload) raises `Unavailable`. Any other exception is a bug and propagates with
its traceback: never a row of missing data.

Energy per token: tigris.cost.energy_per_token over the op graph's flop and DRAM bytes
where the task has one (train_step, prefill, decode); otherwise the modelled typical power
(tigris.cost.typical_power_w) times chips times seconds per token.
$ per million tokens: the design's owned cost per chip-hour (capex over lifetime plus
energy, tigris.cost.tco; never a published cloud price, which belongs to the base chip).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tigris.errors import InfeasibleError
from tigris.explore.workloads import (
    DecodeWorkload,
    InferWorkload,
    PrefillWorkload,
    ServeWorkload,
    SyntheticWorkload,
    TrainStepWorkload,
    TrainWorkload,
)
from tigris.hardware.chip import Chip


class Unavailable(Exception):
    """A figure that cannot be computed for this sweep (the chip spec or the workload lacks
    what its model needs); `reason` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


# ---------------------------------------------------------------------------- chip metrics

CHIP_METRICS: dict[str, str] = {
    "die_area": "area",
    "tdp": "power",
    "dram_capacity": "capacity",
    "dram_bandwidth": "bandwidth",
    "onchip_capacity": "capacity",
    "peak_bf16": "flop_rate",
    "modelled_die_area": "area",
    "modelled_tdp": "power",
    "cost": "usd",
}
"""Figures of the chip alone (for constraints), with their dimension. `die_area`/`tdp` are
the spec's fields (set them with `derived`); `modelled_*` and `cost` come from tigris.cost."""


@dataclass(frozen=True)
class CostModels:
    """tigris.cost's assumptions, loaded once (in the parent; picklable, so workers and
    Ray tasks receive them instead of reading the file again)."""

    assumptions: Any

    @property
    def module(self) -> Any:
        # lazily: a sweep is read and checked without it (`import a.b` skips the
        # fromlist machinery `from a import b` runs on every design)
        import tigris.cost as cost

        return cost

    @classmethod
    def load(cls) -> CostModels:
        from tigris.cost import load_assumptions

        return cls(load_assumptions())


class ChipFigures:
    """Chip metrics of one design, each computed once (`get`, by the table _FIGURES); the
    modelled area is handed to the cost and TCO models where their API takes it.

    The area, full-load power and cost results are kept in attributes rather than the
    table's dict, and tigris.cost is looked up once per design: a sweep reads them on
    every design, and the dispatch cost as much as the cached models' lookups."""

    __slots__ = ("_area", "_cache", "_cost", "_full_load", "_models", "chip", "cost")

    def __init__(self, chip: Chip, cost: Callable[[], CostModels]) -> None:
        self.chip = chip
        self.cost = cost
        self._cache: dict[str, Any] = {}
        self._models: tuple[Any, Any] | None = None
        self._area: Any = None
        self._full_load: Any = None
        self._cost: Any = None

    def get(self, name: str) -> Any:
        cache = self._cache
        if name in cache:
            return cache[name]
        compute = _FIGURES.get(name)
        if compute is None:
            raise KeyError(name)
        value = cache[name] = compute(self)
        return value

    def models(self) -> tuple[Any, Any]:
        """tigris.cost and its assumptions."""
        models = self._models
        if models is None:
            cost = self.cost()
            models = self._models = (cost.module, cost.assumptions)
        return models

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """tigris.cost's `name`(chip, assumptions, *args, **kwargs)."""
        module, assumptions = self.models()
        return getattr(module, name)(self.chip, assumptions, *args, **kwargs)

    def area(self) -> Any:
        """tigris.cost's estimate_area of the chip."""
        area = self._area
        if area is None:
            module, assumptions = self.models()
            area = self._area = module.estimate_area(self.chip, assumptions)
        return area

    def full_load(self) -> Any:
        """tigris.cost's full_load_power of the chip, given its area."""
        full_load = self._full_load
        if full_load is None:
            module, assumptions = self.models()
            full_load = module.full_load_power(self.chip, assumptions, self.area())
            self._full_load = full_load
        return full_load

    def chip_cost(self) -> Any:
        """tigris.cost's estimate_cost of the chip, given its area."""
        cost = self._cost
        if cost is None:
            module, assumptions = self.models()
            cost = self._cost = module.estimate_cost(self.chip, assumptions, self.area())
        return cost

    def typical_power_w(self) -> float:
        return self.get("_typical_power")

    def usd_per_chip_hour(self, power_w: float) -> float:
        module, assumptions = self.models()
        result = module.tco(
            self.chip, assumptions, power_w=power_w, cost=self.chip_cost(), area=self.area()
        )
        return float(result.owned_usd_per_chip_hour)


def _spec_figure(field: str, missing: str) -> Callable[[ChipFigures], Any]:
    def figure(figures: ChipFigures) -> Any:
        value = getattr(figures.chip, field)
        if value is None:
            raise Unavailable(missing)
        return value

    return figure


_FIGURES: dict[str, Callable[[ChipFigures], Any]] = {
    "die_area": _spec_figure("die_area", "the chip spec gives no die_area"),
    "tdp": _spec_figure("tdp", "the chip spec gives no tdp"),
    "dram_capacity": lambda figures: figures.chip.dram_capacity_bytes,
    "dram_bandwidth": lambda figures: figures.chip.dram_bandwidth_bytes_per_s,
    "onchip_capacity": lambda figures: figures.chip.onchip_capacity_bytes,
    "peak_bf16": lambda figures: figures.chip.peak_flop_per_s("bf16"),
    "modelled_die_area": lambda figures: float(figures.area().die_area_mm2),
    "modelled_tdp": lambda figures: float(
        figures.call("estimate_tdp", full_load=figures.full_load())
    ),
    "cost": lambda figures: float(figures.chip_cost().manufacturing_cost_usd),
    "_typical_power": lambda figures: float(
        figures.call("typical_power_w", full_load=figures.full_load())
    ),
}
"""How ChipFigures.get computes each figure (CHIP_METRICS, and the models' results)."""


# ---------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Work:
    """What a workload did on a design: the figures every derived metric starts from."""

    tokens_per_s: float
    num_chips: int
    time_s: float  # the step, the batch or the simulated interval
    tokens: float  # tokens in time_s
    flop: float | None = None  # totals over all chips, where the task knows them
    dram_bytes: float | None = None
    extra: tuple[tuple[str, float], ...] = ()


def graph_work(graph: Any, chip: Chip, engine: Any) -> Work:
    """An op graph timed op by op on one chip (the ops run one after another)."""
    time_s = flop = dram_bytes = 0.0
    for op, count in graph.iter_ops():
        timed = engine.time(op, chip)
        time_s += count * timed.time_s
        flop += count * timed.flop
        dram_bytes += count * timed.dram_bytes
    tokens = float(graph.num_tokens) if graph.task != "decode" else float(graph.batch)
    return Work(tokens / time_s, 1, time_s, tokens, flop, dram_bytes)


def train_work(workload: TrainWorkload, result: Any) -> Work:
    """The training step's figures from tigris.parallel's StepResult of the design."""
    if not result.fits:
        memory = result.memory  # on the design's DRAM capacity
        raise InfeasibleError(
            f"{workload.label}: {memory.total_bytes / 1e9:.1f} GB per chip does not fit in "
            f"{memory.capacity_bytes / 1e9:.1f} GB"
        )
    return Work(
        result.tokens_per_s,
        workload.num_chips,
        result.step_time_s,
        float(result.tokens_per_step),
        flop=float(result.hardware_flop_per_step),
        extra=(("mfu", float(result.mfu)),),
    )


def infer_work(workload: InferWorkload, deployment: Any, serving: Any) -> Work:
    result = serving.infer(deployment, workload.batch, workload.input_len, workload.output_len)
    if not result.fits:
        raise InfeasibleError(
            f"{workload.label}: {result.memory_per_chip_bytes / 1e9:.1f} GB per chip does not fit"
        )
    tokens = float(workload.batch * workload.output_len * result.num_replicas)
    return Work(
        float(result.throughput_tokens_per_s),
        workload.num_chips,
        float(result.e2e_latency_s),
        tokens,
        extra=(
            ("latency_s", float(result.e2e_latency_s)),
            ("ttft_s", float(result.ttft_s)),
            ("tpot_s", float(result.tpot_s)),
        ),
    )


def serve_work(workload: ServeWorkload, deployment: Any, requests: Any, simulator: Any) -> Work:
    import numpy as np

    result = simulator.simulate(deployment, requests)
    arrival = np.asarray(requests.arrival_s, dtype=float)
    finish = np.asarray(result.finish_s, dtype=float)
    e2e = finish - arrival
    duration = float(finish.max() - arrival.min())
    tokens = float(np.sum(requests.output_len))
    return Work(
        tokens / duration,
        workload.num_chips,
        duration,
        tokens,
        extra=(
            ("p99_latency_s", float(np.percentile(e2e, 99))),
            ("p50_latency_s", float(np.percentile(e2e, 50))),
        ),
    )


def synthetic_metrics(workload: SyntheticWorkload, env: dict[str, Any], bounds: dict) -> dict:
    """ZDT1 (Zitzler, Deb and Thiele 2000) or a sphere over the inputs scaled to [0, 1].

    ZDT1: f1 = x1, g = 1 + 9 mean(x2..xn), f2 = g (1 - sqrt(f1 / g)); both minimised, the
    Pareto front is x2..xn = 0, f2 = 1 - sqrt(f1). Sphere: f1 = sum (x - 0.5)^2, f2 = f1."""
    xs = []
    for name in workload.inputs:
        low, high = bounds[name]
        xs.append((float(env[name]) - low) / (high - low) if high > low else 0.0)
    if workload.function == "zdt1":
        f1 = xs[0]
        g = 1.0 + 9.0 * (sum(xs[1:]) / (len(xs) - 1) if len(xs) > 1 else 0.0)
        return {"f1": f1, "f2": g * (1.0 - (f1 / g) ** 0.5)}
    value = sum((x - 0.5) ** 2 for x in xs)
    return {"f1": value, "f2": value}


def derived_metrics(work: Work, figures: ChipFigures, wanted: set[str]) -> dict[str, Any]:
    """Metrics of a Work: throughput, time, energy and cost per token (those `wanted` that
    need tigris.cost are computed only when asked; Unavailable is recorded per metric)."""
    metrics: dict[str, Any] = {"tokens_per_s": work.tokens_per_s}
    metrics.update(dict(work.extra))
    if "j_per_token" in wanted or "usd_per_mtoken" in wanted:
        try:
            power_w = _average_power_w(work, figures)
            metrics["j_per_token"] = power_w * work.num_chips * work.time_s / work.tokens
            usd_h = figures.usd_per_chip_hour(power_w)
            metrics["usd_per_mtoken"] = figures.models()[0].usd_per_million_tokens(
                usd_h, work.tokens_per_s / work.num_chips
            )
        except Unavailable as missing:
            metrics.setdefault("j_per_token", missing)
            metrics.setdefault("usd_per_mtoken", missing)
    return metrics


def _average_power_w(work: Work, figures: ChipFigures) -> float:
    if work.flop is not None and work.dram_bytes is not None:
        area = figures.area()
        module, assumptions = figures.models()
        energy = module.energy_per_token(
            figures.chip,
            flop=work.flop,
            dram_bytes=work.dram_bytes,
            link_bytes=0.0,
            time_s=work.time_s,
            tokens=work.tokens,
            num_chips=work.num_chips,
            assumptions=assumptions,
            area=area,
        )
        return float(energy.energy_j) / work.num_chips / work.time_s
    return figures.typical_power_w()


__all__ = [
    "CHIP_METRICS",
    "ChipFigures",
    "CostModels",
    "DecodeWorkload",
    "PrefillWorkload",
    "TrainStepWorkload",
    "Unavailable",
    "Work",
    "derived_metrics",
    "graph_work",
    "infer_work",
    "serve_work",
    "synthetic_metrics",
    "train_work",
]
