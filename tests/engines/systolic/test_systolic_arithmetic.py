"""Real arithmetic: integer results exact, float results in the dataflow's addition order."""

from __future__ import annotations

import numpy as np
import pytest

from tigris.engines.systolic import FORMATS, SystolicConfig, random_operands, simulate
from tigris.engines.systolic.verify import gamma


def ordered_reference(a: np.ndarray, b: np.ndarray, chain: int) -> np.ndarray:
    """Scalar loops, one fp32 rounding per addition: chains of `chain` products, then the
    chains added in order (what the docs say each dataflow does)."""
    a32 = a.astype(np.float32)
    b32 = b.astype(np.float32)
    m, k = a32.shape
    out = np.zeros((m, b32.shape[1]), dtype=np.float32)
    for i in range(m):
        for j in range(b32.shape[1]):
            total = np.float32(0.0)
            for k0 in range(0, k, chain):
                psum = np.float32(0.0)
                for kk in range(k0, min(k, k0 + chain)):
                    psum = np.float32(psum + a32[i, kk] * b32[kk, j])
                total = np.float32(total + psum)
            out[i, j] = total
    return out


@pytest.mark.parametrize("dataflow", ["os", "ws", "is"])
def test_int8_equals_numpy_exactly(dataflow):
    config = SystolicConfig(rows=8, cols=4, dataflow=dataflow)
    result = simulate(29, 13, 67, config, verify=True, seed=1)
    a, b = random_operands(29, 13, 67, config.number_format, seed=1)
    expected = a.astype(np.int32) @ b.astype(np.int32)
    assert result.output.dtype == np.int32
    np.testing.assert_array_equal(result.output, expected)
    assert result.verified is True


def test_int32_accumulator_wraps_like_hardware():
    k = 140_000  # 140000 * 128 * 128 > 2**31
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.full((k, 2), -128, dtype=np.int8)
    for dataflow in ("os", "ws"):
        result = simulate(1, 2, k, SystolicConfig(4, 4, dataflow), a=a, b=b, verify=True)
        wrapped = np.int64(k * 128 * 128).astype(np.int32)
        assert result.output[0, 0] == wrapped != k * 128 * 128
        assert result.verified


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "fp8_e4m3", "fp8_e5m2"])
@pytest.mark.parametrize(("dataflow", "rows"), [("os", 4), ("ws", 4), ("is", 8)])
def test_float_follows_dataflow_order_bit_for_bit(dtype, dataflow, rows):
    m, n, k = 7, 5, 37
    config = SystolicConfig(rows=rows, cols=4, dataflow=dataflow, dtype=dtype)
    a, b = random_operands(m, n, k, FORMATS[dtype], seed=3)
    result = simulate(m, n, k, config, a=a, b=b, verify=True)
    chain = k if dataflow == "os" else rows
    expected = ordered_reference(a, b, chain)
    assert result.output.dtype == np.float32
    np.testing.assert_array_equal(result.output.view(np.int32), expected.view(np.int32))
    assert result.verified is True


def test_os_and_ws_round_differently_on_long_reductions():
    """The order matters: the same bf16 data summed in one chain vs chains of R differ."""
    a, b = random_operands(16, 16, 512, FORMATS["bf16"], seed=5)
    outputs = [
        simulate(16, 16, 512, SystolicConfig(4, 4, df, dtype="bf16"), a=a, b=b).output
        for df in ("os", "ws")
    ]
    assert not np.array_equal(outputs[0], outputs[1])


def test_float_error_within_stated_bound():
    a, b = random_operands(8, 8, 300, FORMATS["fp16"], seed=2)
    result = simulate(8, 8, 300, SystolicConfig(4, 4, "os", dtype="fp16"), a=a, b=b, verify=True)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    bound = gamma(300) * (np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64)))
    assert np.all(np.abs(result.output - exact) <= bound)
    assert 0 < result.max_abs_error <= result.error_bound


def test_verify_catches_a_wrong_result(monkeypatch):
    import tigris.engines.systolic.simulator as sim

    def off_by_one(*args, **kwargs):
        return np.zeros((3, 3), dtype=np.int32) + 1

    monkeypatch.setattr(sim, "multiply", off_by_one)
    assert simulate(3, 3, 3, SystolicConfig(2, 2), verify=True).verified is False
