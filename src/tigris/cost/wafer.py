"""Dies per wafer and die yield.

Dies per wafer: the standard approximation (Hennessy & Patterson) with a scribe lane
around each die and an edge-exclusion ring, DPW = pi (d/2)^2 / S - pi d / sqrt(2 S),
S = (sqrt(A) + scribe)^2 for a square die of area A, d = diameter - 2 x edge loss.

Yield with D = A x D0 (die area in cm2 x defects per cm2):
  poisson  exp(-D); murphy ((1 - exp(-D)) / D)^2 (Murphy, Proc. IEEE 1964);
  seeds    1 / (1 + D); negative_binomial (1 + D / alpha)^-alpha (Stapper, IBM JRD 1983).
"""

from __future__ import annotations

import math


def dies_per_wafer(
    die_area_mm2: float,
    wafer_diameter_mm: float = 300.0,
    edge_loss_mm: float = 0.0,
    scribe_mm: float = 0.0,
) -> float:
    """Gross (whole) dies per wafer, never negative; fractional as the formula gives."""
    if die_area_mm2 <= 0:
        raise ValueError("die area must be positive")
    side = math.sqrt(die_area_mm2) + scribe_mm
    site_mm2 = side * side
    diameter = wafer_diameter_mm - 2 * edge_loss_mm
    if diameter <= 0:
        return 0.0
    gross = math.pi * (diameter / 2) ** 2 / site_mm2 - math.pi * diameter / math.sqrt(2 * site_mm2)
    return max(gross, 0.0)


def die_yield(
    die_area_mm2: float,
    defect_density_per_cm2: float,
    model: str = "negative_binomial",
    clustering_alpha: float = 3.0,
) -> float:
    """Fraction of dies with no killer defect."""
    defects = die_area_mm2 / 100.0 * defect_density_per_cm2
    if defects <= 0:
        return 1.0
    if model == "poisson":
        return math.exp(-defects)
    if model == "murphy":
        return ((1 - math.exp(-defects)) / defects) ** 2
    if model == "seeds":
        return 1 / (1 + defects)
    if model == "negative_binomial":
        return (1 + defects / clustering_alpha) ** -clustering_alpha
    raise ValueError(f"unknown yield model {model!r}")
