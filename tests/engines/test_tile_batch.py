"""times_s_many (many systolic chips at once, numpy) gives TileEngine.times_s's floats."""

import random

from tile_ops import OPS

from tigris.engines.tile import TileEngine
from tigris.engines.tile_batch import times_s_many
from tigris.hardware.presets import load_chip


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


def test_batches_after_batches_equal_one_by_one() -> None:
    """The columns times_grid keeps between batches (by op list, array geometry, SRAM,
    core count)."""
    engine = TileEngine()
    first = _variants(30, seed=2)
    for chips in (first, _variants(30, seed=3), first[:10] + _variants(10, seed=4)):
        assert times_s_many(OPS, chips) == [engine.times_s(OPS, chip) for chip in chips]
