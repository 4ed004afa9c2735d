"""All coefficients and assumptions of the cost model, in one pydantic object.

`load_assumptions()` reads the packaged `data/assumptions.yaml` (every figure with its
source under `sources`), or a user's copy, and applies `key.path=value` overrides. The
object is frozen; `describe()` lists every value with its source so a report can print it.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from tigris.hardware.quantities import Spec, cached_figure
from tigris.io.loader import load_mapping, validate_spec
from tigris.io.overrides import apply_overrides

NodeTable = dict[int, float]


class _Section(Spec):
    """Frozen, unknown keys rejected. Table lookups are memoized per section (a design-space
    sweep asks the same ones for every design); `model_copy(update=...)` starts afresh."""

    @cached_figure
    def _lookups(self) -> dict[tuple, Any]:
        return {}

    def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, a figure of this section's values and the values in `key`, once."""
        lookups = self._lookups
        value = lookups.get(key, _MISSING)  # one lookup where found (a sweep's usual case)
        if value is _MISSING:
            if len(lookups) >= _MAX_LOOKUPS:  # a sweep of continuous values
                lookups.clear()
            value = lookups[key] = compute()
        return value

    @cached_figure
    def _part_lookups(self) -> dict[tuple, tuple[tuple, Any]]:
        return {}

    def memo_parts(self, name: str, parts: tuple, values: tuple, compute: Callable[[], Any]) -> Any:
        """`compute()`, a figure of this section's values, of `parts` (frozen specs such as
        a chip's matrix or memory, which a sweep shares between designs) and of `values`,
        once. Parts are keyed by identity (no hashing of a spec) and held beside the figure,
        so no other object takes their ids while the entry lives; bounded."""
        key = (name, *map(id, parts), *values)
        lookups = self._part_lookups
        entry = lookups.get(key)
        if entry is not None:
            return entry[1]
        if len(lookups) >= _MAX_PART_LOOKUPS:
            lookups.clear()
        figure = compute()
        lookups[key] = (parts, figure)
        return figure

    def at_node(self, table: str, node_nm: float) -> float:
        """`node_value` of this section's per-node table named `table`."""
        return self.memo(
            ("node", table, node_nm), lambda: node_value(getattr(self, table), node_nm)
        )

    def keyed(self, table: str, name: str, default: str | None = None) -> float | None:
        """`keyed_value` of this section's table named `table`."""
        return self.memo(
            ("keyed", table, name, default),
            lambda: keyed_value(getattr(self, table), name, default),
        )


_MAX_LOOKUPS = 65536
_MISSING = object()
_MAX_PART_LOOKUPS = 4096


class AreaCoefficients(_Section):
    reticle_limit_mm2: float = Field(gt=0)
    logic_density_mtr_per_mm2: NodeTable
    sram_bitcell_um2: NodeTable
    sram_large_array_efficiency: float = Field(gt=0, le=1)
    sram_macro_max_bytes: float = Field(gt=0)
    sram_macro_efficiency_by_kib: dict[int, float]
    mac_transistors: dict[str, float]
    vector_lane_transistors: float = Field(ge=0)
    simt_control_transistors_per_lane: float = Field(ge=0)
    register_file_bytes_per_subpartition: float = Field(ge=0)
    simt_lanes_per_subpartition: dict[str, float]
    register_file_transistors_per_bit: float = Field(ge=0)
    noc_transistors_per_core: float = Field(ge=0)
    enabled_unit_fraction_gpu: float = Field(gt=0, le=1)
    integration_overhead_fraction: float = Field(ge=0, lt=1)
    hbm_phy_mm2_per_stack: float = Field(ge=0)
    hbm_controller_transistors_per_stack: float = Field(ge=0)
    hbm_stack_bandwidth_bytes_per_s: dict[str, float]
    ddr_phy_mm2_per_channel: float = Field(ge=0)
    ddr_controller_transistors_per_channel: float = Field(ge=0)
    ddr_channel_bandwidth_bytes_per_s: dict[str, float]
    link_phy_mm2: dict[str, float]
    link_controller_transistors: dict[str, float]
    serdes_phy_mm2_per_gbit_per_s: float = Field(ge=0)
    serdes_controller_transistors_per_gbit_per_s: float = Field(ge=0)
    pcie_phy_mm2_per_lane: dict[int, float]
    pcie_controller_transistors_per_lane: dict[int, float]
    default_node_nm: float = Field(gt=0)
    default_clock_hz: float = Field(gt=0)

    @cached_figure
    def sram_macro_sizes_kib(self) -> tuple[int, ...]:
        """The macro sizes of sram_macro_efficiency_by_kib, smallest first."""
        return tuple(sorted(self.sram_macro_efficiency_by_kib))


