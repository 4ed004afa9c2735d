"""One power-cap rule (tigris.parallel.clock.throttle) for train, infer, serve and validate."""

from __future__ import annotations

import pytest

from tigris.cost import power_scope
from tigris.cost.power_scope import apply_power_cap
from tigris.hardware.presets import load_chip
from tigris.parallel import clock


@pytest.mark.parametrize(("ratio", "activity"), [(0.795, 1.0), (0.795, 0.6), (0.82, 0.3), (0.5, 1)])
def test_clock_stretch_is_the_rule_on_a_pure_compute_stream(ratio, activity) -> None:
    # the closed form the step model used before the rule was shared
    assert clock.clock_stretch(ratio, activity) == pytest.approx(
        max(1.0, activity ** (1 / 3) / ratio), rel=1e-12
    )


def test_the_rule_has_one_home() -> None:
    assert power_scope.throttle is clock.throttle
    assert not hasattr(__import__("tigris.cost.power", fromlist=["x"]), "throttle")


def test_a_cap_below_tdp_lowers_the_dense_clock_and_a_cap_above_changes_nothing() -> None:
    chip = load_chip("h100-sxm")
    assert apply_power_cap(chip, 900.0) is chip and apply_power_cap(chip, None) is chip
    capped = apply_power_cap(chip, 450.0)
    assert capped.power_cap_w == 450.0 and capped.power_cap_terms is not None
    assert clock.sustained_clock_ratio(capped) < clock.sustained_clock_ratio(chip)


def test_each_op_runs_at_the_clock_the_cap_allows_it() -> None:
    chip = apply_power_cap(load_chip("h100-sxm"), 450.0)
    peak = chip.peak_flop_per_s("bf16") * chip.calibration.matrix_fraction
    gemm = clock.op_clock(chip, "bf16", peak * 1e-3, 1e6, 1e-3, 1e-3)  # compute-bound
    decode = clock.op_clock(chip, "bf16", 1e9, 3e9 * 1e-3, 1e-3, 1e-5)  # memory-bound
    assert gemm[0] < 1.0 and gemm[1] > decode[1] >= 1.0
