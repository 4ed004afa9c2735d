"""DRAM traffic rules, word sizes and stalls on hand-checked cases."""

from __future__ import annotations

import pytest

from tigris.engines.systolic import SystolicConfig, simulate
from tigris.errors import SpecError


def test_resident_operands_are_fetched_once():
    result = simulate(64, 64, 64, SystolicConfig(16, 16, "os"))
    assert result.dram_reads_ifmap == 64 * 64
    assert result.dram_reads_filter == 64 * 64
    assert result.dram_writes_ofmap == 64 * 64


def test_small_ifmap_is_refetched_per_column_fold():
    # A (64x64 int8 = 4 KiB) does not fit a 2 KiB half, its 16x64 tile does: OS re-reads A
    # once per column fold (4), i.e. as often as the array reads it from SRAM.
    config = SystolicConfig(16, 16, "os", ifmap_sram_bytes=4096)
    result = simulate(64, 64, 64, config)
    assert result.dram_reads_ifmap == 4 * 64 * 64 == result.sram_reads_ifmap


def test_ws_partial_sums_spill_when_ofmap_tile_does_not_fit():
    # WS: the C tile is M x C = 64 x 16 fp32... int32 words = 4 KiB; a 4 KiB buffer's half is 2 KiB.
    config = SystolicConfig(16, 16, "ws", ofmap_sram_bytes=4096)
    result = simulate(64, 64, 64, config)
    k_folds = 4
    assert result.dram_writes_ofmap == k_folds * 64 * 64
    assert result.dram_reads_ofmap == (k_folds - 1) * 64 * 64


def test_word_size_scales_bytes_not_words():
    int8 = simulate(
        100, 100, 100, SystolicConfig(16, 16, "os", "int8", dram_bandwidth_bytes_per_cycle=8)
    )
    bf16 = simulate(
        100, 100, 100, SystolicConfig(16, 16, "os", "bf16", dram_bandwidth_bytes_per_cycle=8)
    )
    assert int8.dram_reads_ifmap == bf16.dram_reads_ifmap
    assert (
        bf16.bandwidth["dram_ifmap"].average_bytes_per_cycle
        > int8.bandwidth["dram_ifmap"].average_bytes_per_cycle
        * (int8.total_cycles / bf16.total_cycles)
        * 1.99
    )
    assert bf16.stall_cycles > int8.stall_cycles


def test_first_fold_waits_for_its_operands():
    # OS 8x8x100 on 8x8, 1 byte/cycle: fold 0 needs 800 + 800 bytes before it can start.
    result = simulate(8, 8, 100, SystolicConfig(8, 8, "os", dram_bandwidth_bytes_per_cycle=1.0))
    assert result.stall_cycles == 1600
    assert result.final_writeback_cycles == 64 * 4


def test_unlimited_bandwidth_never_stalls():
    result = simulate(300, 200, 100, SystolicConfig(32, 32, "is", ifmap_sram_bytes=64))
    assert result.stall_cycles == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rows": 0, "cols": 4},
        {"rows": 4, "cols": 4, "dataflow": "rs"},
        {"rows": 4, "cols": 4, "dtype": "int4"},
        {"rows": 4, "cols": 4, "dram_bandwidth_bytes_per_cycle": 0},
        {"rows": 4, "cols": 4, "ifmap_sram_bytes": 1},
    ],
)
def test_bad_config_is_a_spec_error(kwargs):
    with pytest.raises(SpecError):
        SystolicConfig(**kwargs)


def test_bad_shape_is_a_spec_error():
    with pytest.raises(SpecError):
        simulate(0, 4, 4, SystolicConfig(4, 4))
