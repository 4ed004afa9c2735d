"""The fleet's TCO as an explore objective (tigris.fleet.design_sweep): `tigris explore run`
with a `task: fleet` workload picks the design that planning the fleet with each design in
turn (brute force, tigris.fleet.plan_fleet) finds cheapest; a cheaper design never raises
the fleet's TCO; the sweep file's fleet mistakes are one line naming the key (exit 2)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

pytest.importorskip("scipy")

from cli_run import assert_user_error, run_tigris  # noqa: E402

DEMAND = """\
services:
  - name: chat
    model: llama3-8b
    traffic: {rate: 20}
    input_len: 1155
    output_len: 211
    slo: {ttft_p99_s: 2.0, tpot_p99_s: 0.1}
supply:
  - {chip: h100-sxm, max_chips: 4096}
constraints: {power_budget_mw: 2}
settings: {num_requests: 20, tp: [1]}
"""

SWEEP = """\
name: fleet-test
base: tigris-1
axes:
  matrix.clock: ['1.25 GHz', '1.75 GHz']
  memory.dram.num_stacks: [4, 6]
derived:
  memory.dram.capacity: "memory.dram.num_stacks * '36 GB'"
  memory.dram.bandwidth: "memory.dram.num_stacks * '7 TB/s' / 6"
workloads:
  - {name: lab, task: fleet, demand: demand.yaml, replace: h100-sxm, price_markup: 10.4}
objectives:
  - {metric: fleet_tco, goal: min, workload: lab}
search: {sampler: grid, batch: 4}
"""
MARKUP = 10.4


def write_sweep(folder: Path, sweep: str = SWEEP, demand: str = DEMAND) -> Path:
    (folder / "demand.yaml").write_text(demand)
    path = folder / "sweep.yaml"
    path.write_text(sweep)
    return path


def brute_force(sweep_file: Path) -> dict[str, float]:
    """Each design of the sweep's grid on the menu in place of the H100, the fleet planned
    by plan_fleet directly (no explore evaluator): TCO by design id."""
    from tigris.cost import estimate_cost, load_assumptions
    from tigris.explore.evaluate import design_id
    from tigris.explore.sweep import load_sweep
    from tigris.fleet.demand import SupplySystem, load_demand
    from tigris.fleet.plan import plan_fleet

    sweep = load_sweep(sweep_file)
    demand = load_demand(sweep_file.parent / "demand.yaml")
    assumptions = load_assumptions()
    found = {}
    for combo in itertools.product(*(axis.values for axis in sweep.axes)):
        params = dict(zip([axis.path for axis in sweep.axes], combo, strict=True))
        ident = design_id(params)  # the chip named as explore names a design
        chip, _ = sweep.space.build(params, chip_id=f"{sweep.base_id}~{ident[:8]}")
        price = MARKUP * estimate_cost(chip, assumptions).manufacturing_cost_usd
        supply = [SupplySystem(chip=chip, price_usd_per_chip=price, max_chips=4096)]
        plan, _ = plan_fleet(demand.model_copy(update={"supply": supply}))
        found[ident] = plan.solution.tco_usd_year
    return found


def test_the_fleet_objective_picks_the_design_brute_force_picks(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path)
    db = tmp_path / "s.duckdb"
    result = run_tigris("explore", "run", str(sweep), "--db", str(db), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    report = json.loads(result.stdout)
    expected = brute_force(sweep)
    assert report["statuses"] == {"ok": len(expected)}
    best = report["pareto_front"][0]
    assert best["design_id"] == min(expected, key=expected.get)
    assert best["objectives"]["fleet_tco@lab"] == pytest.approx(min(expected.values()), rel=1e-9)
    metrics = best["metrics"]["lab"]
    assert metrics["fleet_design_chips"] == metrics["fleet_chips"] > 0  # the design replaced all
    assert len(set(expected.values())) > 1  # the designs differ: the choice means something


def test_a_cheaper_design_never_raises_the_fleets_tco(tmp_path: Path) -> None:
    from tigris.fleet.design_sweep import fleet_metrics, load_fleet_sweep

    sweep = load_fleet_sweep(write_sweep(tmp_path))
    chip, _ = sweep.space.build(sweep.base_params())
    workload = sweep.workloads[0]
    tcos = []
    for price in (120_000.0, 60_000.0, 30_000.0, 5_000.0):  # the same chip, ever cheaper
        priced = workload.model_copy(update={"price_usd_per_chip": price, "price_markup": None})
        tcos.append(fleet_metrics(priced, chip, None)["fleet_tco"])
    assert all(later <= earlier for earlier, later in itertools.pairwise(tcos)), tcos
    assert tcos[-1] < tcos[0]


@pytest.mark.parametrize(
    ("edit", "fragments"),
    [
        (("demand: demand.yaml", "demand: missing.yaml"), ("workloads[0].demand", "not found")),
        (("replace: h100-sxm", "replace: b200"), ("workloads[0].replace", "b200")),
        (("price_markup: 10.4", "price_markup: 10.4, price_usd_per_chip: 9"),
         ("workloads[0].price_markup", "not both")),
    ],
)  # fmt: skip
def test_a_bad_fleet_workload_is_one_line_naming_the_key(
    tmp_path: Path, edit: tuple[str, str], fragments: tuple[str, ...]
) -> None:
    sweep = write_sweep(tmp_path, SWEEP.replace(*edit))
    db = tmp_path / "s.duckdb"
    result = run_tigris("explore", "run", str(sweep), "--db", str(db), "--json", "--quiet")
    assert_user_error(result, "sweep.yaml", *fragments, no_stdout=True)
    assert not db.exists()
