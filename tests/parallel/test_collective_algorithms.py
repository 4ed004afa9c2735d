"""NCCL's algorithm choice: ring, tree and NVLink SHARP (NVLS) by message size and topology."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tigris.errors import SpecError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.collectives import (
    CommGroup,
    candidate_times,
    collective_choice,
    fitted_constants,
    nvls_supported,
)

GIB = 2**30


def group(system: str, size: int, stride: int = 1) -> CommGroup:
    cluster = load_cluster(system)
    return CommGroup(cluster, load_chip(cluster.chip), size, stride)


@pytest.mark.parametrize("system", ["dgx-h100", "hgx-h200", "dgx-b200"])
def test_nvls_runs_large_all_reduce_on_nvswitch_boards(system):
    g = group(system, 8)
    nvls = collective_choice("all_reduce", GIB, g)
    ring = collective_choice("all_reduce", GIB, g, algorithms=("ring", "tree"))
    assert nvls.algorithm == "nvls" and ring.algorithm == "ring"
    assert nvls.time_s < ring.time_s


def test_no_nvls_on_a100_or_across_nodes_or_for_all_gather():
    assert not nvls_supported(group("dgx-a100", 8))
    assert collective_choice("all_reduce", GIB, group("dgx-a100", 8)).algorithm == "ring"
    assert not nvls_supported(group("dgx-h100", 16))
    assert all(a != "nvls" for a, _ in candidate_times("all_reduce", GIB, group("dgx-h100", 16)))
    assert collective_choice("all_gather", GIB, group("dgx-h100", 8)).algorithm == "ring"


def test_small_all_reduce_inside_a_node_takes_the_ring_with_ll():
    choice = collective_choice("all_reduce", 32 * 2**10, group("dgx-h100", 8))
    assert (choice.algorithm, choice.protocol) == ("ring", "LL")


def test_tree_beats_ring_for_small_messages_across_nodes():
    g = group("dgx-h100", 64)  # 8 nodes: 2 log2 8 tree hops against the ring's 126
    small = candidate_times("all_reduce", 4096, g)
    assert small["tree", "LL"] < small["ring", "LL"]
    assert collective_choice("all_reduce", 4096, g).algorithm == "tree"
    two_nodes = group("dgx-h100", 16)
    assert collective_choice("all_reduce", 4096, two_nodes).algorithm == "tree"
    # the ring's 2 (n - 1) / n * M against the tree's 2 M wins once bandwidth dominates
    assert collective_choice("all_reduce", 16 * GIB, two_nodes).algorithm == "ring"


@pytest.mark.parametrize("size", [1024, 2**20, 64 * 2**20, 4 * GIB])
@pytest.mark.parametrize(("system", "ranks"), [("dgx-h100", 8), ("dgx-h100", 32), ("dgx-a100", 16)])
def test_the_choice_is_the_fastest_candidate(system, ranks, size):
    g = group(system, ranks)
    times = candidate_times("all_reduce", size, g)
    choice = collective_choice("all_reduce", size, g)
    assert choice.time_s == pytest.approx(
        fitted_constants().collective_start_s + min(times.values())
    )
    assert times[choice.algorithm, choice.protocol] == min(times.values())


def test_algorithm_restriction_is_checked():
    with pytest.raises(SpecError):
        collective_choice("all_reduce", GIB, group("dgx-a100", 8), algorithms=("nvls",))
    with pytest.raises(SpecError):
        collective_choice("all_reduce", GIB, group("dgx-h100", 8), algorithms=("collnet",))


def test_cli_bus_bandwidth_above_what_a_ring_carries_on_h100():
    """`tigris collective` on an H100 board: NVLS's bus bandwidth exceeds the ring's ceiling
    (the link rate at the fitted scale-up efficiency); on A100 it stays below it."""
    run = [sys.executable, "-m", "tigris", "collective", "--kind", "all_reduce"]
    for system, above in (("dgx-h100", True), ("dgx-a100", False)):
        done = subprocess.run(
            [*run, "--system", system, "--bytes", "1 GiB", "--ranks", "8", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0 and "Traceback" not in done.stderr
        link = load_cluster(system).node.scale_up.bandwidth_unidir
        ceiling = link * fitted_constants().scale_up_bus_efficiency
        assert (json.loads(done.stdout)["bus_bandwidth_bytes_per_s"] > ceiling) is above


def test_nvls_efficiency_follows_nccls_generation_table():
    """NCCL's nvlsEfficiency (tuning.cc): Blackwell 0.74 against Hopper 0.85; a domain whose
    name gives no generation NCCL lists keeps the fitted (Hopper) efficiency."""
    from tigris.parallel.collectives import nvls_generation_factor

    assert nvls_generation_factor("NVLink 4 + 4x NVSwitch (3rd gen)") == 1.0
    assert nvls_generation_factor("NVLink 5 + NVSwitch") == pytest.approx(0.74 / 0.85)
    assert nvls_generation_factor("ICI 3D torus") == 1.0


def test_mid_size_all_reduce_takes_ll128_inside_a_node():
    """LL128 sits between LL (half the bandwidth) and Simple (longer hops): NCCL runs it on
    NVLink for medium messages; at 16 MiB on 8 A100s it beats both."""
    times = candidate_times("all_reduce", 16 * 2**20, group("dgx-a100", 8))
    best = min(times, key=times.__getitem__)
    assert best == ("ring", "LL128")
    assert times["ring", "LL128"] < min(times["ring", "LL"], times["ring", "Simple"])
