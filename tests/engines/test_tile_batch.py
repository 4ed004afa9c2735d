"""The one tile model, vectorised over chips: a batch of N chips gives the same floats as N
batches of one, and as TileEngine.times_s chip by chip (the Python-float evaluation of the
same formulas)."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from tile_ops import OPS

from tigris.engines.tile import TileEngine
from tigris.engines.tile.batch import times_grid, times_s_many
from tigris.hardware.presets import load_chip
from tigris.workload.ops import Attention, Gemm, Stream

BASE = load_chip("tigris-1")


def _variant(rng: random.Random):
    """tigris-1 with random array geometry, dataflow, cores, clock, SRAM, DRAM, DMA latency
    and barrier (as a sweep makes)."""
    matrix = BASE.matrix.model_copy(
        update={
            "num_cores": rng.choice([1, 2, 3, 4, 6, 8, 12]),
            "arrays_per_core": rng.choice([1, 4, 8, 12]),
            "rows": rng.choice([32, 64, 128, 256]),
            "cols": rng.choice([32, 64, 128, 256]),
            "clock": rng.uniform(0.8e9, 2.2e9),
            "dataflow": rng.choice(["ws", "ws", "os", "is"]),
            "dma_latency_s": rng.choice([500e-9, rng.uniform(1e-7, 2e-6)]),
            "barrier_cycles": rng.choice([64, rng.randrange(0, 1000)]),
        }
    )
    sram = [
        level.model_copy(update={"capacity": rng.choice([16, 64, 256]) * 2**20})
        for level in BASE.memory.sram
    ]
    dram = BASE.memory.dram.model_copy(update={"bandwidth": rng.uniform(1e12, 1e13)})
    memory = BASE.memory.model_copy(update={"sram": sram, "dram": dram})
    return BASE.model_copy(update={"matrix": matrix, "memory": memory})


def _variants(count: int, seed: int) -> list:
    rng = random.Random(seed)
    return [_variant(rng) for _ in range(count)]


def _random_ops(rng: random.Random) -> list:
    ops = []
    for i in range(rng.randrange(1, 8)):
        kind = rng.choice(["gemm", "stream", "attention"])
        if kind == "gemm":
            m, n, k = (rng.choice([1, 3, 64, 500, 2048, 8192]) for _ in range(3))
            dtype = rng.choice(["bf16", "int8", "fp8"])
            ops.append(Gemm(f"g{i}", m=m, n=n, k=k, batch=rng.choice([1, 2, 8]), dtype=dtype))
        elif kind == "stream":
            read = float(rng.choice([0, 20, 2**20, 2**28]))
            ops.append(Stream(f"s{i}", rng.choice([10, 2**20]), read, 2.0**20, 2.0))
        else:
            q = rng.choice([1, 100, 2048])
            kv = max(q, rng.choice([1, 1000, 4096]))
            ops.append(
                Attention(
                    f"a{i}", batch=rng.choice([1, 4]), num_heads=8, num_kv_heads=2,
                    head_dim=rng.choice([64, 128]), q_len=q, kv_len=kv,
                    causal=rng.random() < 0.7, phase=rng.choice(["fwd", "bwd"]),
                )
            )  # fmt: skip
    return ops


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 12))
def test_batch_of_n_equals_n_batches_of_one(seed: int, count: int) -> None:
    rng = random.Random(seed)
    ops, chips = _random_ops(rng), [_variant(rng) for _ in range(count)]
    together = times_grid(ops, chips, min_batch=1)
    for i, chip in enumerate(chips):
        alone = times_grid(ops, [chip], min_batch=1)  # numpy rows of one chip
        assert together[:, i].tolist() == alone[:, 0].tolist()
        assert together[:, i].tolist() == TileEngine().times_s(ops, chip)  # Python floats


def test_many_chips_equal_one_by_one() -> None:
    chips = _variants(60, seed=1) + [load_chip("tpu-v5e"), load_chip("h100-sxm")]
    engine = TileEngine()
    assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]


def test_few_chips_and_gpus_one_by_one() -> None:
    chips = [load_chip("tigris-1"), load_chip("h100-sxm")]
    engine = TileEngine()
    assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]


def test_batches_after_batches_equal_one_by_one() -> None:
    """The columns times_grid keeps between batches (by op list, array geometry, SRAM,
    core count)."""
    engine = TileEngine()
    first = _variants(30, seed=2)
    for chips in (first, _variants(30, seed=3), first[:10] + _variants(10, seed=4)):
        assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]
