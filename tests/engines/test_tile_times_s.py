"""TileEngine.times_s (the sweep's path, no OpTime per op) equals TileEngine.time."""

import pytest

from tigris.engines.tile import TileEngine
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Attention, Gemm, Stream

OPS = [
    Gemm("qkv", m=8192, n=1280, k=8192),
    Gemm("wgrad", m=1024, n=8192, k=8192, out_dtype="fp32"),
    Gemm("decode", m=3, n=4096, k=4096, batch=2),
    Gemm("int4", m=64, n=4096, k=4096, dtype="bf16", weight_dtype="int4"),
    Stream("norm", 8388608, 16779264.0, 16777216.0, 4.0),
    Stream("loss", 131334144, 262668288.0, 4096.0, 5.0),
    Stream("empty-read", 1024, 0.0, 2048.0, 1.0),
    Attention("attn", batch=2, num_heads=8, num_kv_heads=2, head_dim=128, q_len=2048,
              kv_len=2048, causal=True),
    Attention("attn.bwd", batch=2, num_heads=8, num_kv_heads=2, head_dim=128, q_len=2048,
              kv_len=2048, causal=True, phase="bwd"),
]  # fmt: skip


@pytest.mark.parametrize("chip_id", ["tigris-1", "tpu-v5e", "h100-sxm", "a100-sxm-80gb"])
def test_times_s_equals_time(chip_id: str) -> None:
    chip = load_chip(chip_id)
    engine = TileEngine()
    assert engine.times_s(OPS, chip) == [engine.time(op, chip).time_s for op in OPS]
