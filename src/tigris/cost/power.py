"""Chip power and energy from activity: flop, on-chip and DRAM bytes, link bytes, time.

Energy per event at the chip's node, from Horowitz's 45 nm table (ISSCC 2014) scaled by
the logic density ratio: arithmetic by density^-0.5 (switched capacitance follows the
linear feature size at a fixed voltage), SRAM and register files by density^-0.25 (wires
shrink less). On-chip traffic per MAC follows the matrix unit's dataflow: tensor cores
read and write fp32 accumulators in the register file, systolic arrays keep them in the
array. DRAM and links cost a fixed energy per bit. Static power is proportional to the
modelled silicon area.

A workload whose power would exceed TDP runs at TDP: the same dynamic energy is spread
over a longer time (time x demand / cap on the dynamic part), with no credit for the
lower voltage a real DVFS cap would bring, so the slowdown errs on the long side.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from tigris.cost._record import record
from tigris.cost.area import AreaBreakdown, estimate_area
from tigris.cost.coefficients import Assumptions, load_assumptions
from tigris.engines.base import OpTime
from tigris.errors import UnsupportedError
from tigris.hardware.chip import Chip


@dataclass(frozen=True)
class Activity:
    """What one chip does in `time_s`: counts, not rates.

    sram_bytes is traffic to large on-chip buffers beyond the operand traffic every MAC
    already carries (leave 0 when unknown). clock_sq: the flop-weighted mean square of
    the clock ratio the time was made at (1: the boost clock; tigris.cost.power_scope).
    """

    time_s: float
    flop: float = 0.0
    dram_bytes: float = 0.0
    link_bytes: float = 0.0
    sram_bytes: float = 0.0
    dtype: str = "bf16"
    clock_sq: float = 1.0

    def __post_init__(self) -> None:
        _check_activity(self.time_s, self.flop, self.dram_bytes, self.link_bytes, self.sram_bytes)


def _check_activity(
    time_s: float, flop: float, dram_bytes: float, link_bytes: float, sram_bytes: float
) -> None:
    if time_s <= 0:
        raise ValueError("activity time must be positive")
    if min(flop, dram_bytes, link_bytes, sram_bytes) < 0:
        raise ValueError("activity counts must not be negative")


def activity_from_op_times(
    op_times: Iterable[OpTime], link_bytes: float = 0.0, dtype: str = "bf16"
) -> Activity:
    """Sum the flop, DRAM bytes and time of engine results into one activity."""
    times = list(op_times)
    return Activity(
        time_s=sum(t.time_s for t in times),
        flop=sum(t.flop for t in times),
        dram_bytes=sum(t.dram_bytes for t in times),
        link_bytes=link_bytes,
        dtype=dtype,
    )


@dataclass(frozen=True)
class PowerResult:
    """Power of one chip running an activity, before and after the TDP cap."""

    chip_id: str
    time_s: float
    capped_time_s: float
    tdp_w: float | None
    static_w: float
    compute_energy_j: float
    onchip_energy_j: float
    dram_energy_j: float
    link_energy_j: float

    @property
    def dynamic_energy_j(self) -> float:
        return (
            self.compute_energy_j + self.onchip_energy_j + self.dram_energy_j + self.link_energy_j
        )

    @property
    def demand_power_w(self) -> float:
        """Power the activity asks for at its uncapped time."""
        return self.static_w + self.dynamic_energy_j / self.time_s

    @property
    def power_w(self) -> float:
        """Power actually drawn (at most TDP)."""
        return self.static_w + self.dynamic_energy_j / self.capped_time_s

    @property
    def slowdown(self) -> float:
        return self.capped_time_s / self.time_s

    @property
    def energy_j(self) -> float:
        return self.dynamic_energy_j + self.static_w * self.capped_time_s

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data.update(
            dynamic_energy_j=self.dynamic_energy_j,
            demand_power_w=self.demand_power_w,
            power_w=self.power_w,
            slowdown=self.slowdown,
            energy_j=self.energy_j,
        )
        return data


def _density_ratio(node_nm: float, assumptions: Assumptions) -> float:
    density = assumptions.area.at_node("logic_density_mtr_per_mm2", node_nm)
    return density / assumptions.energy.reference_logic_density_mtr_per_mm2


def arithmetic_pj_per_mac(dtype: str, node_nm: float, assumptions: Assumptions) -> float:
    """One MAC of `dtype` at the node (an unknown dtype costs as bf16)."""
    table = assumptions.energy.mac_pj_at_reference
    return table.get(dtype, table["bf16"]) * _density_ratio(node_nm, assumptions) ** -0.5


def onchip_pj_per_mac(chip: Chip, node_nm: float, assumptions: Assumptions) -> float:
    """On-chip operand and accumulator traffic of one MAC, by the matrix unit's dataflow."""
    energy = assumptions.energy
    bytes_per_mac = energy.onchip_bytes_per_mac.get(chip.matrix.type, 0.0)
    scale = _density_ratio(node_nm, assumptions) ** -0.25
    return bytes_per_mac * 8 * energy.register_file_pj_per_bit_at_reference * scale


