"""WHAT a chip is: matrix compute, vector units, memory hierarchy, links, power, area.

Three kinds of matrix compute share one interface (`peak_flop_per_s(dtype)`):
- tensor cores (GPU): SMs x tensor cores with the vendor's per-dtype dense peaks;
- systolic arrays (TPU/NPU): cores x arrays of R x C PEs at a clock; peaks follow from
  2 * R * C * arrays * cores * clock * MACs per PE per cycle for the dtype;
- SIMD/matrix extensions (CPU): cores x flop per cycle per core x clock.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from tigris.errors import UnsupportedError
from tigris.hardware.quantities import (
    MAX_COUNT,
    Area,
    Bandwidth,
    Capacity,
    DType,
    Duration,
    FlopRate,
    Frequency,
    Length,
    PositiveRate,
    Power,
    Spec,
    cached_figure,
)


class TensorCoreMatrix(Spec):
    """GPU matrix compute: streaming multiprocessors (or CUs) holding tensor cores."""

    type: Literal["tensor_core"] = "tensor_core"
    num_sms: int | None = Field(
        None,
        gt=0,
        le=MAX_COUNT,
        description="SMs (NVIDIA), compute units (AMD) or engines; None when not published "
        "(the engine then spreads tiles evenly, with no wave quantization)",
    )
    tensor_cores_per_sm: int | None = Field(None, gt=0, le=MAX_COUNT)
    clock: Frequency | None = Field(
        None, description="tensor-core clock that the dense peaks assume"
    )
    peak: dict[DType, FlopRate] = Field(description="dense peak per dtype (never sparse)")
    gemm_clock: dict[DType, Frequency] = Field(
        default_factory=dict,
        description="median clock a dense GEMM kernel holds, per dtype, where the vendor "
        "publishes it (AMD's MAF tables); the GEMM model scales the peak by gemm_clock / "
        "clock. A dtype left out runs at the bf16 entry, or at `clock` when empty",
    )
    # Defaults are the common CUTLASS 128 x 128 CTA tile, a modelling choice where the
    # chip's kernel library tile is not known.
    block_tile_m: int = Field(
        128, gt=0, le=MAX_COUNT, description="output rows of one thread-block tile"
    )
    block_tile_n: int = Field(
        128, gt=0, le=MAX_COUNT, description="output columns of one thread-block tile"
    )

    def peak_flop_per_s(self, dtype: str) -> float | None:
        return self.peak.get(dtype)  # type: ignore[call-overload]

    @property
    def num_parallel_units(self) -> int:
        return self.num_sms or 1


class SystolicMatrix(Spec):
    """TPU/NPU matrix compute: cores, each with systolic arrays of rows x cols PEs."""

    type: Literal["systolic"] = "systolic"
    num_cores: int = Field(gt=0, le=MAX_COUNT)
    arrays_per_core: int = Field(gt=0, le=MAX_COUNT)
    rows: int = Field(gt=0, le=MAX_COUNT, description="PE rows of one array")
    cols: int = Field(gt=0, le=MAX_COUNT, description="PE columns of one array")
    clock: Frequency
    dataflow: Literal["os", "ws", "is"] = "ws"
    macs_per_pe_per_cycle: dict[DType, PositiveRate] = Field(
        description="MACs one PE completes per cycle in each dtype (e.g. bf16: 1, int8: 2)"
    )
    # The defaults are the modelling assumptions the tile engine and the ISA's machine made
    # before they were chip fields (a typical HBM load-to-use latency; a short barrier).
    dma_latency_s: Duration = Field(
        500e-9,
        alias="dma_latency",
        description="first-byte latency of one DMA transfer between DRAM and a core's SRAM",
    )
    barrier_cycles: int = Field(
        64, ge=0, le=MAX_COUNT, description="cycles a barrier across cores costs after the last"
    )
    weight_buffers: Literal[1, 2] = Field(
        1,
        description="registers per PE for the stationary operand: 1 reloads the array after "
        "each fold drains (SCALE-Sim), 2 preloads the next fold's weights while the current "
        "fold streams (TPU MXUs; tigris.engines.systolic.dataflow)",
    )

    model_config = ConfigDict(populate_by_name=True)  # YAML 'dma_latency', Python dma_latency_s

    def peak_flop_per_s(self, dtype: str) -> float | None:
        rate = self.macs_per_pe_per_cycle.get(dtype)  # type: ignore[call-overload]
        if rate is None:
            return None
        pes = self.num_cores * self.arrays_per_core * self.rows * self.cols
        return 2.0 * pes * rate * self.clock

    @property
    def num_parallel_units(self) -> int:
        return self.num_cores * self.arrays_per_core


class SimdMatrix(Spec):
    """CPU compute: cores with SIMD or matrix extensions (SVE, AMX, SME)."""

    type: Literal["simd"] = "simd"
    num_cores: int = Field(gt=0, le=MAX_COUNT)
    clock: Frequency
    flop_per_cycle_per_core: dict[DType, PositiveRate] = Field(
        description="flop (2 per FMA) per core per cycle in each dtype"
    )

    def peak_flop_per_s(self, dtype: str) -> float | None:
        rate = self.flop_per_cycle_per_core.get(dtype)  # type: ignore[call-overload]
        return None if rate is None else self.num_cores * rate * self.clock

    @property
    def num_parallel_units(self) -> int:
        return self.num_cores


MatrixCompute = Annotated[
    TensorCoreMatrix | SystolicMatrix | SimdMatrix, Field(discriminator="type")
]


class VectorUnit(Spec):
    """Vector/SIMT units that run elementwise work, norms, softmax."""

    peak_fp32: FlopRate | None = None
    peak_bf16: FlopRate | None = None
    special: FlopRate | None = Field(
        None,
        description="special-function results per second (exp2, reciprocal, rsqrt on the "
        "GPU's SFUs: 16 per SM per clock on Ampere and Hopper); None when not published, "
        "the exponentials then running on the vector unit",
    )

    @model_validator(mode="after")
    def _one_peak(self) -> VectorUnit:
        if self.peak_fp32 is None and self.peak_bf16 is None:
            raise ValueError("give peak_fp32 or peak_bf16")
        return self

    @property
    def flop_per_s(self) -> float:
        """fp32 throughput where published, else bf16 (the elementwise work runs in either)."""
        return self.peak_fp32 if self.peak_fp32 is not None else self.peak_bf16  # type: ignore[return-value]


class SramLevel(Spec):
    """One on-chip memory level (shared memory, L2, VMEM, CMEM)."""

    name: str
    capacity: Capacity = Field(description="capacity of one instance")
    instances: int = Field(1, gt=0, le=MAX_COUNT, description="how many (e.g. one per SM)")
    bandwidth: Bandwidth | None = Field(None, description="aggregate for the chip")
    latency: Duration | None = None

    @property
    def total_capacity_bytes(self) -> float:
        return self.capacity * self.instances


class Dram(Spec):
    """Off-chip memory: HBM, LPDDR or DDR."""

    kind: str = Field(description="HBM3, HBM3e, LPDDR5X, DDR5 ...")
    capacity: Capacity
    bandwidth: Bandwidth
    latency: Duration | None = None
    num_stacks: int | None = Field(None, gt=0, le=MAX_COUNT)


class Memory(Spec):
    sram: list[SramLevel] = Field(default_factory=list, description="innermost first")
    dram: Dram


class Link(Spec):
    """Chip-to-chip links of one kind (NVLink, ICI, Infinity Fabric)."""

    name: str
    num_links: int | None = Field(
        None, gt=0, le=MAX_COUNT, description="None when only the total is published"
    )
    bandwidth_unidir: Bandwidth | None = Field(None, description="per chip, one direction")
    bandwidth_bidir: Bandwidth | None = Field(None, description="per chip, both directions")
    latency: Duration | None = None

    @model_validator(mode="after")
    def _direction_given(self) -> Link:
        if self.bandwidth_unidir is None and self.bandwidth_bidir is None:
            raise ValueError("give bandwidth_unidir or bandwidth_bidir")
        if (
            self.bandwidth_unidir
            and self.bandwidth_bidir
            and abs(self.bandwidth_bidir - 2 * self.bandwidth_unidir) > 1e-6 * self.bandwidth_bidir
        ):
            raise ValueError("bandwidth_bidir must be twice bandwidth_unidir")
        return self

    @property
    def unidir_bytes_per_s(self) -> float:
        if self.bandwidth_unidir is not None:
            return self.bandwidth_unidir
        return self.bandwidth_bidir / 2  # type: ignore[operator]


class Process(Spec):
    name: str = Field(description="foundry process, e.g. 'TSMC 4N'")
    node: Length | None = Field(None, description="nominal node, e.g. '4 nm'; None if unpublished")


class Calibration(Spec):
    """Efficiency terms, each standing for a mechanism, fitted on measured.csv alone.

    matrix_fraction: sustained / peak matrix throughput for large GEMMs (the clock held
      below the spec clock by the power limit, instruction issue, epilogues); MAMF rows.
    dram_fraction: achievable / peak DRAM bandwidth (refresh, bank and page conflicts);
      memory-bound GEMM rows (one-token decode projections).
    kernel_overhead: on-device start and tail of one kernel, paid by every op.
    host_overhead: host-side launch of one op in an eager framework; only seen when a
      measurement times a lone op from the host (not in a pipelined or graph-captured step).
    attention_fraction: sustained / peak matrix throughput inside a fused attention kernel,
      per implementation ('flash2', 'flash1'); an implementation left out runs at
      matrix_fraction. It stands for the kernel's instruction path and tiling: FlashAttention-2
      on Hopper issues Ampere's synchronous mma.sync, not the asynchronous wgmma that
      cuBLAS's GEMMs use, with small tiles held in registers; on Ampere it is close to a
      GEMM's. The exponentials (special-function units) and the fp32 softmax arithmetic are
      timed separately, serialised with the matmuls (FlashAttention-2 does not overlap them).
      Fitted on the `attention` rows (Dao 2023 figures) only: `attention_fitted_on`.

    The defaults apply to chips with no measured rows (TPUs, Maia, Trainium, Cobalt and any
    user design). They are NOT fitted to those chips: they are round values inside the range
    of the fitted chips (matrix_fraction 0.53-0.84, dram_fraction 0.60-0.91, kernel_overhead
    4.5-12 us, host_overhead 10-22 us in the presets). Treat absolute times on such chips as
    carrying that spread; comparisons between them share the same assumption.
    """

    matrix_fraction: float = Field(0.8, gt=0, le=1)
    dram_fraction: float = Field(0.85, gt=0, le=1)
    kernel_overhead: Duration = 3e-6
    host_overhead: Duration = 10e-6
    fitted_on: str | None = Field(None, description="measured.csv rows used")
    attention_fraction: dict[str, float] = Field(
        default_factory=dict,
        description="sustained / peak matrix throughput inside a fused attention kernel, "
        "per implementation (flash2, flash1); missing ones use matrix_fraction",
    )
    attention_fitted_on: str | None = Field(
        None, description="measured.csv rows attention_fraction was fitted on"
    )

    @model_validator(mode="after")
    def _fractions_in_range(self) -> Calibration:
        for name, value in self.attention_fraction.items():
            if not 0 < value <= 1:
                raise ValueError(f"attention_fraction.{name} must be in (0, 1], got {value}")
        return self

    def attention_matrix_fraction(self, implementation: str) -> float:
        return self.attention_fraction.get(implementation, self.matrix_fraction)


class PowerCapTerms(Spec):
    """What the one power-cap rule (tigris.parallel.clock.throttle) needs of a capped
    chip, set from the fitted power model by tigris.cost.power_scope.apply_power_cap
    (never read from YAML): the limit, idle power, a dense GEMM stream's compute power at
    the boost clock in `dtype`, DRAM energy per byte, and the clock ratio the cap allows
    that stream over its sustained clock at TDP."""

    limit_w: float = Field(gt=0)
    idle_w: float = Field(ge=0)
    dense_compute_w: float = Field(ge=0)
    dram_j_per_byte: float = Field(ge=0)
    dense_clock_ratio: float = Field(gt=0, le=1)
    dtype: str = "bf16"


class Chip(Spec):
    """One accelerator or CPU package."""

    id: str
    name: str
    vendor: str
    kind: Literal["gpu", "tpu", "npu", "cpu"]
    year: int | None = None
    reference_design: bool = Field(False, description="our own design, not a product")
    process: Process
    die_area: Area | None = Field(None, description="silicon area of all compute dies")
    num_dies: int = Field(1, gt=0, le=MAX_COUNT)
    tdp: Power | None = None
    sustained_clock_fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="clock a back-to-back dense GEMM stream holds at the board power limit, "
        "over the boost clock (tigris.parallel.clock); None where unpublished: held at boost",
    )
    power_cap_w: Power | None = Field(
        None, description="MaxQ-style board power limit below TDP (tigris.parallel.clock)"
    )
    power_cap_terms: PowerCapTerms | None = Field(
        None, description="derived by tigris.cost.power_scope.apply_power_cap; not YAML"
    )
    matrix: MatrixCompute
    vector: VectorUnit | None = None
    memory: Memory
    links: list[Link] = Field(default_factory=list, description="scale-up links")
    host_interface: str | None = None
    default_system: str | None = Field(None, description="catalog id of its usual system")
    calibration: Calibration = Field(default_factory=Calibration)
    sources: dict[str, str] = Field(default_factory=dict, description="key path -> URL")
    notes: str | None = None

    @model_validator(mode="after")
    def _matrix_fits_kind(self) -> Chip:
        expected = {"gpu": "tensor_core", "tpu": "systolic", "npu": "systolic", "cpu": "simd"}
        allowed = {expected[self.kind]}
        if self.kind == "npu":  # Gaudi/Trainium describe per-engine peaks
            allowed.add("tensor_core")
        if self.matrix.type not in allowed:
            raise ValueError(f"a {self.kind} describes its matrix compute as {expected[self.kind]}")
        return self

    # ---- derived figures -------------------------------------------------------------
    # The engines read these many times per op graph; a spec is frozen, so each is computed
    # once per chip (Spec.model_copy(update=...) drops them from the copy).

    def peak_flop_per_s(self, dtype: str) -> float:
        """Dense matrix peak in `dtype`; UnsupportedError if the chip has no path for it."""
        peaks = self._peaks
        if dtype in peaks:
            peak = peaks[dtype]
        else:
            peak = peaks[dtype] = self.matrix.peak_flop_per_s(dtype)
        if peak is None:
            raise UnsupportedError(f"{self.id} has no {dtype} matrix path")
        return peak

    @cached_figure
    def _peaks(self) -> dict[str, float | None]:
        return {}

    def supported_dtypes(self) -> list[str]:
        return list(self._supported_dtypes)

    @cached_figure
    def _supported_dtypes(self) -> tuple[str, ...]:
        order = ["fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
        return tuple(d for d in order if self.matrix.peak_flop_per_s(d) is not None)

    @cached_figure
    def dram_bandwidth_bytes_per_s(self) -> float:
        return self.memory.dram.bandwidth

    @cached_figure
    def dram_capacity_bytes(self) -> float:
        return self.memory.dram.capacity

    @cached_figure
    def onchip_capacity_bytes(self) -> float:
        return sum(level.total_capacity_bytes for level in self.memory.sram)

    @cached_figure
    def scale_up_unidir_bytes_per_s(self) -> float:
        return sum(link.unidir_bytes_per_s for link in self.links)

    def ridge_point(self, dtype: str) -> float:
        """Arithmetic intensity (flop/byte) where compute and DRAM bandwidth balance."""
        return self.peak_flop_per_s(dtype) / self.dram_bandwidth_bytes_per_s

    def special_per_s(self) -> float | None:
        """Special-function (exp) results per second, None where not described."""
        return self.vector.special if self.vector is not None else None

    def vector_flop_per_s(self) -> float:
        """Vector throughput; chips without a described vector unit use 1/16 of bf16 peak."""
        return self._vector_flop_per_s

    @cached_figure
    def _vector_flop_per_s(self) -> float:
        if self.vector is not None:
            return self.vector.flop_per_s
        dtype = "bf16" if "bf16" in self._supported_dtypes else self._supported_dtypes[0]
        return self.peak_flop_per_s(dtype) / 16
