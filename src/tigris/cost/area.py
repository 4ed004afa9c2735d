"""Die area from a chip's parts, per process node.

Model (each block's coefficient and source is in data/assumptions.yaml):
- logic blocks are counted in transistor-equivalents and divided by the node's logic
  density: matrix MACs (MACs per cycle of the costliest dtype x transistors per MAC, from
  the TPU v1 and TPUv4i floor plans), vector lanes (LLMCompass FPU counts), SIMT control
  per lane and a register file per SM sub-partition for GPUs (LLMCompass / EMPIRE), a NoC
  port per core;
- blocks measured bare (MAC arrays, SRAM arrays, PHYs) get the chip-level integration
  overhead of the TPU v1 floor plan (datapath ~2/3 of the die); GPU SM logic does not,
  since its coefficients come from whole-SM areas;
- for GPUs, whose tensor-core internals are not public, the MACs per cycle come from the
  published dense peak / (2 x clock); the product counts only enabled SMs, so the compute
  area is divided by the fraction of units a large GPU ships enabled;
- SRAM: bits x HD bitcell of the node / array efficiency (0.40 for large arrays, from
  AMD's V-Cache die; smaller macros derated by CACTI's efficiency ratio);
- PHYs do not shrink with the node (fixed mm2 per HBM stack, DDR channel, link, PCIe
  lane); their controllers are logic and do.

Per die: SRAM levels with one chip-wide instance, memory interfaces, links and the host
interface form the uncore; everything else is compute. A chip of several dies reports
the mean silicon per die and the compute per compute die (chiplets such as MI300X put
the uncore on separate I/O dies).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from functools import lru_cache

from tigris.cost._record import record
from tigris.cost.coefficients import AreaCoefficients, Assumptions, load_assumptions
from tigris.hardware.chip import Chip, SimdMatrix, SramLevel, SystolicMatrix, TensorCoreMatrix
from tigris.hardware.quantities import cached_figure


@dataclass(frozen=True)
class AreaBreakdown:
    """Silicon area of a chip by block (mm2), with the node and assumptions used."""

    chip_id: str
    node_nm: float
    num_dies: int
    matrix_mm2: float
    vector_mm2: float
    control_mm2: float
    register_file_mm2: float
    core_sram_mm2: float
    noc_mm2: float
    disabled_units_mm2: float
    shared_sram_mm2: float
    memory_phy_mm2: float
    memory_controller_mm2: float
    link_mm2: float
    host_interface_mm2: float
    reticle_limit_mm2: float
    assumed: tuple[str, ...] = ()

    # The sums are read several times per design in a sweep (area, power, cost, TCO): kept
    # on first read (the fields are frozen; equality and asdict see the fields alone).
    @cached_figure
    def compute_mm2(self) -> float:
        return (
            self.matrix_mm2
            + self.vector_mm2
            + self.control_mm2
            + self.register_file_mm2
            + self.core_sram_mm2
            + self.noc_mm2
            + self.disabled_units_mm2
        )

    @cached_figure
    def uncore_mm2(self) -> float:
        return (
            self.shared_sram_mm2
            + self.memory_phy_mm2
            + self.memory_controller_mm2
            + self.link_mm2
            + self.host_interface_mm2
        )

    @cached_figure
    def total_mm2(self) -> float:
        return self.compute_mm2 + self.uncore_mm2

    @property
    def die_area_mm2(self) -> float:
        """Mean silicon per die."""
        return self.total_mm2 / self.num_dies

    @property
    def compute_die_area_mm2(self) -> float:
        """Compute per die, for chiplet designs whose uncore sits on separate I/O dies."""
        return self.compute_mm2 / self.num_dies

    @property
    def exceeds_reticle(self) -> bool:
        return self.die_area_mm2 > self.reticle_limit_mm2

    def to_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["assumed"] = list(self.assumed)
        data.update(
            compute_mm2=self.compute_mm2,
            uncore_mm2=self.uncore_mm2,
            total_mm2=self.total_mm2,
            die_area_mm2=self.die_area_mm2,
            compute_die_area_mm2=self.compute_die_area_mm2,
            exceeds_reticle=self.exceeds_reticle,
        )
        return data


def chip_node_nm(chip: Chip, assumptions: Assumptions) -> tuple[float, bool]:
    """The chip's node in nm, and whether it was assumed (not published)."""
    if chip.process.node is None:
        return assumptions.area.default_node_nm, True
    return chip.process.node * 1e9, False