def sram_pj_per_bit(node_nm: float, assumptions: Assumptions) -> float:
    """Access to a large on-chip buffer or cache (MB-scale SRAM)."""
    scale = _density_ratio(node_nm, assumptions) ** -0.25
    return assumptions.energy.sram_pj_per_bit_at_reference * scale


def dram_energy_per_byte_j(chip: Chip, assumptions: Assumptions) -> float:
    return assumptions.energy.keyed("dram_pj_per_bit", chip.memory.dram.kind, "default") * 8e-12


def estimate_power(
    chip: Chip,
    activity: Activity,
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
) -> PowerResult:
    """Power and energy of `chip` doing `activity`, capped at the chip's TDP if it has one."""
    assumptions = assumptions or load_assumptions()
    area = area or estimate_area(chip, assumptions)
    return _power(
        chip,
        assumptions,
        area,
        activity.time_s,
        activity.flop,
        activity.dram_bytes,
        activity.link_bytes,
        activity.sram_bytes,
        activity.dtype,
    )


def _per_event_j(
    chip: Chip, dtype: str, node_nm: float, assumptions: Assumptions
) -> tuple[float, float, float, float]:
    """(pJ per MAC, on-chip pJ per MAC, SRAM pJ per bit, DRAM J per byte) of `chip` at the
    node, once per (dtype, matrix type, DRAM kind, node) and assumptions."""
    dram_kind = chip.memory.dram.kind
    return assumptions.memo(
        ("per_event_j", dtype, chip.matrix.type, dram_kind, node_nm),
        lambda: (
            arithmetic_pj_per_mac(dtype, node_nm, assumptions),
            onchip_pj_per_mac(chip, node_nm, assumptions),
            sram_pj_per_bit(node_nm, assumptions),
            dram_energy_per_byte_j(chip, assumptions),
        ),
    )


def _power(
    chip: Chip,
    assumptions: Assumptions,
    area: AreaBreakdown,
    time_s: float,
    flop: float,
    dram_bytes: float,
    link_bytes: float,
    sram_bytes: float,
    dtype: str,
) -> PowerResult:
    """`estimate_power` of an activity given by its (checked) counts."""
    mac_pj, onchip_pj, sram_pj, dram_j_per_byte = _per_event_j(
        chip, dtype, area.node_nm, assumptions
    )
    macs = flop / 2
    compute_j = macs * mac_pj * 1e-12
    onchip_j = macs * onchip_pj * 1e-12
    onchip_j += sram_bytes * 8 * sram_pj * 1e-12
    dram_j = dram_bytes * dram_j_per_byte
    energy = assumptions.energy
    link_j = link_bytes * 8 * energy.link_pj_per_bit * 1e-12
    static_w = energy.static_w_per_mm2 * area.total_mm2
    dynamic_j = compute_j + onchip_j + dram_j + link_j
    capped = time_s
    tdp = chip.tdp
    if tdp is not None and static_w + dynamic_j / time_s > tdp:
        headroom = tdp - static_w
        capped = dynamic_j / headroom if headroom > 0 else float("inf")
    return record(
        PowerResult,
        {
            "chip_id": chip.id,
            "time_s": time_s,
            "capped_time_s": capped,
            "tdp_w": chip.tdp,
            "static_w": static_w,
            "compute_energy_j": compute_j,
            "onchip_energy_j": onchip_j,
            "dram_energy_j": dram_j,
            "link_energy_j": link_j,
        },
    )


def peak_dtype(chip: Chip) -> str:
    """bf16 where the chip has it (the TDP-defining training dtype), else its widest float."""
    return _peak(chip)[0]


def _peak(chip: Chip) -> tuple[str, float]:
    """`peak_dtype` and the chip's dense peak in it (flop/s), looked up once."""
    try:
        return "bf16", chip.peak_flop_per_s("bf16")
    except UnsupportedError:
        dtype = chip.supported_dtypes()[0]
        return dtype, chip.peak_flop_per_s(dtype)


def full_load_activity(chip: Chip, time_s: float = 1.0) -> Activity:
    """Matrix at dense peak, DRAM at full bandwidth, every link busy both ways."""
    dtype = peak_dtype(chip)
    return Activity(
        time_s=time_s,
        flop=chip.peak_flop_per_s(dtype) * time_s,
        dram_bytes=chip.dram_bandwidth_bytes_per_s * time_s,
        link_bytes=2 * chip.scale_up_unidir_bytes_per_s * time_s,
        dtype=dtype,
    )


def full_load_power(
    chip: Chip, assumptions: Assumptions | None = None, area: AreaBreakdown | None = None
) -> PowerResult:
    """`estimate_power` of `full_load_activity` (what estimate_tdp and typical_power_w
    start from); `area`: the chip's estimate_area, where the caller has it already."""
    dtype, peak = _peak(chip)
    flop = peak * 1.0
    dram_bytes = chip.dram_bandwidth_bytes_per_s * 1.0
    link_bytes = 2 * chip.scale_up_unidir_bytes_per_s * 1.0
    _check_activity(1.0, flop, dram_bytes, link_bytes, 0.0)  # as Activity would
    assumptions = assumptions or load_assumptions()
    area = area or estimate_area(chip, assumptions)
    return _power(chip, assumptions, area, 1.0, flop, dram_bytes, link_bytes, 0.0, dtype)


