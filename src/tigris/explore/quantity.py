"""Reading a quantity whose dimension the sweep file does not say ('4 TB/s', '600 mm2').

An axis over `memory.dram.bandwidth` gives its values with units; the unit alone tells the
dimension (every spelling in tigris.units belongs to exactly one), and the chip's own
validation checks it is the right one for the field.
"""

from __future__ import annotations

import math

from tigris.errors import SpecError
from tigris.units import DIMENSIONS, UnitError, parse_quantity


def parse_any_quantity(text: str) -> float:
    """'4 TB/s' -> 4e12 (SI); a plain number as YAML leaves some in a string ('1e5': YAML
    1.1 reads exponents without a dot as text) -> 1e5; SpecError naming the text when no
    dimension reads it."""
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(number):
            return number
    for dimension in DIMENSIONS:
        try:
            return parse_quantity(text, dimension)
        except UnitError:
            continue
    raise SpecError(
        f"cannot read {text!r} as a quantity",
        hint="write a number with its unit, e.g. '4 TB/s', '96 GB', '1.8 GHz', '700 W'",
    )


def to_number(value: object) -> float | None:
    """A plain number or quantity string as an SI float; None for other strings."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_any_quantity(value)
        except SpecError:
            return None
    return None
