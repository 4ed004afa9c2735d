"""Hypothesis properties of the counts and of the memory model."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tigris.engines.systolic import SystolicConfig, simulate

shapes = st.tuples(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300))
arrays = st.tuples(st.integers(1, 64), st.integers(1, 64))
dataflows = st.sampled_from(["os", "ws", "is"])
dtypes = st.sampled_from(["int8", "bf16", "fp8_e4m3"])
sram_bytes = st.integers(64, 1 << 20)
bandwidths = st.floats(0.25, 512.0)


@settings(max_examples=150, deadline=None)
@given(shape=shapes, array=arrays, dataflow=dataflows, dtype=dtypes, bw=st.none() | bandwidths)
def test_macs_and_utilization(shape, array, dataflow, dtype, bw):
    m, n, k = shape
    config = SystolicConfig(*array, dataflow, dtype, dram_bandwidth_bytes_per_cycle=bw)
    result = simulate(m, n, k, config)
    assert result.num_macs == m * n * k
    assert 0 < result.utilization <= 1
    assert 0 < result.mapping_efficiency <= 1
    assert result.total_cycles == result.compute_cycles + result.stall_cycles
    assert result.stall_cycles >= 0


@settings(max_examples=150, deadline=None)
@given(
    shape=shapes,
    array=arrays,
    dataflow=dataflows,
    sram=sram_bytes,
    bw=bandwidths,
    factor=st.floats(1.0, 64.0),
)
def test_more_dram_bandwidth_never_adds_cycles(shape, array, dataflow, sram, bw, factor):
    def cycles(bandwidth):
        config = SystolicConfig(
            *array,
            dataflow,
            ifmap_sram_bytes=sram,
            filter_sram_bytes=sram,
            ofmap_sram_bytes=sram,
            dram_bandwidth_bytes_per_cycle=bandwidth,
        )
        return simulate(*shape, config).total_cycles

    slow, fast, unlimited = cycles(bw), cycles(bw * factor), cycles(None)
    assert unlimited <= fast <= slow


@settings(max_examples=150, deadline=None)
@given(
    shape=shapes,
    array=arrays,
    dataflow=dataflows,
    dtype=dtypes,
    sizes=st.tuples(sram_bytes, sram_bytes, sram_bytes),
    factor=st.integers(1, 64),
)
def test_bigger_sram_never_adds_dram_traffic(shape, array, dataflow, dtype, sizes, factor):
    def traffic(scale):
        config = SystolicConfig(
            *array,
            dataflow,
            dtype,
            ifmap_sram_bytes=sizes[0] * scale,
            filter_sram_bytes=sizes[1] * scale,
            ofmap_sram_bytes=sizes[2] * scale,
        )
        r = simulate(*shape, config)
        return (r.dram_reads_ifmap, r.dram_reads_filter, r.dram_writes_ofmap, r.dram_reads_ofmap)

    small, big = traffic(1), traffic(factor)
    assert all(b <= s for b, s in zip(big, small, strict=True))
