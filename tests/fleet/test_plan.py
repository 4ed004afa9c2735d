"""`tigris plan` end to end on a small demand file (one 8B model, one fine-tuning job),
its mistakes (exit 2), an infeasible budget (exit 3), and the re-check: the plan never
reports an SLO met that the serving simulator says is missed."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("scipy")

from cli_run import assert_user_error, run_tigris  # noqa: E402

DEMAND = """\
services:
  - name: chat
    model: llama3-8b
    traffic: {rate: 30, daily_profile: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.8, 1, 1, 1, 1, 1,
                                        1, 1, 1, 1, 1, 1, 1, 1, 1, 0.8, 0.6, 0.5]}
    input_len: 512
    output_len: 64
    slo: {ttft_p99_s: 1.0, tpot_p99_s: 0.05}
training:
  - {name: ft, model: llama3-8b, tokens: 2.0e10, deadline_days: 5, seq_len: 4096}
supply:
  - {chip: h100-sxm, max_chips: 512, chips_per_rack: 32}
constraints: {power_budget_mw: BUDGET}
settings: {num_requests: 40, tp: [1]}
"""


def write_demand(folder: Path, budget: str = "2", text: str = DEMAND) -> Path:
    path = folder / "demand.yaml"
    path.write_text(text.replace("BUDGET", budget))
    return path


def test_plan_prints_the_fleet_as_json_and_writes_the_report(tmp_path: Path) -> None:
    demand = write_demand(tmp_path)
    html, svg = tmp_path / "plan.html", tmp_path / "mix.svg"
    result = run_tigris("plan", str(demand), "--json", "--quiet", "--html", str(html),
                        "--svg", str(svg))  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    total = data["total"]
    assert total["chips"] == sum(s["chips"] for s in data["systems"]) > 0
    assert total["racks"] == -(-total["chips"] // 32)
    assert 0 < total["peak_wall_mw"] <= 2.0
    assert total["tco_usd_per_year"] == pytest.approx(
        total["capex_usd_per_year"] + total["opex_energy_usd_per_year"]
    )
    (service,) = data["services"]
    assert sum(d["peak_share_per_s"] for d in service["deployment"]) == pytest.approx(30.0)
    for check in service["peak_check"]:  # what "met" says is what the numbers say
        assert check["met"] == (check["ttft_p99_s"] <= 1.0 and check["tpot_p99_s"] <= 0.05)
    (run,) = data["runs"]
    assert run["deadline_met"] and run["days"] <= 5
    assert len(data["utilisation"]["overall"]) == 24
    assert "plotly" in html.read_text() and svg.read_text().startswith("<svg")


def test_the_recheck_never_reports_met_for_a_missed_slo(tmp_path: Path) -> None:
    """Candidates that claim 20x the replica's real rate: the program packs the peak
    into too few replicas, and the re-check at the peak must catch it (lower the rate
    and re-solve, or report the SLO missed), never call it met."""
    from tigris.fleet.candidates import ServiceCandidate, ServiceTask, simulate_at
    from tigris.fleet.demand import load_demand
    from tigris.fleet.plan import evaluate_candidates, plan_fleet

    busy = DEMAND.replace("rate: 30", "rate: 300")
    demand = load_demand(write_demand(tmp_path, budget="50", text=busy))
    honest = evaluate_candidates(demand)
    inflated = {key: replace(c, rate_per_replica=20 * c.rate_per_replica)
                if isinstance(c, ServiceCandidate) else c for key, c in honest.items()}  # fmt: skip
    plan, _ = plan_fleet(demand, known=inflated)
    assert plan.derated or not all(check.met for check in plan.checks)
    slo = demand.services[0].slo
    for check in plan.checks:
        task = ServiceTask(demand.services[0], demand.supply[0], demand.settings)
        again = simulate_at(task, 1, check.rate_per_replica)
        within = again["ttft_p99_s"] <= slo.ttft_p99_s and again["tpot_p99_s"] <= slo.tpot_p99_s
        assert check.met == within


def test_a_budget_below_the_training_run_is_infeasible_naming_the_budget(tmp_path: Path) -> None:
    result = run_tigris("plan", str(write_demand(tmp_path, budget="0.001")), "--quiet")
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    assert "power budget binds" in result.stderr


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (("ttft_p99_s: 1.0", "ttft_p99_s: -1"), ("demand.yaml", "services[0].slo.ttft_p99_s")),
        (("max_chips: 512", "max_chip: 512"), ("demand.yaml", "supply[0]", "max_chip")),
        (("chip: h100-sxm", "chip: no-such-chip"), ("demand.yaml", "supply[0].chip")),
        (("model: llama3-8b\n    traffic", "model: nope\n    traffic"), ("services[0].model",)),
        (("0.8, 0.6, 0.5]", "0.8, 0.6]"), ("daily_profile", "24 hourly")),
    ],
    ids=["negative-slo", "unknown-key", "unknown-chip", "unknown-model", "short-profile"],
)
def test_a_bad_demand_file_is_one_line_naming_the_key(tmp_path: Path, edit, fragments) -> None:  # type: ignore[no-untyped-def]
    demand = write_demand(tmp_path, text=DEMAND.replace(*edit))
    result = run_tigris("plan", str(demand), "--quiet", "--html", str(tmp_path / "out.html"))
    assert_user_error(result, *fragments, max_lines=3, no_stdout=True)
    assert not (tmp_path / "out.html").exists()


def test_bad_options_fail_before_the_work(tmp_path: Path) -> None:
    demand = write_demand(tmp_path)
    missing = tmp_path / "nowhere" / "plan.html"
    assert_user_error(run_tigris("plan", str(demand), "--html", str(missing)), "--html")
    assert_user_error(run_tigris("plan", str(demand), "--replace", "h100-sxm"), "--replace",
                      "OLD=NEW")  # fmt: skip
    assert_user_error(run_tigris("plan", str(demand), "--replace", "tpu-v4=b200"),
                      "not on the supply menu")  # fmt: skip
    assert_user_error(run_tigris("plan", str(demand), "--add", "no-such-chip"), "--add")
    assert not missing.parent.exists()


def test_without_scipy_plan_says_how_to_install_it(tmp_path: Path) -> None:
    blocker = tmp_path / "block" / "scipy"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('no scipy here')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker.parent), *sys.path]))
    import subprocess

    result = subprocess.run([sys.executable, "-m", "tigris", "plan", str(write_demand(tmp_path))],
                            capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert_user_error(result, "needs scipy", "pip install 'tigris[plan]'", max_lines=1)


def test_a_replace_what_if_keeps_the_entrys_limits_and_reports_the_delta(tmp_path: Path) -> None:
    demand = write_demand(tmp_path)
    result = run_tigris("plan", str(demand), "--json", "--quiet", "--replace",
                        "h100-sxm=h200-sxm")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    what_if = data["what_if"]
    assert what_if["changes"] == ["replace h100-sxm=h200-sxm"]
    (system,) = what_if["plan"]["systems"]
    assert system["system"] == "h200-sxm" and system["max_chips"] == 512  # the entry's limit
    assert system["racks"] == -(-system["chips"] // 32)  # and its rack size
    base, new = data["total"]["tco_usd_per_year"], what_if["plan"]["total"]["tco_usd_per_year"]
    assert what_if["tco_delta_usd_per_year"] == pytest.approx(new - base)


def test_change_menu_replaces_and_adds_systems_by_name() -> None:
    from tigris.errors import SpecError
    from tigris.fleet.demand import Demand, SupplySystem
    from tigris.fleet.whatif import change_menu

    demand = Demand.model_validate({
        "services": [{"name": "s", "model": "llama3-8b", "traffic": {"rate": 1},
                      "input_len": 8, "output_len": 8, "slo": {"ttft_p99_s": 1, "tpot_p99_s": 1}}],
        "supply": [{"chip": "h100-sxm", "max_chips": 64, "chips_per_rack": 32}],
        "constraints": {"power_budget_mw": 1},
    })  # fmt: skip
    new = SupplySystem(chip="b200", price_usd_per_chip=1.0)
    (replaced,) = change_menu(demand, [("h100-sxm", new)]).supply
    assert (replaced.chip, replaced.max_chips, replaced.chips_per_rack) == ("b200", 64, 32)
    assert replaced.price_usd_per_chip == 1.0
    added = change_menu(demand, added=[new]).supply
    assert [s.label for s in added] == ["h100-sxm", "b200"] and added[1].max_chips is None
    with pytest.raises(SpecError, match="not on the supply menu"):
        change_menu(demand, [("tpu-v4", new)])
    with pytest.raises(SpecError, match="twice"):
        change_menu(demand, added=[SupplySystem(chip="h100-sxm")])
    with pytest.raises(ValueError, match="chip id"):
        SupplySystem(chip=5)  # type: ignore[arg-type]
