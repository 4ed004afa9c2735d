"""Training at scale with failures: expected interruptions, checkpointing and goodput.

Failures: interruption rates per component (gpu, host, network, other, planned) fitted
from the Llama 3 405B run's counts (arXiv:2407.21783, section 3.3.4, Table 5: 466
interruptions in 54 days on 16,384 H100; data/failures.yaml cites each figure). A rate
is per unit (a GPU, or a host of `gpus_per_host`) and hour; a run's interruptions per
hour are the sum over components of rate x units, and its mean time to interrupt
M = 1 / that sum (failures arrive as independent Poisson processes).

Checkpoints: a save takes delta = checkpoint bytes / storage bandwidth (weights and
optimizer state from the memory model); a restart takes R = restart overhead + reading
the checkpoint back. With compute interval tau between saves, the expected wall time
of T_s seconds of training is Daly's (J. T. Daly, "A higher order estimate of the
optimum checkpoint interval for restart dumps", FGCS 22 (2006) 303-312):

    T_w = M e^(R/M) (e^((tau + delta)/M) - 1) T_s / tau

(failures may strike during saves and restarts too); goodput = T_s / T_w. The interval
that minimises T_w is Young's sqrt(2 delta M) to first order (J. W. Young, "A first order
approximation to the optimum checkpoint interval", CACM 17(9), 1974); Daly's higher-order
estimate, used here, is sqrt(2 delta M) [1 + sqrt(delta/2M)/3 + (delta/2M)/9] - delta
for delta < 2M, else M.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

COMPONENTS = ("gpu", "host", "network", "other", "planned")
HOURS = 3600.0


@dataclass(frozen=True)
class FailureRates:
    """Interruptions per unit-hour by component; host rates per host, the rest per GPU."""

    per_unit_hour: dict[str, float]
    gpus_per_host: int

    def per_hour(self, num_chips: int, chips_per_host: int) -> dict[str, float]:
        """Interruptions per hour of a run on `num_chips`, by component."""
        hosts = math.ceil(num_chips / chips_per_host)
        return {
            name: rate * (hosts if name in ("host", "planned") else num_chips)
            for name, rate in self.per_unit_hour.items()
        }


@cache
def load_failure_data() -> dict:
    """data/failures.yaml, parsed once."""
    import yaml

    text = resources.files("tigris.parallel").joinpath("data/failures.yaml").read_text()
    return yaml.safe_load(text)


def fit_rates(run: dict) -> FailureRates:
    """Rates from a run's counts: each component's count over its unit-hours. Planned
    interruptions (maintenance) are counted per host."""
    hours = run["days"] * 24.0
    hosts = run["gpus"] / run["gpus_per_host"]
    counts = dict.fromkeys(COMPONENTS, 0.0)
    for count, _category, component in run["unexpected"].values():
        counts[component] += count
    counts["planned"] = run["planned"]
    units = {name: hosts if name in ("host", "planned") else run["gpus"] for name in COMPONENTS}
    rates = {name: counts[name] / (units[name] * hours) for name in COMPONENTS}
    return FailureRates(rates, run["gpus_per_host"])


def llama3_rates() -> FailureRates:
    return fit_rates(load_failure_data()["llama3_405b"])


def young_interval(checkpoint_s: float, mtti_s: float) -> float:
    """Young (1974): sqrt(2 delta M)."""
    return math.sqrt(2.0 * checkpoint_s * mtti_s)


def daly_interval(checkpoint_s: float, mtti_s: float) -> float:
    """Daly (2006), higher order: the compute interval between saves that minimises the
    expected wall time; inf without failures."""
    if math.isinf(mtti_s):
        return math.inf
    if checkpoint_s >= 2.0 * mtti_s:
        return mtti_s
    ratio = checkpoint_s / (2.0 * mtti_s)
    return young_interval(checkpoint_s, mtti_s) * (1 + math.sqrt(ratio) / 3 + ratio / 9) - (
        checkpoint_s
    )


def wall_time_s(
    solve_s: float, interval_s: float, checkpoint_s: float, restart_s: float, mtti_s: float
) -> float:
    """Daly (2006): expected wall time of `solve_s` seconds of training saved every
    `interval_s` seconds of compute; without failures, the saves alone."""
    if math.isinf(interval_s):
        return solve_s  # no failures, no saves
    if math.isinf(mtti_s):
        return solve_s * (interval_s + checkpoint_s) / interval_s
    m = mtti_s
    growth = math.expm1((interval_s + checkpoint_s) / m)
    return m * math.exp(restart_s / m) * growth * solve_s / interval_s


@dataclass(frozen=True)
class GoodputInputs:
    """What the goodput model takes beyond the failure rates."""

    solve_s: float  # failure-free time to train the tokens
    num_chips: int
    chips_per_host: int
    checkpoint_bytes: float
    storage_bytes_per_s: float
    restart_overhead_s: float
    interval_s: float | None = None  # None: Daly's optimum


@dataclass(frozen=True)
class Goodput:
    """Expected outcome of a training run with failures and checkpoint/restart."""

    inputs: GoodputInputs
    interruptions_per_hour: dict[str, float]
    checkpoint_s: float
    restart_s: float
    interval_s: float
    optimal_interval_s: float
    wall_s: float

    @property
    def mtti_s(self) -> float:
        rate = sum(self.interruptions_per_hour.values())
        return HOURS / rate if rate > 0 else math.inf

    @property
    def goodput(self) -> float:
        return self.inputs.solve_s / self.wall_s

    @property
    def expected_interruptions(self) -> float:
        return self.wall_s / self.mtti_s

    def to_dict(self) -> dict[str, object]:
        hours = self.wall_s / HOURS
        by_component = {k: v * hours for k, v in self.interruptions_per_hour.items()}
        return {
            "wall_time_s": self.wall_s,
            "solve_time_s": self.inputs.solve_s,
            "goodput": self.goodput,
            "expected_interruptions": self.expected_interruptions,
            "interruptions_by_component": by_component,
            "mtti_s": _finite(self.mtti_s),
            "checkpoint_bytes": self.inputs.checkpoint_bytes,
            "storage_bytes_per_s": self.inputs.storage_bytes_per_s,
            "checkpoint_save_s": self.checkpoint_s,
            "restart_overhead_s": self.inputs.restart_overhead_s,
            "restore_s": self.restart_s - self.inputs.restart_overhead_s,
            "checkpoint_interval_s": _finite(self.interval_s),
            "optimal_checkpoint_interval_s": _finite(self.optimal_interval_s),
        }


def _finite(value: float) -> float | None:
    """JSON has no infinity: None stands for 'never' (no failures)."""
    return None if math.isinf(value) else value


def model_goodput(inputs: GoodputInputs, rates: FailureRates | None = None) -> Goodput:
    """The run's expected wall time, interruptions and goodput."""
    rates = rates or llama3_rates()
    per_hour = rates.per_hour(inputs.num_chips, inputs.chips_per_host)
    total = sum(per_hour.values())
    mtti = HOURS / total if total > 0 else math.inf
    save = inputs.checkpoint_bytes / inputs.storage_bytes_per_s
    restart = inputs.restart_overhead_s + save  # the read back at the same bandwidth
    optimum = daly_interval(save, mtti)
    interval = inputs.interval_s if inputs.interval_s is not None else optimum
    wall = wall_time_s(inputs.solve_s, interval, save, restart, mtti)
    return Goodput(inputs, per_hour, save, restart, interval, optimum, wall)


