"""Expert parallelism at scale: the all-to-all on the topology, routing imbalance on the
busiest ep rank, the shared experts beside the dispatch, and --moe-imbalance checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tigris.errors import SpecError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.collectives import CommGroup, collective_time_s
from tigris.parallel.overlap import shared_expert_overlap_s
from tigris.parallel.partition import layer_collectives, shard_graph
from tigris.workload.moe import DEFAULT_MOE_IMBALANCE, check_imbalance, rank_expert_load
from tigris.workload.ops import Gemm
from tigris.workload.precision import Precision
from tigris.workload.presets import load_model
from tigris.workload.tasks import prefill_graph, train_step_graph


def _group(system: str, chip: str, size: int) -> CommGroup:
    return CommGroup(load_cluster(system), load_chip(chip), size, 1)


def test_all_to_all_inside_nvl72_beats_two_hgx_nodes() -> None:
    """16 ranks inside one 72-GPU NVLink domain move the same bytes faster than 16
    ranks over two 8-GPU nodes, whose off-node share crosses the NICs."""
    message = 64e6
    nvl72 = collective_time_s("all_to_all", message, _group("gb200-nvl72", "gb200", 16))
    two_nodes = collective_time_s("all_to_all", message, _group("dgx-b200", "b200", 16))
    assert _group("gb200-nvl72", "gb200", 16).num_domains == 1
    assert _group("dgx-b200", "b200", 16).num_domains == 2
    assert nvl72 < two_nodes


def _expert_gemms(graph) -> list[Gemm]:
    return [
        op
        for group in graph.groups
        for op in group.ops
        if isinstance(op, Gemm) and op.name.startswith("moe.expert")
    ]


def test_imbalance_one_keeps_the_even_split() -> None:
    """F = 1 on tokens that divide over the experts: each rank's expert GEMMs are the
    old ones (experts / ep of them, rows x ep each), every other op unchanged."""
    spec = load_model("mixtral-8x7b")
    graph = train_step_graph(spec, 1, 4096, Precision())
    sharded = shard_graph(graph, tp=2, ep=4, moe_imbalance=1.0)
    for op in _expert_gemms(sharded):
        dims = (op.m, op.batch) if op.name.endswith(("gate_up", "down")) else None
        if dims:
            assert dims == (4096 * 2 // 8 * 4, 8 // 4)


def test_imbalance_raises_the_moe_layer_monotonically() -> None:
    spec = load_model("mixtral-8x7b")
    graph = prefill_graph(spec, 1000, 1, Precision())
    flop = []
    for factor in (1.0, 1.2, 1.5, 2.0, 3.0):
        sharded = shard_graph(graph, ep=8, moe_imbalance=factor)
        flop.append(sum(op.flop * 1 for op in _expert_gemms(sharded)))
        (a2a,) = {
            c.message_bytes
            for c in layer_collectives(spec, 1000, ep=8, moe_imbalance=factor)
            if c.group_role == "ep"
        }
        flop[-1] = (flop[-1], a2a)
    assert all(b[0] > a[0] and b[1] > a[1] for a, b in zip(flop, flop[1:], strict=False))


def test_few_tokens_run_that_many_experts() -> None:
    """Wide-EP decode: 256 experts on 32 ranks, one token a rank, top-8: each rank gets
    8 rows, one on each of its 8 experts (their weights all read), not 32 on one."""
    assert rank_expert_load(8, 256, 32, 1.0) == (8, 1)
    assert rank_expert_load(2, 256, 32, 1.0) == (2, 1)
    assert rank_expert_load(8, 256, 32, 2.0) == (8, 2)
    spec = load_model("deepseek-v3")
    graph = prefill_graph(spec, 1, 1, Precision())
    for factor, load in ((1.0, (8, 1)), (DEFAULT_MOE_IMBALANCE, (8, 2))):  # 13 rows on 8
        sharded = shard_graph(graph, ep=32, moe_imbalance=factor)
        gate_up = [op for op in _expert_gemms(sharded) if op.name == "moe.expert.gate_up"]
        assert {(op.batch, op.m) for op in gate_up} == {load}


@pytest.mark.parametrize("dispatch", [0.0, 1e-5, 1e-4, 1e-3])
@pytest.mark.parametrize("shared", [0.0, 2e-5, 5e-4, 3e-3])
def test_shared_expert_overlap_never_slows(dispatch: float, shared: float) -> None:
    for slowdown in (0.0, 0.43, 0.99):
        saved = shared_expert_overlap_s(dispatch, shared, slowdown)
        assert 0.0 <= saved <= min(dispatch, shared) + 1e-15


def test_check_imbalance() -> None:
    assert check_imbalance(1.0) == 1.0
    assert pytest.approx(1 / 0.66) == DEFAULT_MOE_IMBALANCE
    for bad in (0.5, float("nan"), float("inf"), 1e9):
        with pytest.raises(SpecError, match="moe-imbalance"):
            check_imbalance(bad)


def test_cli_rejects_imbalance_below_one() -> None:
    args = [sys.executable, "-m", "tigris", "train", "mixtral-8x7b", "--chip", "h100-sxm"]
    args += ["--num-chips", "64", "--global-batch", "256", "--seq-len", "4096"]
    done = subprocess.run(args + ["--moe-imbalance", "0.5"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--moe-imbalance" in done.stderr and "0.5" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2
