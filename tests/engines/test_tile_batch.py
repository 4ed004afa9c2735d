"""times_s_many (many systolic chips at once, numpy) gives TileEngine.times_s's floats."""

import random

from tigris.engines.tile import TileEngine
from tigris.engines.tile_batch import times_s_many
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Attention, Gemm, Stream

OPS = [
    Gemm("qkv", m=8192, n=1280, k=8192),
    Gemm("wgrad", m=1024, n=8192, k=8192, out_dtype="fp32"),
    Gemm("head", m=8192, n=16032, k=8192),
    Gemm("small", m=3, n=4096, k=100, batch=2),
    Gemm("tiny", m=1, n=1, k=1),
    Gemm("int4", m=64, n=4096, k=4096, dtype="bf16", weight_dtype="int4"),
    Stream("norm", 8388608, 16779264.0, 16777216.0, 4.0),
    Stream("loss", 131334144, 262668288.0, 4096.0, 5.0),
    Stream("no-read", 1024, 0.0, 2048.0, 1.0),
    Stream("small", 10, 20.0, 20.0, 0.0),
    Attention("attn", batch=1, num_heads=8, num_kv_heads=1, head_dim=128, q_len=4096,
              kv_len=4096, causal=True),
    Attention("attn.bwd", batch=1, num_heads=8, num_kv_heads=1, head_dim=128, q_len=4096,
              kv_len=4096, causal=True, phase="bwd"),
]  # fmt: skip


def _variants(count: int, seed: int) -> list:
    """tigris-1 with random array geometry, cores, clock, SRAM and DRAM (as a sweep makes)."""
    base = load_chip("tigris-1")
    rng = random.Random(seed)
    chips = []
    for _ in range(count):
        matrix = base.matrix.model_copy(
            update={
                "num_cores": rng.choice([1, 2, 3, 4, 6, 8, 12]),
                "arrays_per_core": rng.choice([1, 4, 8, 12]),
                "rows": rng.choice([32, 64, 128, 256]),
                "cols": rng.choice([32, 64, 128, 256]),
                "clock": rng.uniform(0.8e9, 2.2e9),
            }
        )
        sram = [
            level.model_copy(update={"capacity": rng.choice([16, 64, 256]) * 2**20})
            for level in base.memory.sram
        ]
        dram = base.memory.dram.model_copy(update={"bandwidth": rng.uniform(1e12, 1e13)})
        memory = base.memory.model_copy(update={"sram": sram, "dram": dram})
        chips.append(base.model_copy(update={"matrix": matrix, "memory": memory}))
    return chips


def test_many_chips_equal_one_by_one() -> None:
    chips = _variants(60, seed=1) + [load_chip("tpu-v5e"), load_chip("h100-sxm")]
    engine = TileEngine()
    assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]


def test_few_chips_and_gpus_one_by_one() -> None:
    chips = [load_chip("tigris-1"), load_chip("h100-sxm")]
    engine = TileEngine()
    assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]