class EnergyCoefficients(_Section):
    reference_node_nm: float = Field(gt=0)
    reference_logic_density_mtr_per_mm2: float = Field(gt=0)
    mac_pj_at_reference: dict[str, float]
    register_file_pj_per_bit_at_reference: float = Field(ge=0)
    sram_pj_per_bit_at_reference: float = Field(ge=0)
    onchip_bytes_per_mac: dict[str, float]
    dram_pj_per_bit: dict[str, float]
    link_pj_per_bit: float = Field(ge=0)
    static_w_per_mm2: float = Field(ge=0)


class FabAssumptions(_Section):
    wafer_diameter_mm: float = Field(gt=0)
    edge_loss_mm: float = Field(ge=0)
    scribe_mm: float = Field(ge=0)
    wafer_price_usd: NodeTable
    defect_density_per_cm2: NodeTable
    yield_model: Literal["poisson", "murphy", "seeds", "negative_binomial"]
    clustering_alpha: float = Field(gt=0)
    harvest_recovered_fraction: float = Field(ge=0, le=1)


class PackageAssumptions(_Section):
    hbm_usd_per_gb: dict[str, float]
    ddr_usd_per_gb: float = Field(ge=0)
    base_package_usd: float = Field(ge=0)
    advanced_package_usd_per_interposer_mm2: float = Field(ge=0)
    interposer_area_factor: float = Field(ge=1)
    hbm_stack_footprint_mm2: float = Field(ge=0)
    bonding_yield: float = Field(gt=0, le=1)
    test_and_assembly_fraction: float = Field(ge=0)
    server_cost_multiplier: float = Field(ge=1)
    chip_price_usd: dict[str, float]
    capex_basis: Literal["manufacturing", "purchase"]


class OperationsAssumptions(_Section):
    lifetime_years: float = Field(gt=0)
    utilization: float = Field(gt=0, le=1)
    pue: float = Field(ge=1)
    electricity_usd_per_kwh: float = Field(ge=0)
    cloud_usd_per_chip_hour: dict[str, float]
    price_basis: Literal["capex", "cloud"]


class Assumptions(_Section):
    """Every number the cost model uses; `sources` maps key paths to where each came from."""

    area: AreaCoefficients
    energy: EnergyCoefficients
    fab: FabAssumptions
    package: PackageAssumptions
    operations: OperationsAssumptions
    sources: dict[str, str] = Field(default_factory=dict)

    def describe(self) -> list[tuple[str, Any, str]]:
        """(key path, value, source) for every assumption, in file order."""
        rows: list[tuple[str, Any, str]] = []
        for section in ("area", "energy", "fab", "package", "operations"):
            values = getattr(self, section).model_dump()
            for key, value in values.items():
                path = f"{section}.{key}"
                rows.append((path, value, self.sources.get(path, "")))
        return rows

    def __str__(self) -> str:
        return "\n".join(f"{path} = {value}  # {source}" for path, value, source in self.describe())

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def default_assumptions_path() -> Path:
    return Path(str(resources.files("tigris.cost") / "data" / "assumptions.yaml"))


def load_assumptions(
    path: str | Path | None = None, overrides: list[str] | None = None
) -> Assumptions:
    """Read the assumptions file (the packaged one by default) and apply overrides.

    A partial file is not merged: a user's file is a full copy of the packaged one, so
    that every number in use is visible in one place. Errors name the file and key path.
    """
    file = Path(path) if path is not None else default_assumptions_path()
    data = load_mapping(file)
    if not overrides:
        return validate_spec(Assumptions, data, file=str(file))
    data = apply_overrides(data, overrides)
    # a bad value most likely came from --set, not from the (checked) file: say so
    return validate_spec(Assumptions, data, file=f"{file.name} (with --set)")


def node_value(table: dict[int, float], node_nm: float) -> float:
    """The entry of a per-node table nearest to `node_nm` (ties go to the older node)."""
    if not table:
        raise ValueError("empty per-node table")
    return table[min(table, key=lambda key: (abs(key - node_nm), -key))]


def keyed_value(table: dict[str, float], name: str, default: str | None = None) -> float | None:
    """Case-insensitive lookup of `name` in a table keyed by a memory or link kind."""
    lowered = {key.lower(): value for key, value in table.items()}
    value = lowered.get(name.lower())
    if value is None and default is not None:
        value = lowered.get(default.lower())
    return value
