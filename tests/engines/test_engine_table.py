"""The one engine table: roofline, tile and the cycle-level systolic simulator by name; the
DMA latency and barrier cycles the tile engine reads come from the chip spec."""

import subprocess
import sys

import pytest

from tigris.engines.base import ENGINES, get_engine
from tigris.engines.systolic import SystolicConfig, simulate
from tigris.engines.tile import TileEngine, time_systolic_gemm
from tigris.engines.tile.systolic import busiest_array_gemm, systolic_chip
from tigris.errors import SpecError
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Gemm, Stream


def test_table_names_every_engine() -> None:
    assert set(ENGINES) == {"roofline", "tile", "systolic"}
    for name in ENGINES:
        assert get_engine(name).name == name


def test_unknown_engine_names_it() -> None:
    with pytest.raises(SpecError, match="unknown engine 'cycle'") as raised:
        get_engine("cycle")
    assert "roofline, tile, systolic" in (raised.value.hint or "")


def test_systolic_engine_gemm_is_the_simulators_cycles() -> None:
    chip = load_chip("tigris-1")
    op = Gemm("g", m=4096, n=1024, k=4096, dtype="bf16")
    result = get_engine("systolic").time(op, chip)
    matrix = chip.matrix
    # the busiest array's folds under the tile engine's split, with the array's buffers
    (m, n, k), _ = busiest_array_gemm(4096, 1024, 4096, systolic_chip(chip).geometry)
    config = SystolicConfig(
        matrix.rows, matrix.cols, "ws", dtype="bf16", weight_buffers=matrix.weight_buffers
    )
    cycles = simulate(m, n, k, config).total_cycles + 1
    assert result.engine == "systolic"
    assert result.details["cycles"] == cycles
    assert result.compute_s == cycles / matrix.clock


def test_systolic_engine_times_other_ops_with_the_tile_engine() -> None:
    chip, op = load_chip("tigris-1"), Stream("s", 1024, 4096.0, 4096.0, 1.0)
    assert get_engine("systolic").time(op, chip) == TileEngine().time(op, chip)


def test_systolic_engine_on_a_gpu_is_a_one_line_error() -> None:
    args = ["gemm", "64", "64", "64", "--chip", "h100-sxm", "--engine", "systolic"]
    done = subprocess.run([sys.executable, "-m", "tigris", *args], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "engine 'systolic'" in done.stderr and len(done.stderr.strip().splitlines()) <= 2


def test_dma_latency_and_barrier_come_from_the_chip() -> None:
    chip = load_chip("tigris-1")
    assert chip.matrix.dma_latency_s == 500e-9 and chip.matrix.barrier_cycles == 64
    op = Gemm("g", m=512, n=512, k=512)
    base = time_systolic_gemm(op, chip).details["pipeline_s"]
    slower = chip.model_copy(
        update={"matrix": chip.matrix.model_copy(update={"dma_latency_s": 1500e-9})}
    )
    assert time_systolic_gemm(op, slower).details["pipeline_s"] == pytest.approx(base + 2e-6)
    barrier = chip.model_copy(
        update={"matrix": chip.matrix.model_copy(update={"barrier_cycles": 64 + 1750})}
    )
    assert time_systolic_gemm(op, barrier).details["pipeline_s"] == pytest.approx(base + 1e-6)
