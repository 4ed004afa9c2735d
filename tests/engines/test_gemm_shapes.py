"""The GPU GEMM model's shape and chip mechanisms (tigris.engines.tile.gpu): the published
GEMM clock, the K step as a byte width, and the block scales of fp4 operands."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.engines.tile.common import FP4_SCALE_BLOCK, GPU_K_STEP
from tigris.engines.tile.gpu import gemm_clock_ratio, k_step, scaled_operand_bytes, time_gpu_gemm
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Gemm


def test_k_step_is_a_byte_width():
    assert k_step("bf16") == GPU_K_STEP
    assert k_step("fp8") == 2 * GPU_K_STEP
    assert k_step("fp4") == 4 * GPU_K_STEP


def test_fp4_operands_carry_one_scale_byte_per_block():
    op = Gemm("g", m=64, n=4096, k=4096, dtype="fp4")
    a, b = scaled_operand_bytes(op)
    assert a == pytest.approx(op.a_bytes * (1 + 1 / (FP4_SCALE_BLOCK * 0.5)))
    assert b == pytest.approx(op.b_bytes * 1.125)
    weight_only = Gemm("g", m=64, n=4096, k=4096, dtype="bf16", weight_dtype="fp4")
    a, b = scaled_operand_bytes(weight_only)
    assert (a, b) == (weight_only.a_bytes, pytest.approx(weight_only.b_bytes * 1.125))
    bf16 = Gemm("g", m=64, n=4096, k=4096)
    assert scaled_operand_bytes(bf16) == (bf16.a_bytes, bf16.b_bytes)


def test_decode_fp4_gemm_pays_its_scale_bytes():
    chip = load_chip("b200")
    op = Gemm("g", m=8, n=8192, k=8192, dtype="fp4")
    timed = time_gpu_gemm(op, chip)
    assert timed.dram_bytes >= 1.12 * op.b_bytes  # the weights and their scales, once


def test_published_gemm_clock_scales_the_matrix_rate():
    mi300x = load_chip("mi300x")
    assert gemm_clock_ratio(mi300x.matrix, "bf16") == pytest.approx(1207 / 2100)
    assert gemm_clock_ratio(mi300x.matrix, "fp8") == pytest.approx(1230 / 2100)
    assert gemm_clock_ratio(mi300x.matrix, "int8") == pytest.approx(1207 / 2100)  # bf16's
    assert gemm_clock_ratio(load_chip("h100-sxm").matrix, "bf16") == 1.0  # none published
    op = Gemm("g", m=8192, n=8192, k=8192)
    slow = time_gpu_gemm(op, mi300x).compute_s
    matrix = mi300x.matrix.model_copy(update={"gemm_clock": {}})
    fast = time_gpu_gemm(op, mi300x.model_copy(update={"matrix": matrix})).compute_s
    assert slow == pytest.approx(fast * 2100 / 1207)


def test_cli_gemm_on_mi300x_runs_at_the_gemm_clock():
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "gemm", "8192", "8192", "8192", "--chip", "mi300x",
         "--json"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    out = json.loads(result.stdout)
    assert out["details"]["tile_m"] == 256  # hipBLASLt's 256-row macro tiles
    # 1307.4 TFLOP/s peak at 2100 MHz; a dense GEMM holds 1207 MHz
    assert out["achieved_flop_per_s"] < 1307.4e12 * 1207 / 2100