def checkpoint_bytes(memory, plan, spec) -> float:
    """Bytes of one checkpoint (weights and optimizer state of the whole model): the
    memory model's bytes per parameter on a chip, undoing the ZeRO sharding over dp,
    times the model's parameters."""
    from tigris.parallel.memory import params_per_chip

    on_chip, _ = params_per_chip(spec, plan)
    weights = memory.weights_bytes * (plan.dp if plan.zero >= 3 else 1)
    optimizer = memory.optimizer_bytes * (plan.dp if plan.zero >= 1 else 1)
    return (weights + optimizer) / on_chip * spec.num_params


def default_storage_bytes_per_s(num_chips: int) -> float:
    """Llama 3's sustained storage bandwidth per GPU, times the chips."""
    return load_failure_data()["defaults"]["storage_bytes_per_s_per_chip"] * num_chips


def default_restart_overhead_s() -> float:
    return float(load_failure_data()["defaults"]["restart_overhead_s"])


@dataclass(frozen=True)
class GoodputOptions:
    """`tigris train --goodput`'s settings: aggregate storage bandwidth in GB/s (None:
    Llama 3's per GPU, times the chips) and the compute interval between saves (None:
    Daly's optimum)."""

    storage_gbps: float | None = None
    checkpoint_interval_s: float | None = None


def train_goodput(
    step,
    spec,
    chips_per_host: int,
    solve_s: float,
    energy_j: dict[str, float],
    options: GoodputOptions,
) -> dict[str, object]:
    """The `goodput` object of `tigris train --json`: the model's figures for the best
    plan's `step`, `solve_s` the failure-free time to train, `energy_j` that time's
    energies by key (at the wall, at the facility); the wall-time energy assumes the chips draw the training
    power throughout (restarts included), an upper bound."""
    storage = (
        options.storage_gbps * 1e9
        if options.storage_gbps is not None
        else default_storage_bytes_per_s(step.num_chips)
    )
    inputs = GoodputInputs(
        solve_s=solve_s,
        num_chips=step.num_chips,
        chips_per_host=chips_per_host,
        checkpoint_bytes=checkpoint_bytes(step.memory, step.plan, spec),
        storage_bytes_per_s=storage,
        restart_overhead_s=default_restart_overhead_s(),
        interval_s=options.checkpoint_interval_s,
    )
    found = model_goodput(inputs)
    return found.to_dict() | {key: value / found.goodput for key, value in energy_j.items()}
