"""TCO against hand arithmetic, and the assumptions file: sources, overrides, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tigris.cost import (
    default_assumptions_path,
    load_assumptions,
    tco,
    training_run_cost,
    usd_per_million_tokens,
)
from tigris.cost.power_scope import default_coefficients
from tigris.errors import SpecError, UnsupportedError
from tigris.hardware.presets import load_chip

H100 = load_chip("h100-sxm")
HOST = default_coefficients()  # the fitted node share (tigris.cost.power_scope)


def test_usd_per_million_tokens_by_hand():
    # 2 USD per chip-hour at 1,000 tokens/s: 3.6e6 tokens per hour -> 0.5556 USD per 1e6
    assert usd_per_million_tokens(2.0, 1000.0) == pytest.approx(2.0 / 3.6)
    with pytest.raises(ValueError):
        usd_per_million_tokens(2.0, 0.0)


def test_owned_chip_hour_and_token_cost_by_hand():
    assumptions = load_assumptions(overrides=["package.capex_basis=purchase"])
    result = tco(H100, assumptions, power_w=700.0)
    hours = 5 * 365.25 * 24
    capex_per_hour = 30000 * 1.64 / hours
    # a workload's board power is priced at its node-wall share: (board + host) / PSU
    wall_kw = (700.0 + HOST.host_w_per_chip) / HOST.psu_efficiency / 1000
    energy_per_hour = wall_kw * 1.10 * 0.0826
    assert result.usd_per_chip_hour == pytest.approx(capex_per_hour + energy_per_hour)
    per_million = usd_per_million_tokens(result.usd_per_chip_hour, 2000.0)
    assert per_million == pytest.approx((capex_per_hour + energy_per_hour) / 7.2)


def test_cloud_basis_uses_public_price():
    cloud = load_assumptions(overrides=["operations.price_basis=cloud"])
    assert tco(H100, cloud).usd_per_chip_hour == 3.99
    with pytest.raises(UnsupportedError):
        _ = tco(load_chip("tigris-1"), cloud).usd_per_chip_hour


def test_training_run_cost_and_energy_by_hand():
    assumptions = load_assumptions(overrides=["package.capex_basis=purchase"])
    run = training_run_cost(
        H100, num_chips=1024, time_s=86400.0, power_w_per_chip=600.0, assumptions=assumptions
    )
    hourly = tco(H100, assumptions, power_w=600.0).usd_per_chip_hour
    assert run.cost_usd == pytest.approx(1024 * 24 * hourly)
    wall_w = (600.0 + HOST.host_w_per_chip) / HOST.psu_efficiency
    assert run.energy_mwh == pytest.approx(1024 * wall_w * 1.10 * 86400 / 3.6e9)


def test_typical_power_is_the_scoped_power_model():
    # no workload power: the typical board power of the one power model (idle plus the
    # assumed utilisation's share of a full-load stream under the limit) at its node-wall
    # share, not a fixed server multiplier
    from tigris.cost.power_scope import node_wall_w, typical_board_w

    assumptions = load_assumptions()
    result = tco(H100, assumptions)
    assert result.power_w == pytest.approx(typical_board_w(H100, 0.375))
    assert result.facility_power_w == pytest.approx(node_wall_w(result.power_w) * 1.10)
    full = typical_board_w(H100, 1.0)
    assert result.power_w < full <= H100.tdp + 1e-9


def test_higher_pue_costs_more():
    low = tco(H100, load_assumptions(), power_w=500.0)
    high = tco(H100, load_assumptions(overrides=["operations.pue=1.58"]), power_w=500.0)
    assert high.energy_usd_per_hour > low.energy_usd_per_hour
    assert high.capex_usd_per_hour == pytest.approx(low.capex_usd_per_hour)


def test_typical_power_lies_between_static_and_tdp():
    result = tco(H100)
    assert 0 < result.power_w <= H100.tdp
    assert set(result.to_dict()) >= {"usd_per_chip_hour", "energy_usd_per_hour"}


def test_every_assumption_has_a_source():
    assumptions = load_assumptions()
    missing = [path for path, _, source in assumptions.describe() if not source]
    assert missing == []
    known = {path for path, _, _ in assumptions.describe()}
    assert set(assumptions.sources) <= known  # no source for a value that is gone
    assert "EIA" in str(assumptions)


def test_assumptions_load_from_a_user_copy(tmp_path: Path):
    text = default_assumptions_path().read_text().replace("  pue: 1.10", "  pue: 1.4")
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    assert load_assumptions(path).operations.pue == 1.4


def test_missing_or_malformed_assumptions_are_clear_errors(tmp_path: Path):
    with pytest.raises(SpecError, match="file not found"):
        load_assumptions(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(default_assumptions_path().read_text().replace("  pue: 1.10", "  pue: low"))
    with pytest.raises(SpecError) as error:
        load_assumptions(bad)
    assert "operations.pue" in str(error.value)
    with pytest.raises(SpecError):
        load_assumptions(overrides=["operations.no_such_key=1"])
    with pytest.raises(SpecError):
        load_assumptions(overrides=["operations.pue=0.5"])
