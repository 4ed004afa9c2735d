"""Chip and system files that start from another with `base:`: merged key by key, their
own sources kept, errors that name `base`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tigris.errors import SpecError
from tigris.hardware.presets import load_chip, load_cluster, spec_mapping

VARIANT = """
base: h100-sxm
id: h100-141
name: H100 with 141 GB
memory: {dram: {capacity: 141 GB, bandwidth: 4.8 TB/s}}
sources:
  memory.dram: https://example.org/a-datasheet
"""


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def test_a_variant_changes_only_what_it_gives(tmp_path: Path) -> None:
    chip = load_chip(_write(tmp_path, "h100-141.yaml", VARIANT))
    base = load_chip("h100-sxm")
    assert (chip.id, chip.name) == ("h100-141", "H100 with 141 GB")
    assert chip.dram_capacity_bytes == 141e9 and chip.dram_bandwidth_bytes_per_s == 4.8e12
    assert chip.memory.dram.kind == base.memory.dram.kind  # the rest of the mapping kept
    assert chip.memory.sram == base.memory.sram and chip.matrix == base.matrix
    assert chip.peak_flop_per_s("bf16") == base.peak_flop_per_s("bf16")
    sources = spec_mapping(tmp_path / "h100-141.yaml")["sources"]
    assert sources["memory.dram"] == "https://example.org/a-datasheet"
    assert "tdp" in sources  # the base's own sources stay


def test_a_base_given_as_a_path_is_read_beside_the_file(tmp_path: Path) -> None:
    _write(tmp_path, "h100-141.yaml", VARIANT)
    chip = load_chip(
        _write(
            tmp_path, "slower.yaml", "base: h100-141.yaml\nid: slower\nmatrix: {clock: 1.5 GHz}\n"
        )
    )
    assert chip.id == "slower" and chip.dram_capacity_bytes == 141e9
    assert chip.matrix.clock == 1.5e9


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("base: h100-sx\nid: x\n", "unknown chip 'h100-sx'"),
        ("base: 3\nid: x\n", "base must name"),
        ("base: missing.yaml\nid: x\n", "no such file"),
        ("base: loop.yaml\nid: loop\n", "leads back to this file"),
    ],
)
def test_a_bad_base_is_named(tmp_path: Path, text: str, fragment: str) -> None:
    path = _write(tmp_path, "loop.yaml", text)
    with pytest.raises(SpecError) as caught:
        load_chip(path)
    assert fragment in str(caught.value) and "base" in str(caught.value)


def test_the_a100_40gb_preset_is_the_80gb_part_with_its_memory() -> None:
    small, large = load_chip("a100-sxm-40gb"), load_chip("a100-sxm-80gb")
    assert small.dram_capacity_bytes == 40960 * 2**20  # nvidia-smi total, not 40e9
    assert small.dram_bandwidth_bytes_per_s == 1.555e12
    same = {"matrix", "vector", "links", "tdp", "die_area", "calibration", "process"}
    assert {name: getattr(small, name) for name in same} == {
        name: getattr(large, name) for name in same
    }
    system = load_cluster("dgx-a100-40gb")
    assert system.chip == "a100-sxm-40gb"
    assert system.node == load_cluster("dgx-a100").node


def _infer(chip: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tigris", "infer", "llama3-70b", "--chip", str(chip)]
    command += ["--num-chips", "8", "--batch", "8", "--input-len", "512", "--output-len", "64"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_cli_takes_a_variant_file(tmp_path: Path) -> None:
    result = _infer(_write(tmp_path, "h100-141.yaml", VARIANT + "default_system: dgx-h100\n"))
    assert result.returncode == 0, result.stderr
    result = _infer(_write(tmp_path, "bad.yaml", "base: nope\nid: bad\n"))
    assert result.returncode == 2 and "base" in result.stderr
