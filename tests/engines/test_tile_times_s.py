"""TileEngine.times_s (the sweep's path, no OpTime per op) equals TileEngine.time."""

import pytest
from tile_ops import OPS

from tigris.engines.tile import TileEngine
from tigris.hardware.presets import load_chip


@pytest.mark.parametrize("chip_id", ["tigris-1", "tpu-v5e", "h100-sxm", "a100-sxm-80gb"])
def test_times_s_equals_time(chip_id: str) -> None:
    chip = load_chip(chip_id)
    engine = TileEngine()
    assert engine.times_s(OPS, chip) == [engine.time(op, chip).time_s for op in OPS]