def matrix_clock_hz(chip: Chip, assumptions: Assumptions) -> tuple[float, bool]:
    clock = getattr(chip.matrix, "clock", None)
    if clock is None:
        return assumptions.area.default_clock_hz, True
    return clock, False


def macs_per_cycle(chip: Chip, assumptions: Assumptions) -> dict[str, float]:
    """Matrix MACs completed per cycle in each supported dtype."""
    matrix = chip.matrix
    if isinstance(matrix, SystolicMatrix):
        pes = matrix.num_cores * matrix.arrays_per_core * matrix.rows * matrix.cols
        return {d: pes * rate for d, rate in matrix.macs_per_pe_per_cycle.items()}
    if isinstance(matrix, SimdMatrix):
        return {d: matrix.num_cores * f / 2 for d, f in matrix.flop_per_cycle_per_core.items()}
    clock, _ = matrix_clock_hz(chip, assumptions)
    return {d: peak / (2 * clock) for d, peak in matrix.peak.items()}


def matrix_transistors(chip: Chip, assumptions: Assumptions) -> float:
    """The dtypes share one datapath, sized by its costliest dtype (MACs x transistors)."""
    table = assumptions.area.mac_transistors
    return max(
        (macs * table[d] for d, macs in macs_per_cycle(chip, assumptions).items() if d in table),
        default=0.0,
    )


def vector_lanes(chip: Chip, assumptions: Assumptions) -> float:
    """fp32 vector lanes: published vector rate / (2 flop x clock)."""
    if isinstance(chip.matrix, SimdMatrix):
        return 0.0  # a CPU's SIMD lanes are its matrix path, counted there
    clock, _ = matrix_clock_hz(chip, assumptions)
    return chip.vector_flop_per_s() / (2 * clock)


def simt_subpartitions(chip: Chip) -> int:
    """SM sub-partitions (NVIDIA) or SIMDs (AMD): one per tensor/matrix core."""
    matrix = chip.matrix
    if not isinstance(matrix, TensorCoreMatrix):
        return 0
    return (matrix.num_sms or 1) * (matrix.tensor_cores_per_sm or 4)


def num_cores(chip: Chip) -> int:
    matrix = chip.matrix
    if isinstance(matrix, TensorCoreMatrix):
        return matrix.num_sms or 1
    return matrix.num_cores


def sram_area_mm2(capacity_bytes: float, node_nm: float, assumptions: Assumptions) -> float:
    """Bits x bitcell / efficiency; macros above the largest size are split into several."""
    area = assumptions.area
    return area.memo(
        ("sram_area_mm2", capacity_bytes, node_nm),
        lambda: _sram_area_mm2(capacity_bytes, node_nm, area),
    )


def _sram_area_mm2(capacity_bytes: float, node_nm: float, area: AreaCoefficients) -> float:
    macro_bytes = min(capacity_bytes, area.sram_macro_max_bytes)
    sizes = area.sram_macro_sizes_kib
    macro_kib = max(macro_bytes / 1024, sizes[0])
    key = min((s for s in sizes if s >= macro_kib), default=sizes[-1])
    relative = area.sram_macro_efficiency_by_kib[key] / area.sram_macro_efficiency_by_kib[sizes[-1]]
    efficiency = area.sram_large_array_efficiency * min(relative, 1.0)
    bitcell_mm2 = area.at_node("sram_bitcell_um2", node_nm) * 1e-6
    return capacity_bytes * 8 * bitcell_mm2 / efficiency


def is_shared_level(level: SramLevel, levels: list[SramLevel]) -> bool:
    """The outermost level with a single chip-wide instance (L2, CMEM, Infinity Cache)."""
    return level is levels[-1] and level.instances == 1


def hbm_stack_count(chip: Chip, assumptions: Assumptions) -> int:
    """HBM stacks of the chip's DRAM: the spec's num_stacks, else its bandwidth over one
    stack's (0 for other DRAM)."""
    dram = chip.memory.dram
    kind = dram.kind.upper()
    if not kind.startswith("HBM"):
        return 0
    stack_bw = assumptions.area.keyed("hbm_stack_bandwidth_bytes_per_s", kind, "HBM3")
    return dram.num_stacks or math.ceil(dram.bandwidth / stack_bw)


