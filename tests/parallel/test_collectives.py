"""Collectives: limits, monotonicity, tiers, topologies, and error against measured rows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.errors import InfeasibleError, SpecError
from tigris.hardware.presets import load_chip, load_cluster
from tigris.parallel.collectives import (
    KINDS,
    CommGroup,
    bus_bandwidth_bytes_per_s,
    collective_time_s,
    fitted_constants,
)
from tigris.validate.collectives import summarize_collectives, validate_collectives

DGX_H100 = load_cluster("dgx-h100")
H100 = load_chip("h100-sxm")


def group(size: int, stride: int = 1, cluster=DGX_H100, chip=H100) -> CommGroup:
    return CommGroup(cluster, chip, size, stride)


@pytest.mark.parametrize("kind", KINDS)
def test_one_rank_costs_nothing(kind):
    assert collective_time_s(kind, 1e9, group(1)) == 0.0


def test_unknown_kind_and_bad_group():
    with pytest.raises(SpecError):
        collective_time_s("broadcast", 1e6, group(8))
    with pytest.raises(SpecError):
        CommGroup(DGX_H100, H100, 0)


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    size=st.sampled_from([2, 4, 8, 16, 64]),
    stride=st.sampled_from([1, 2, 8]),
    small=st.floats(1e3, 1e9),
    factor=st.floats(1.0, 100.0),
)
def test_more_bytes_never_faster(kind, size, stride, small, factor):
    g = group(size, stride)
    assert collective_time_s(kind, small * factor, g) >= collective_time_s(kind, small, g)


def test_all_reduce_is_reduce_scatter_plus_all_gather_in_bandwidth():
    g = group(8)
    big = 8e9
    ar = collective_time_s("all_reduce", big, g, algorithms=("ring",))  # NVLS aside
    rs_ag = collective_time_s("reduce_scatter", big, g) + collective_time_s("all_gather", big, g)
    assert ar == pytest.approx(rs_ag, rel=0.01)


def test_nvlink_bus_bandwidth_near_link_rate_for_large_messages():
    """A ring stays under the link rate; NVLS may pass it (the switch reduces: H200's
    measured 8-GPU NVLS bus bandwidth is 482 GB/s over 450 GB/s links) but not its bound
    2 (n - 1) / (n + 1) x the link rate."""
    g, big = group(8), 8e9
    link = DGX_H100.node.scale_up.bandwidth_unidir
    ring = big / collective_time_s("all_reduce", big, g, algorithms=("ring",)) * 2 * 7 / 8
    assert 0.6 * link < ring < link
    busbw = bus_bandwidth_bytes_per_s("all_reduce", big, g)
    assert ring < busbw < 2 * 7 / 9 * link


def test_crossing_nodes_is_slower_than_staying_inside():
    inside = collective_time_s("all_reduce", 1e9, group(8, 1))
    across = collective_time_s("all_reduce", 1e9, group(8, 8))
    assert across > 5 * inside
    # NIC bound: about 2 (n - 1) / n * M over one 400 Gb/s NIC per chip at its fitted share
    nic = DGX_H100.scale_out[0].bandwidth_unidir_per_chip
    nic *= fitted_constants().scale_out_bus_efficiency
    assert across == pytest.approx(2 * 7 / 8 * 1e9 / nic, rel=0.1)


def test_no_scale_out_network_is_infeasible():
    # the TPU pods now carry DCN as their scale-out tier; this PCIe server has none
    server = load_cluster("hgx-h100-pcie")
    chip = load_chip("h100-pcie")
    assert collective_time_s("all_reduce", 1e8, CommGroup(server, chip, 8)) > 0
    with pytest.raises(InfeasibleError):
        collective_time_s("all_reduce", 1e8, CommGroup(server, chip, 16))


def test_torus_uses_more_links_when_the_group_spans_more_dimensions():
    pod = load_cluster("tpu-v5e-pod")  # 16 x 16
    chip = load_chip("tpu-v5e")
    one_dim = bus_bandwidth_bytes_per_s("all_reduce", 64e9, CommGroup(pod, chip, 16))
    two_dims = bus_bandwidth_bytes_per_s("all_reduce", 64e9, CommGroup(pod, chip, 256))
    assert two_dims == pytest.approx(2 * one_dim, rel=0.05)


def test_fully_connected_p2p_uses_one_peer_link():
    platform = load_cluster("mi300x-platform")
    chip = load_chip("mi300x")
    p2p = collective_time_s("p2p", 1e9, CommGroup(platform, chip, 2))
    per_peer = platform.node.scale_up.bandwidth_per_peer_unidir
    assert p2p > 1e9 / per_peer  # no faster than one 64 GB/s link
    ring = bus_bandwidth_bytes_per_s("all_reduce", 8e9, CommGroup(platform, chip, 8))
    assert ring > 3 * per_peer  # a ring per link


ONE_NODE_SWEEPS = {
    "ml-engineering dgx-a100 one node": (),
    "ml-engineering hgx-h200 one node": (),
    "ml-engineering dgx-b200 one node": pytest.mark.xfail(
        strict=True,
        reason="15.0 % in-sample (18.1 % before NCCL's per-generation NVLS efficiency): "
        "its 4 MiB-4 GiB rows sit 17-64 % below both the ring and the NVLS bandwidth "
        "(issue 15: 15 %)",
    ),
}


@pytest.mark.parametrize(
    "key", [pytest.param(key, marks=marks) for key, marks in ONE_NODE_SWEEPS.items()]
)
def test_error_against_measured_nccl_sweeps_inside_a_node(key):
    """nccl-tests busbw/time sweeps (32 KiB to 16 GiB) on one A100, H200 or B200 node,
    within the issue's 15 % (the fitted constants saw these rows: an in-sample floor)."""
    rows, mean_error, _ = summarize_collectives(validate_collectives())[key]
    assert rows >= 10
    assert mean_error < 15.0, key
