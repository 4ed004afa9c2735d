"""Exact agreement with SCALE-Sim 3.0.0 (GEMM, CALC) on the committed golden data."""

from __future__ import annotations

import pytest
from systolic_helpers import config_from_golden, load_make_golden

from tigris.engines.systolic import simulate


def test_golden_set_is_broad(golden_records):
    configs = [record["config"] for record in golden_records]
    assert len(configs) >= 60
    assert {c["dataflow"] for c in configs} == {"os", "ws", "is"}
    arrays = {(c["rows"], c["cols"]) for c in configs}
    assert (4, 4) in arrays and (256, 256) in arrays
    shapes = {(c["M"], c["N"], c["K"]) for c in configs}
    assert (1, 1024, 1024) in shapes and (8, 1024, 1024) in shapes
    ragged = [c for c in configs if c["M"] % c["rows"] or c["N"] % c["cols"] or c["K"] % c["rows"]]
    assert len(ragged) >= 50


def test_golden_set_is_what_the_script_generates(golden_records):
    assert [r["config"] for r in golden_records] == load_make_golden().generate_configs()


def test_cycles_and_sram_reads_equal_scalesim(golden_records):
    mismatches = []
    for record in golden_records:
        config, peer = record["config"], record["scalesim"]
        result = simulate(config["M"], config["N"], config["K"], config_from_golden(config))
        ours = (
            result.total_cycles,
            result.stall_cycles,
            result.sram_reads_ifmap,
            result.sram_reads_filter,
        )
        theirs = (
            peer["total_cycles"],
            peer["stall_cycles"],
            peer["sram_reads_ifmap"],
            peer["sram_reads_filter"],
        )
        if ours != theirs:
            mismatches.append((config, ours, theirs))
    assert mismatches == []


def test_mapping_efficiency_and_overall_util_equal_scalesim(golden_records):
    for record in golden_records:
        config, peer = record["config"], record["scalesim"]
        result = simulate(config["M"], config["N"], config["K"], config_from_golden(config))
        assert result.mapping_efficiency * 100 == pytest.approx(peer["mapping_efficiency_pct"])
        # SCALE-Sim divides MACs by its last-cycle index; we divide by the cycle count.
        scalesim_util = result.num_macs / (result.total_cycles * result.config.num_pes)
        assert scalesim_util * 100 == pytest.approx(peer["overall_util_pct"])


def test_dram_reads_equal_scalesim_when_operand_is_resident(golden_records):
    """Where a whole operand fits in its active half-buffer both tools fetch it once; beyond
    that SCALE-Sim's CALC totals depend on its 100-set bookkeeping (docs/systolic.md)."""
    checked = 0
    for record in golden_records:
        config, peer = record["config"], record["scalesim"]
        result = simulate(config["M"], config["N"], config["K"], config_from_golden(config))
        if config["M"] * config["K"] <= config["ifmap_sram_kb"] * 512:
            assert result.dram_reads_ifmap == peer["dram_reads_ifmap"]
            checked += 1
        if config["K"] * config["N"] <= config["filter_sram_kb"] * 512:
            assert result.dram_reads_filter == peer["dram_reads_filter"]
            checked += 1
    assert checked >= 100


def test_scalesim_artefacts_are_what_the_docs_say(golden_records):
    """The numbers we do not copy differ from ours exactly as docs/systolic.md explains."""
    for record in golden_records:
        config, peer = record["config"], record["scalesim"]
        result = simulate(config["M"], config["N"], config["K"], config_from_golden(config))
        rows, cols = config["rows"], config["cols"]
        extra_writes = result.num_folds * (rows + cols) if config["dataflow"] == "os" else 0
        assert peer["sram_writes_ofmap"] == result.sram_writes_ofmap + extra_writes
        # WS/IS compute utilization uses a fold C - 1 cycles longer than the fold is.
        fold = result.fold_cycles + (cols - 1 if config["dataflow"] != "os" else 0)
        expected = result.compute_utilization * result.fold_cycles / fold
        assert peer["compute_util_pct"] == pytest.approx(expected * 100)