def memory_interface(chip: Chip, density: float, assumptions: Assumptions) -> tuple[float, float]:
    """(PHY mm2, controller mm2) for the chip's DRAM."""
    area = assumptions.area
    dram = chip.memory.dram
    kind = dram.kind.upper()
    if kind.startswith("HBM"):
        stacks = hbm_stack_count(chip, assumptions)
        return (
            stacks * area.hbm_phy_mm2_per_stack,
            stacks * area.hbm_controller_transistors_per_stack / (density * 1e6),
        )
    channel_bw = area.keyed("ddr_channel_bandwidth_bytes_per_s", kind, "DDR5")
    channels = math.ceil(dram.bandwidth / channel_bw)
    return (
        channels * area.ddr_phy_mm2_per_channel,
        channels * area.ddr_controller_transistors_per_channel / (density * 1e6),
    )


def link_area_mm2(chip: Chip, density: float, assumptions: Assumptions) -> float:
    """Named links with a published per-link area; any other link by its bandwidth."""
    area = assumptions.area
    total = 0.0
    for link in chip.links:
        name = " ".join(link.name.lower().split())
        known = next((key for key in area.link_phy_mm2 if key in name), None)
        if known is not None and link.num_links is not None:
            per_link = area.link_phy_mm2[known] + area.link_controller_transistors.get(
                known, 0.0
            ) / (density * 1e6)
            total += link.num_links * per_link
            continue
        gbit_per_s = link.unidir_bytes_per_s * 8 / 1e9
        total += gbit_per_s * area.serdes_phy_mm2_per_gbit_per_s
        total += gbit_per_s * area.serdes_controller_transistors_per_gbit_per_s / (density * 1e6)
    return total


@lru_cache(maxsize=256)
def pcie_lanes(host_interface: str) -> tuple[int, int] | None:
    """(PCIe generation, lanes) from e.g. 'PCIe Gen5 x16'; None if none is named."""
    match = re.search(r"gen\s*(\d+)\s*x\s*(\d+)", host_interface.lower())
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def host_interface_mm2(chip: Chip, density: float, assumptions: Assumptions) -> float:
    """PCIe lanes parsed from e.g. 'PCIe Gen5 x16'; no interface, no area."""
    pcie = pcie_lanes(chip.host_interface or "")
    if pcie is None:
        return 0.0
    generation, lanes = pcie
    area = assumptions.area
    phy = area.at_node("pcie_phy_mm2_per_lane", generation)
    controller = area.at_node("pcie_controller_transistors_per_lane", generation)
    return lanes * (phy + controller / (density * 1e6))


def estimate_area(chip: Chip, assumptions: Assumptions | None = None) -> AreaBreakdown:
    """Area of every block of `chip` from its spec alone (its die_area is never read).

    The blocks of each part (compute: the matrix and vector units; uncore: SRAM levels and
    the DRAM interface, links and the host interface) are figured once per part object
    and node (`memo_parts`): a sweep's designs share their unchanged parts."""
    assumptions = assumptions or load_assumptions()
    area = assumptions.area
    node_nm, node_assumed = chip_node_nm(chip, assumptions)
    is_gpu = chip.kind == "gpu"
    matrix_mm2, vector_mm2, control, register_file, noc, clock_assumed = area.memo_parts(
        "compute",
        (chip.matrix, chip.vector),
        (is_gpu, chip.vendor, node_nm),
        lambda: _compute_blocks(chip, node_nm, assumptions),
    )
    # Memory and I/O in one lookup: sweeps seldom vary both, so as many hits as two.
    links = tuple(chip.links)
    core_sram, shared_sram, phy, controller, link, host = area.memo_parts(
        "uncore",
        (chip.memory, *links),
        (len(links), chip.host_interface, is_gpu, node_nm),
        lambda: _memory_blocks(chip, node_nm, assumptions) + _io_blocks(chip, node_nm, assumptions),
    )
    enabled = matrix_mm2 + vector_mm2 + control + register_file + core_sram + noc
    disabled = enabled * (1 / area.enabled_unit_fraction_gpu - 1) if is_gpu else 0.0
    assumed = (
        tuple(
            text
            for flag, text in (
                (node_assumed, f"process node assumed {area.default_node_nm:g} nm"),
                (clock_assumed, f"matrix clock assumed {area.default_clock_hz / 1e9:g} GHz"),
            )
            if flag
        )
        if node_assumed or clock_assumed
        else ()
    )
    return record(
        AreaBreakdown,
        {
            "chip_id": chip.id,
            "node_nm": node_nm,
            "num_dies": chip.num_dies,
            "matrix_mm2": matrix_mm2,
            "vector_mm2": vector_mm2,
            "control_mm2": control,
            "register_file_mm2": register_file,
            "core_sram_mm2": core_sram,
            "noc_mm2": noc,
            "disabled_units_mm2": disabled,
            "shared_sram_mm2": shared_sram,
            "memory_phy_mm2": phy,
            "memory_controller_mm2": controller,
            "link_mm2": link,
            "host_interface_mm2": host,
            "reticle_limit_mm2": area.reticle_limit_mm2,
            "assumed": assumed,
        },
    )


