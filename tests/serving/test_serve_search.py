"""`tigris serve --search` without --disaggregate: the colocated layout search (tp x ep x
pp x replicas) under the SLO, sharing the disaggregated search's machinery."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.api.serving import serve
from tigris.serving.deployment import build_deployment
from tigris.serving.layout_search import colocated_layouts
from tigris.serving.memory import plan_memory

RUN = dict(chip="h100-sxm", scenario="server", rate_per_s=12.0, num_requests=120,
           input_len=512, output_len=64, slo_ttft_s=0.5, slo_tpot_s=0.008)  # fmt: skip


@pytest.fixture(scope="module")
def found() -> dict:
    return serve("llama3-8b", num_chips=4, search=True, **RUN).to_dict()


def test_the_chosen_layout_meets_the_slo_when_simulated_again(found):
    best = found["search"]["cheapest_meeting_slo"]
    assert best is not None and best["meets_slo"]
    again = serve("llama3-8b", num_chips=best["num_chips"], tp=best["tp"], pp=best["pp"],
                  ep=best["ep"], **RUN).to_dict()  # fmt: skip
    assert again["ttft_p99_s"] == pytest.approx(best["ttft_p99_s"], rel=1e-12)
    assert again["tpot_p99_s"] == pytest.approx(best["tpot_p99_s"], rel=1e-12)
    assert again["ttft_p99_s"] <= RUN["slo_ttft_s"] and again["tpot_p99_s"] <= RUN["slo_tpot_s"]
    # the cheapest: no layout meeting the SLO costs less
    meeting = [r for r in found["search"]["layouts"] if r.get("meets_slo")]
    assert best["usd_per_hour"] == min(r["usd_per_hour"] for r in meeting)
    # the SLO is tight enough that some layouts miss it: the choice is not trivial
    assert len(meeting) < found["search"]["num_feasible"]


def test_no_layout_on_the_pareto_front_is_dominated(found):
    keys = ("usd_per_hour", "ttft_p99_s", "tpot_p99_s")
    feasible = [r for r in found["search"]["layouts"] if r["feasible"]]
    front = found["search"]["pareto_front"]
    assert front
    for row in front:
        for other in feasible:
            better = all(other[k] <= row[k] for k in keys) and any(other[k] < row[k] for k in keys)
            assert not better, (row, other)
    # and every feasible layout off the front is dominated by one on it
    for row in feasible:
        if row not in front:
            assert any(all(f[k] <= row[k] for k in keys) for f in front)


def test_json_shape(found):
    assert found["mode"] == "colocated" and found["num_chips"] == 4
    layouts = found["search"]["layouts"]
    assert {(r["tp"], r["num_replicas"]) for r in layouts} == {
        (1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2), (4, 1)
    }  # fmt: skip
    assert all(r["num_chips"] == r["tp"] * r["ep"] * r["pp"] * r["num_replicas"] for r in layouts)


def test_moe_layouts_search_ep_and_pp_only_where_it_helps():
    base = build_deployment("mixtral-8x22b", "h100-sxm", num_chips=8, tp=1)
    layouts = colocated_layouts(base, base.chip, 8)
    assert any(layout.ep > 1 for layout in layouts)
    assert all(8 % layout.ep == 0 for layout in layouts)  # ep divides the 8 experts
    with_pp = [layout for layout in layouts if layout.pp > 1]
    assert with_pp  # 141B parameters do not fit one or two H100s
    for layout in with_pp:
        from dataclasses import replace

        alone = replace(base, num_chips=layout.tp * layout.ep, tp=layout.tp, ep=layout.ep)
        assert not plan_memory(alone).fits  # pp only for a tp x ep that does not fit
    dense = build_deployment("llama3-8b", "h100-sxm", num_chips=8)
    assert all(layout.ep == 1 and layout.pp == 1 for layout in colocated_layouts(dense, dense.chip, 8))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tigris", "serve", "llama3-8b", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--search", "--tp", "2", "--rate", "2"), "--tp"),
        (("--search", "--ep", "2", "--rate", "2"), "--ep"),
        (("--search", "--scenario", "server"), "--rate"),
        (("--search", "--scenario", "replay", "--rate", "2"), "--search"),
    ],
)
def test_bad_search_options_exit_2(args, fragment):
    result = _run("--num-chips", "2", "--num-requests", "5", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 4
    assert fragment in " ".join(result.stderr.split())


def test_search_cli_json_and_table():
    args = ("--num-chips", "2", "--scenario", "server", "--rate", "4", "--num-requests", "20",
            "--output-len", "16", "--search", "--quiet")  # fmt: skip
    result = _run(*args, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["search"]["num_layouts"] == 3 and data["search"]["cheapest_meeting_slo"]
    table = _run(*args)
    assert table.returncode == 0 and "Pareto front 1" in table.stdout
