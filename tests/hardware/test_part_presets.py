"""Presets for parts the measured rows name (GH200, H100 NVL, A100 PCIe) and the fixed
microarchitecture of B300/GB300/H20: each loads, its headline figures equal the cited values
(restated from the sources named in the YAML files, so a changed preset fails), and the
hardware-name rules map the publications' spellings to them.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tigris.hardware import load_chip, load_cluster
from tigris.validate.hardware_names import chip_for_hardware, unmapped_reason

TERA = 1e12

# chip id -> (dense bf16 and fp8 TFLOP/s, HBM bytes, HBM bytes/s, TDP W, SMs, system size).
# NVIDIA GH200 page (grace-hopper-superchip), H100 page (NVL column), A100 datasheet (80GB PCIe).
HEADLINES = {
    "gh200": (989.4, 1978.9, 144e9, 4.9e12, 1000, 132, 1),
    "gh200-96gb": (989.4, 1978.9, 96e9, 4.0e12, 1000, 132, 1),
    "h100-nvl": (835.5, 1670.5, 95830 * 2**20, 3.9e12, 400, 132, 2),
    "a100-pcie": (312, None, 81920 * 2**20, 1.935e12, 300, 108, 2),
}


@pytest.mark.parametrize("chip_id", sorted(HEADLINES))
def test_new_part_headline_figures(chip_id):
    bf16, fp8, capacity, bandwidth, tdp, sms, domain = HEADLINES[chip_id]
    chip = load_chip(chip_id)
    assert chip.peak_flop_per_s("bf16") == pytest.approx(bf16 * TERA)
    if fp8 is not None:
        assert chip.peak_flop_per_s("fp8") == pytest.approx(fp8 * TERA)
    assert chip.memory.dram.capacity == pytest.approx(capacity)
    assert chip.memory.dram.bandwidth == pytest.approx(bandwidth)
    assert chip.tdp == pytest.approx(tdp)
    assert chip.matrix.num_sms == sms
    cluster = load_cluster(chip.default_system)
    assert cluster.chip == chip_id
    assert cluster.node.scale_up.num_chips == domain


def test_nvlink_bridges_and_c2c():
    assert load_chip("h100-nvl").links[0].bandwidth_bidir == pytest.approx(600e9)
    assert load_chip("a100-pcie").links[0].bandwidth_bidir == pytest.approx(600e9)
    assert "900 GB/s" in load_chip("gh200").host_interface


@pytest.mark.parametrize(
    ("chip_id", "sms", "tensor_cores", "clock_mhz", "l2_bytes"),
    [
        # NVIDIA Blackwell Ultra blog (4 TC/SM); 148 SMs as the SXM6 part reports; clock
        # derived from the dense bf16 peak; 126 MB L2
        ("b300", 148, 4, 1856, 126e6),
        ("gb300", 148, 4, 2062, 126e6),
        ("h20", 78, 4, None, 60e6),  # Geekbench 6 listing; the compute cap is not a clock
    ],
)
def test_gemm_microarchitecture(chip_id, sms, tensor_cores, clock_mhz, l2_bytes):
    matrix = load_chip(chip_id).matrix
    assert (matrix.num_sms, matrix.tensor_cores_per_sm) == (sms, tensor_cores)
    if clock_mhz is None:
        assert matrix.clock is None
    else:
        assert matrix.clock == pytest.approx(clock_mhz * 1e6)
    l2 = [level for level in load_chip(chip_id).memory.sram if level.name == "L2"]
    assert l2 and l2[0].capacity == pytest.approx(l2_bytes)


@pytest.mark.parametrize(
    ("name", "chip_id"),
    [
        ("NVIDIA GH200 Grace Hopper Superchip 144GB", "gh200"),
        ("NVIDIA GH200 GPU", "gh200"),
        ("NVIDIA GH200 SXM", "gh200"),
        ("NVIDIA GH200 480GB", "gh200-96gb"),
        ("NVIDIA H100-NVL-94GB", "h100-nvl"),
        ("NVIDIA H100 NVL", "h100-nvl"),
        ("NVIDIA A100 PCIe", "a100-pcie"),
        # the more general names keep their presets
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("NVIDIA H100 SXM", "h100-sxm"),
        ("NVIDIA H200 NVL", "h200-nvl"),
        ("NVIDIA H200 SXM", "h200-sxm"),
        ("NVIDIA A100 SXM", "a100-sxm-80gb"),
        ("NVIDIA A100 40GB", "a100-sxm-40gb"),
    ],
)
def test_hardware_names_map_to_presets(name, chip_id):
    assert chip_for_hardware(name) == chip_id
    load_chip(chip_id)


def test_unknown_part_still_unmapped_with_its_name():
    assert chip_for_hardware("Acme Z9 accelerator") is None
    assert "Acme Z9" in unmapped_reason("Acme Z9 accelerator")


def test_gemm_cli_scores_the_new_parts():
    """`tigris validate gemm --json` maps the GH200 and A100 PCIe MAMF rows (were unmapped)."""
    import json

    run = subprocess.run(
        [sys.executable, "-m", "tigris", "validate", "gemm", "--json", "--quiet", "--rows"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    out = json.loads(run.stdout)
    chips = {row["id"]: row["chip"] for row in out["rows"]}
    assert chips["mamf_162"] == chips["mamf_173"] == "gh200"
    assert chips["mamf_163"] == "a100-pcie"
    assert not [u for u in out["unmapped"] if u["id"] in {"mamf_162", "mamf_163", "mamf_173"}]