def _integration(is_gpu: bool, area: AreaCoefficients) -> tuple[float, float]:
    """(integration factor of bare blocks, that of SM logic): GPU SM logic comes from
    whole-SM areas that already hold the chip-level overhead."""
    integrate = 1 / (1 - area.integration_overhead_fraction)
    return integrate, 1.0 if is_gpu else integrate


def _compute_blocks(chip: Chip, node_nm: float, assumptions: Assumptions) -> tuple:
    """(matrix, vector, control, register file, NoC mm2, clock assumed): from the chip's
    matrix and vector units, kind and vendor alone."""
    area = assumptions.area
    _, clock_assumed = matrix_clock_hz(chip, assumptions)
    density = area.at_node("logic_density_mtr_per_mm2", node_nm)
    to_mm2 = 1.0 / (density * 1e6)
    is_gpu = chip.kind == "gpu"
    _, sm_integrate = _integration(is_gpu, area)
    matrix = matrix_transistors(chip, assumptions) * to_mm2 * sm_integrate
    vector = vector_lanes(chip, assumptions) * area.vector_lane_transistors * to_mm2 * sm_integrate
    subpartitions = simt_subpartitions(chip) if is_gpu else 0
    lanes = subpartitions * area.keyed("simt_lanes_per_subpartition", chip.vendor, "default")
    control = lanes * area.simt_control_transistors_per_lane * to_mm2
    register_bits = subpartitions * area.register_file_bytes_per_subpartition * 8
    register_file = register_bits * area.register_file_transistors_per_bit * to_mm2
    noc = num_cores(chip) * area.noc_transistors_per_core * to_mm2 * sm_integrate
    return matrix, vector, control, register_file, noc, clock_assumed


def _memory_blocks(chip: Chip, node_nm: float, assumptions: Assumptions) -> tuple:
    """(core SRAM, shared SRAM, DRAM PHY, DRAM controller mm2), integrated: from the chip's
    memory and kind alone."""
    area = assumptions.area
    density = area.at_node("logic_density_mtr_per_mm2", node_nm)
    is_gpu = chip.kind == "gpu"
    integrate, _ = _integration(is_gpu, area)
    levels = chip.memory.sram
    core_sram = shared_sram = 0.0
    for level in levels:
        level_mm2 = level.instances * sram_area_mm2(level.capacity, node_nm, assumptions)
        level_mm2 *= integrate if (not is_gpu or is_shared_level(level, levels)) else 1.0
        if is_shared_level(level, levels):
            shared_sram += level_mm2
        else:
            core_sram += level_mm2
    phy, controller = memory_interface(chip, density, assumptions)
    return core_sram, shared_sram, phy * integrate, controller * integrate


def _io_blocks(chip: Chip, node_nm: float, assumptions: Assumptions) -> tuple[float, float]:
    """(links, host interface mm2), integrated: from the chip's links and host interface."""
    area = assumptions.area
    density = area.at_node("logic_density_mtr_per_mm2", node_nm)
    integrate, _ = _integration(chip.kind == "gpu", area)
    return (
        link_area_mm2(chip, density, assumptions) * integrate,
        host_interface_mm2(chip, density, assumptions) * integrate,
    )
