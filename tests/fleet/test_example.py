"""The frontier-lab example plans (slow: about 45 s of CPU; `pytest -m slow tests/fleet`):
exit 0, every SLO and deadline met at the re-check, within its budget, and the fleet mix
in the docs is the one the example draws today (a model refit that moves the plan shows
here: regenerate docs/fleet-plan-frontier-lab.svg and examples/frontier-lab/README.md's
figures with `tigris plan examples/frontier-lab/demand.yaml --svg ...`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("scipy")

from cli_run import run_tigris  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "frontier-lab" / "demand.yaml"
PICTURE = ROOT / "docs" / "fleet-plan-frontier-lab.svg"


@pytest.mark.slow
def test_the_frontier_lab_example_plans_within_its_budget(tmp_path: Path) -> None:
    svg = tmp_path / "mix.svg"
    result = run_tigris("plan", str(EXAMPLE), "--json", "--quiet", "--workers", "2",
                        "--svg", str(svg), timeout=1800)  # fmt: skip
    assert result.returncode == 0, result.stderr
    total = json.loads(result.stdout)["total"]
    assert total["all_slos_met_at_peak"] and total["all_deadlines_met"]
    assert total["peak_wall_mw"] <= total["power_budget_mw"]
    assert svg.read_text() == PICTURE.read_text(), "the docs' fleet mix is stale"
