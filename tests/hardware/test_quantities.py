"""Quantity fields reject what no comparison check would catch: NaN and infinities."""

import math

import pytest
from pydantic import ValidationError

from tigris.hardware.chip import Chip
from tigris.hardware.presets import load_chip


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_numeric_capacity_must_be_finite(value: float) -> None:
    data = load_chip("tigris-1").model_dump()
    data["memory"]["sram"][0]["capacity"] = value
    with pytest.raises(ValidationError, match="finite"):
        Chip.model_validate(data)


def test_zero_capacity_still_named() -> None:
    data = load_chip("tigris-1").model_dump()
    data["memory"]["sram"][0]["capacity"] = 0
    with pytest.raises(ValidationError, match="must be positive"):
        Chip.model_validate(data)
