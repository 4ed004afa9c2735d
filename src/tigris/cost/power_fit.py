"""Fit the power model's terms on measured rows, recording the rows used.

Board terms (static_fraction, memory_scale): least squares on the relative error of
board power per chip, through the same capped model that predicts
(`tigris.cost.power_scope.power_from_rates`), by projected Gauss-Newton with bounds.
The compute term is not fitted: its scale is the TDP anchor (dense_tdp_fraction, see
tigris.cost.power_scope), since serving rows, mostly memory-bound decode, do not identify
it. Node term (host_w_per_chip): closed-form weighted least squares of wall power per
chip given the board terms, so the wall fit never sees a board row's measurement again
and a board fit never sees a wall row; with no wall row, the measured node's share
(power_scope.HOST_W_FALLBACK).

The caller (tigris.validate.power) decides which rows go in; the fitter keeps their ids
in the result, so a score can check that none of its rows fed the fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from tigris.cost.power_scope import (
    DENSE_TDP_FRACTION,
    HOST_W_FALLBACK,
    HOST_W_FALLBACK_SOURCE,
    PowerCoefficients,
    RefRates,
    power_from_rates,
)

BOUNDS = ((0.02, 0.6), (0.0, 100.0))  # static fraction, memory scale
START = (0.15, 2.0)
ITERATIONS = 40


@dataclass(frozen=True)
class PowerSample:
    """One measured row reduced to what the fit needs: the model's reference rates for
    the row's setup and the measured power per chip in the row's scope."""

    row_id: str
    scope: str  # "board" or "node_wall"
    tdp_w: float | None
    limit_w: float | None
    rates: RefRates
    time_s: float
    measured_w: float


def _predict(sample: PowerSample, coefficients: PowerCoefficients, pue: float = 1.0) -> float:
    power = power_from_rates(
        sample.row_id,
        sample.tdp_w,
        sample.rates,
        sample.time_s,
        coefficients,
        limit_w=sample.limit_w,
        pue=pue,
    )
    return power.power_w(sample.scope)


def _residuals(x: np.ndarray, samples: Sequence[PowerSample]) -> np.ndarray:
    c = PowerCoefficients(float(x[0]), DENSE_TDP_FRACTION, float(x[1]), 0.0)
    return np.array([_predict(s, c) / s.measured_w - 1.0 for s in samples])


def _clip(x: np.ndarray) -> np.ndarray:
    return np.array([min(max(v, lo), hi) for v, (lo, hi) in zip(x, BOUNDS, strict=True)])


def fit_board_terms(samples: Sequence[PowerSample]) -> tuple[float, float]:
    """(static_fraction, memory_scale) minimising the squared relative error
    of board power over `samples` (board rows only)."""
    if not samples:
        raise ValueError("no board rows to fit on")
    x = np.array(START, dtype=float)
    for _ in range(ITERATIONS):
        r = _residuals(x, samples)
        jac = np.empty((len(samples), len(x)))
        for k in range(len(x)):
            step = np.zeros(len(x))
            step[k] = 1e-4 * max(1.0, abs(x[k]))
            jac[:, k] = (_residuals(_clip(x + step), samples) - r) / step[k]
        delta, *_ = np.linalg.lstsq(jac, -r, rcond=None)
        candidate = _clip(x + delta)
        # halve the step until the error falls (the cap makes the problem non-smooth)
        for _ in range(20):
            if np.sum(_residuals(candidate, samples) ** 2) <= np.sum(r**2):
                break
            candidate = _clip(x + (delta := delta / 2))
        if np.allclose(candidate, x, rtol=1e-7, atol=1e-9):
            break
        x = candidate
    return float(x[0]), float(x[1])


def fit_host_w(samples: Sequence[PowerSample], board: PowerCoefficients) -> float:
    """host_w_per_chip minimising the squared relative error of wall power per chip over
    `samples` (wall rows), the board terms held: wall = (board + h) / efficiency."""
    if not samples:
        raise ValueError("no wall rows to fit on")
    eff = board.psu_efficiency
    zero = replace(board, host_w_per_chip=0.0)
    num = den = 0.0
    for s in samples:
        board_w = _predict(replace(s, scope="board"), zero)
        weight = 1.0 / s.measured_w**2
        num += weight * (eff * s.measured_w - board_w)
        den += weight
    return max(0.0, num / den)


def fit_coefficients(samples: Sequence[PowerSample], note: str = "") -> PowerCoefficients:
    """Board terms on the board rows, then the host term on the wall rows; every row id
    used is recorded."""
    board_rows = [s for s in samples if s.scope == "board"]
    wall_rows = [s for s in samples if s.scope == "node_wall"]
    static, memory = fit_board_terms(board_rows)
    board = PowerCoefficients(
        static, DENSE_TDP_FRACTION, memory, 0.0, fitted_on=_ids(board_rows), note=note
    )
    if not wall_rows:
        return replace(board, host_w_per_chip=HOST_W_FALLBACK, host_source=HOST_W_FALLBACK_SOURCE)
    host = fit_host_w(wall_rows, board)
    return replace(board, host_w_per_chip=host, node_fitted_on=_ids(wall_rows),
                   host_source="fitted on node_fitted_on")  # fmt: skip


def _ids(samples: Sequence[PowerSample]) -> tuple[str, ...]:
    return tuple(s.row_id for s in samples)
