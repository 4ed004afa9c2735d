"""Power and energy per token of a train / infer / serve result, in every scope, with a
MaxQ-style power cap (`--power-cap`).

The scoped model (tigris.cost.power_scope) runs over the per-chip activity of the
result. A cap is not applied here: the caller ran its model on
`power_scope.apply_power_cap(chip, cap)`, so every op's time is already the time at the
clock the cap allows it (tigris.parallel.clock, one rule) and the activity says which
clock that was. `power_cap_slowdown` is what the rule still finds on the whole
activity's average (1 unless the average power exceeds the limit).

Keys (per chip unless said): power_chip_w (chip scope: the board without the DRAM
stacks), power_board_w (what NVML reports), power_node_wall_w (the chip's share of its
node at the wall), power_facility_w (x PUE); energy_per_token_j at the wall,
energy_per_token_chip_j, energy_per_token_board_j, energy_per_token_facility_j; the
breakdown power_breakdown_w (idle, compute, memory, network, host, conversion,
facility_overhead); power_interval: the 80 % band of the board, node-wall and J/token
figures from the held-out residuals of `tigris validate power` (data/power_interval.json:
by source for a chip with measured rows, by chip, wider, for one without: TPUs, Maia,
Trainium, tigris-1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources

from tigris.cost.power import Activity
from tigris.cost.power_scope import ScopedPower, scoped_power
from tigris.errors import SpecError
from tigris.hardware.chip import Chip

BREAKDOWN = ("idle", "compute", "memory", "network", "host", "conversion", "facility_overhead")


def parse_power_cap(value: str | float | None) -> float | None:
    """A per-chip power cap: '450 W' (or a number of watts from the API); None: no cap."""
    if value is None:
        return None
    if isinstance(value, str):
        from tigris.units import UnitError, parse_quantity

        try:
            watts = parse_quantity(value, "power")
        except UnitError as error:
            raise SpecError(str(error), key_path="--power-cap") from None
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a power such as '450 W', got {str(value)[:30]!r}",
                        key_path="--power-cap")  # fmt: skip
    else:
        watts = float(value)
    if not 0 < watts < float("inf"):
        raise SpecError(f"must be a positive power, got {watts:g} W", key_path="--power-cap")
    return watts


@dataclass(frozen=True)
class PowerReport:
    """The scoped power of a result's activity under its limit, and its tokens."""

    power: ScopedPower
    num_chips: int  # chips the activity and tokens cover
    tokens: float  # tokens those chips make over the activity time
    power_cap_w: float | None
    clock_ratio: float = 1.0  # rms clock of the activity's flop over boost (Activity.clock_sq)

    def energy_per_token_j(self, scope: str) -> float:
        return self.power.energy_j(scope) * self.num_chips / self.tokens

    def to_dict(self) -> dict[str, object]:
        p = self.power
        breakdown = {name: getattr(p, f"{name}_w") for name in BREAKDOWN}
        return {
            "power_cap_w": self.power_cap_w,
            "power_chip_w": p.chip_w,
            "power_board_w": p.board_w,
            "power_node_wall_w": p.node_wall_w,
            "power_facility_w": p.facility_w,
            "energy_per_token_j": self.energy_per_token_j("node_wall"),
            "energy_per_token_chip_j": self.energy_per_token_j("chip"),
            "energy_per_token_board_j": self.energy_per_token_j("board"),
            "energy_per_token_facility_j": self.energy_per_token_j("facility"),
            "power_breakdown_w": breakdown,
            "power_clock_ratio": self.clock_ratio * p.clock_ratio,
            "power_cap_slowdown": p.slowdown,
            "power_interval": power_interval(
                p.chip_id, p.board_w, p.node_wall_w, self.energy_per_token_j("node_wall"), p.limit_w
            ),
        }


@lru_cache(maxsize=1)
def _interval_table() -> dict:
    text = resources.files("tigris.cost").joinpath("data", "power_interval.json").read_text()
    return json.loads(text)


