"""Trace services (their lengths and arrival pattern replayed) and the deadline re-check:
the plan never reports a deadline met that training the chosen plan again misses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")

from cli_run import assert_user_error, run_tigris  # noqa: E402

TRACE_DEMAND = """\
services:
  - name: code
    model: llama3-8b
    traffic: {trace: azure-code, rate: 4, daily_profile: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 1,
              1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 0.5]}
    slo: {ttft_p99_s: 1.0, tpot_p99_s: 0.05}
    growth: 0.5
supply:
  - {chip: h100-sxm, max_chips: 512}
constraints: {power_budget_mw: 2}
settings: {num_requests: 60, tp: [1]}
"""

RUN_DEMAND = """\
training:
  - {name: ft, model: llama3-8b, tokens: 2.0e10, deadline_days: 2, seq_len: 4096}
supply:
  - {chip: h100-sxm, max_chips: 64}
  - {chip: h200-sxm, max_chips: 64}
constraints: {power_budget_mw: 2}
"""


def _write(folder: Path, text: str) -> Path:
    path = folder / "demand.yaml"
    path.write_text(text)
    return path


def test_replay_keeps_the_traces_gaps_at_any_rate() -> None:
    from tigris.fleet.traffic import replay
    from tigris.serving.requests import Workload

    arrival = np.array([0.0, 0.0, 0.1, 5.0, 5.0, 9.0])
    window = Workload(arrival, np.full(6, 10), np.full(6, 5))
    fast = replay(window, 10.0)
    assert (fast.num_requests - 1) / fast.arrival_s[-1] == pytest.approx(10.0)
    gaps, scaled = np.diff(arrival), np.diff(fast.arrival_s)
    assert scaled / scaled.sum() == pytest.approx(gaps / gaps.sum())  # same shape, burst kept
    assert (fast.input_len == window.input_len).all()


def test_a_trace_service_is_planned_on_its_replayed_trace(tmp_path: Path) -> None:
    """The peak is the rate x the profile's peak x growth; the candidate and the re-check
    replay the trace (the re-check's latencies are those of the replayed window)."""
    from tigris.fleet.candidates import ServiceTask, simulate_at
    from tigris.fleet.demand import load_demand
    from tigris.fleet.plan import plan_fleet
    from tigris.fleet.traffic import replay, trace_window
    from tigris.serving.deployment import build_deployment
    from tigris.serving.metrics import summarize
    from tigris.serving.simulator import simulate

    demand = load_demand(_write(tmp_path, TRACE_DEMAND))
    plan, _ = plan_fleet(demand)
    data = plan.to_dict()
    (service,) = data["services"]
    assert service["peak_rate_per_s"] == pytest.approx(4 * 2 * 1.5)
    task = ServiceTask(demand.services[0], demand.supply[0], demand.settings)
    window = trace_window(demand.services[0], demand.settings)
    assert window.num_requests == 60
    (check,) = plan.checks
    deployment = build_deployment("llama3-8b", "h100-sxm", num_chips=1, tp=1)
    direct = summarize(simulate(deployment, replay(window, check.rate_per_replica)))
    assert check.ttft_p99_s == pytest.approx(direct["ttft_p99_s"])
    assert simulate_at(task, 1, check.rate_per_replica)["ttft_p99_s"] == check.ttft_p99_s
    assert check.met == service["slo_met_at_peak"]


def test_a_trace_with_lengths_or_a_missing_trace_is_refused(tmp_path: Path) -> None:
    both = TRACE_DEMAND.replace("    growth: 0.5", "    growth: 0.5\n    input_len: 100")
    result = run_tigris("plan", str(_write(tmp_path, both)), "--quiet")
    assert_user_error(result, "demand.yaml", "services[0]")
    missing = TRACE_DEMAND.replace("azure-code", "no-such-trace.csv")
    result = run_tigris("plan", str(_write(tmp_path, missing)), "--quiet")
    assert_user_error(result, "no-such-trace.csv")


def test_the_recheck_never_reports_met_for_a_missed_deadline(tmp_path: Path) -> None:
    """A candidate that claims 8 H100 train the run in 1 day (the model says about 2.7,
    past the 2-day deadline): the program takes it, the re-check trains that plan again,
    finds it late, and the plan moves the run to the honest H200 candidate."""
    from tigris.fleet.candidates import RunCandidate, RunTask, run_days, train_at
    from tigris.fleet.demand import load_demand
    from tigris.fleet.plan import evaluate_candidates, plan_fleet, tasks_of

    demand = load_demand(_write(tmp_path, RUN_DEMAND))
    honest = evaluate_candidates(demand)
    h100 = next(t for t in tasks_of(demand) if t.system.label == "h100-sxm")
    assert isinstance(h100, RunTask)
    eight = train_at(h100, 8)
    assert run_days(eight) > 2  # the lie below is a lie
    lie = RunCandidate("ft", "h100-sxm", num_chips=8, days=1.0, wall_w_per_chip=1.0,
                       plan=eight["plan"])  # type: ignore[arg-type]  # fmt: skip
    lying = {key: (lie if isinstance(c, RunCandidate) and c.system == "h100-sxm" else c)
             for key, c in honest.items()}  # fmt: skip
    plan, _ = plan_fleet(demand, known=lying)
    (run,) = plan.to_dict()["runs"]
    assert run["system"] == "h200-sxm" and run["deadline_met"]
    assert any("late at the re-check" in line for line in plan.derated)
    for check in plan.run_checks:  # what "met" says is what training again says
        task = next(t for t in tasks_of(demand) if t.system.label == check.system)
        again = run_days(train_at(task, check.num_chips, run["plan"]))  # type: ignore[arg-type]
        assert check.met == (again <= 2) and check.days == pytest.approx(again)


def test_plan_json_reports_the_rechecked_days(tmp_path: Path) -> None:
    result = run_tigris("plan", str(_write(tmp_path, RUN_DEMAND)), "--json", "--quiet")
    assert result.returncode == 0, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    assert run["rechecked"] and run["days"] == pytest.approx(run["candidate_days"])
    assert run["deadline_met"] == (run["days"] <= run["deadline_days"])