def estimate_tdp(
    chip: Chip,
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
    *,
    full_load: PowerResult | None = None,
) -> float:
    """The model's TDP: the uncapped power of `full_load_activity` (W). `area` (the chip's
    estimate_area) or `full_load` (its full_load_power) save recomputing them."""
    if full_load is None:
        full_load = full_load_power(chip, assumptions, area)
    return full_load.demand_power_w


@dataclass(frozen=True)
class EnergyPerToken:
    """Energy of a training step or a serving interval, per token."""

    chip_id: str
    num_chips: int
    tokens: float
    energy_j: float  # board scope, all chips
    power_w_per_chip: float  # board scope
    slowdown: float
    power_chip_w: float = 0.0
    power_node_wall_w: float = 0.0
    energy_wall_j: float = 0.0
    # per chip, W: idle, compute, memory, network (the board), host, conversion (the node
    # at the wall), facility_overhead (PUE): tigris.cost.power_report.BREAKDOWN
    power_breakdown_w: tuple[tuple[str, float], ...] = ()

    @property
    def energy_per_token_j(self) -> float:
        """Board energy per token (what tigris compare ranks and prices)."""
        return self.energy_j / self.tokens

    @property
    def energy_per_token_chip_j(self) -> float:
        return self.energy_per_token_j * self.power_chip_w / self.power_w_per_chip

    @property
    def energy_per_token_wall_j(self) -> float:
        return self.energy_wall_j / self.tokens

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["energy_per_token_j"] = self.energy_per_token_j
        data["energy_per_token_chip_j"] = self.energy_per_token_chip_j
        data["energy_per_token_wall_j"] = self.energy_per_token_wall_j
        data["power_breakdown_w"] = dict(self.power_breakdown_w)
        return data


def energy_per_token(
    chip: Chip,
    *,
    flop: float,
    dram_bytes: float,
    link_bytes: float,
    time_s: float,
    tokens: float,
    num_chips: int = 1,
    dtype: str = "bf16",
    assumptions: Assumptions | None = None,
    area: AreaBreakdown | None = None,
    power_cap_w: float | None = None,
    clock_sq: float = 1.0,
) -> EnergyPerToken:
    """Board energy per token for totals over `num_chips` chips working for `time_s`,
    with the chip and node-wall figures beside it (tigris.cost.power_scope: the fitted,
    scoped model, under the chip's TDP and `power_cap_w`).

    flop, dram_bytes and link_bytes are totals across all chips (link bytes counted once
    per byte sent); the work is taken to be spread evenly. tco applies its own server
    multiplier and PUE to power_w_per_chip. `area` (the chip's estimate_area) saves
    recomputing it. `clock_sq`: Activity.clock_sq of the times (1: made at the boost
    clock; a training step the step model ran at its sustained clock s: s^2, from
    tigris.parallel.clock.sustained_clock_ratio).
    """
    from tigris.cost.power_report import BREAKDOWN
    from tigris.cost.power_scope import scoped_power

    if tokens <= 0 or num_chips <= 0:
        raise ValueError("tokens and num_chips must be positive")
    per_chip = (flop / num_chips, dram_bytes / num_chips, link_bytes / num_chips)
    activity = Activity(time_s, *per_chip, dtype=dtype, clock_sq=clock_sq)
    assumptions = assumptions or load_assumptions()
    area = area or estimate_area(chip, assumptions)
    power = scoped_power(
        chip, activity, power_cap_w=power_cap_w, assumptions=assumptions, area=area
    )
    return record(
        EnergyPerToken,
        {
            "chip_id": chip.id,
            "num_chips": num_chips,
            "tokens": tokens,
            "energy_j": power.energy_j("board") * num_chips,
            "power_w_per_chip": power.board_w,
            "slowdown": power.slowdown,
            "power_chip_w": power.chip_w,
            "power_node_wall_w": power.node_wall_w,
            "energy_wall_j": power.energy_j("node_wall") * num_chips,
            "power_breakdown_w": tuple((n, getattr(power, f"{n}_w")) for n in BREAKDOWN),
        },
    )


def training_step_energy(chip: Chip, *, tokens_per_step: float, **totals: float) -> EnergyPerToken:
    """energy_per_token for one training step (tokens = global batch tokens)."""
    return energy_per_token(chip, tokens=tokens_per_step, **totals)  # type: ignore[arg-type]


def serving_energy(chip: Chip, *, tokens_generated: float, **totals: float) -> EnergyPerToken:
    """energy_per_token for a serving interval (tokens = output tokens generated)."""
    return energy_per_token(chip, tokens=tokens_generated, **totals)  # type: ignore[arg-type]