def power_interval(
    chip_id: str, board_w: float, wall_w: float, j_per_token: float, limit_w: float | None
) -> dict:
    """The band of each figure: figure x the held-out measured/predicted quantiles of
    chips measured ('measured') or of a chip left out of the fit ('unmeasured'); a
    board's band stops at its power limit."""
    table = _interval_table()
    kind = "measured" if chip_id in table["measured_chips"] else "unmeasured"
    bands = table[kind]
    out: dict[str, object] = {"coverage": table["coverage"],
                              "basis": f"validate power held out by {_BASIS[kind]}"}  # fmt: skip
    for key, value, band in (("power_board_w", board_w, "board"),
                             ("power_node_wall_w", wall_w, "node_wall"),
                             ("energy_per_token_j", j_per_token, "j_per_token")):  # fmt: skip
        b = bands[band]
        out[key] = [value * b["low"], value * b["high"]]
    if limit_w is not None:
        low, high = out["power_board_w"]  # type: ignore[misc]
        out["power_board_w"] = [min(low, limit_w), min(high, limit_w)]
    return out


_BASIS = {"measured": "source (a measured chip)", "unmeasured": "chip (a chip without rows)"}


def report_power(
    chip: Chip, activity: Activity, *, tokens: float, num_chips: int, busy_s: float | None = None
) -> PowerReport:
    """`activity` (one chip's) on `chip` (capped by apply_power_cap, if at all). `busy_s`:
    the device-busy part of its time where the rest is spent with the device busy too
    (a stack's overhead_on_device): the power is the busy part's, kept over the whole."""
    if busy_s is None or not 0 < busy_s < activity.time_s:
        power = scoped_power(chip, activity)
    else:
        busy = scoped_power(chip, replace(activity, time_s=busy_s))
        stretch = activity.time_s / busy_s
        power = replace(busy, time_s=activity.time_s, capped_time_s=busy.capped_time_s * stretch)
    return PowerReport(power, num_chips, tokens, chip.power_cap_w, activity.clock_sq**0.5)


def _device_host_s(deployment, steps: int, out_tokens_per_replica: float) -> float:
    """The stack's step and per-sequence times over a replica's run where they are spent
    with the device busy (overhead_on_device; 0 otherwise): one step time per engine step,
    one sequence time per output token (each running sequence makes one per step)."""
    stack = deployment.stack
    if stack is None or not stack.overhead_on_device:
        return 0.0
    return steps * stack.step_overhead_s + out_tokens_per_replica * stack.seq_overhead_s


def serving_power(deployment, metrics: dict[str, object]) -> dict[str, object]:
    """Power figures of a serving simulation's summary (its times were made on the
    deployment's chip, under its cap if it has one).

    Activity per chip of a replica (approximation: the simulator does not count flop):
    its requests at their mean input and output lengths, run as static batches of the
    mean decode batch (output tokens over decode steps), each batch's prefill and decode
    graphs counted as `tigris infer` counts them."""
    from tigris.cost.workload_activity import inference_activity

    d = deployment
    duration = float(metrics["duration_s"])  # type: ignore[arg-type]
    out_tokens = float(metrics["throughput_tokens_per_s"]) * duration  # type: ignore[arg-type]
    in_tokens = float(metrics["input_tokens_per_s"]) * duration  # type: ignore[arg-type]
    requests = int(metrics["num_requests"])  # type: ignore[call-overload]
    per_replica = max(1.0, requests / d.num_replicas)
    steps = max(1, int(metrics.get("num_steps") or 1))  # type: ignore[call-overload]
    batch = int(min(per_replica, max(1.0, round(out_tokens / d.num_replicas / steps))))
    mean_in = max(1, round(in_tokens / requests))
    mean_out = max(1, round(out_tokens / requests))
    one = inference_activity(d, batch, mean_in, mean_out, 1.0)
    batches = per_replica / batch
    activity = Activity(duration, one.flop * batches, one.dram_bytes * batches,
                        one.link_bytes * batches, dtype=one.dtype, clock_sq=one.clock_sq)  # fmt: skip
    busy_s = duration - _device_host_s(d, steps, out_tokens / d.num_replicas)
    report = report_power(d.chip, activity, tokens=out_tokens / d.num_replicas,
                          num_chips=d.num_chips // d.num_replicas, busy_s=busy_s)  # fmt: skip
    return report.to_dict()
