"""Chip presets give DRAM capacity as the device reports it, each value tied to its source.

The presets used to read a marketing "80 GB" as 80e9 B; the devices expose binary-sized
totals (nvidia-smi shows 81559 MiB on an H100 80GB HBM3). Each row pins a changed preset's
capacity to the figure its YAML cites under `sources: memory.dram.capacity`.
"""

import pytest

from tigris.hardware.presets import load_chip
from tigris.units import MiB

# chip id -> (capacity in bytes, the address its YAML cites for it)
DEVICE_TOTALS = {
    "h100-sxm": (81559 * MiB, "https://github.com/NVIDIA/nccl/issues/1264"),
    "h800": (81559 * MiB, "https://github.com/NVIDIA/nccl/issues/1264"),
    "a100-sxm-80gb": (81920 * MiB, "https://github.com/modal-labs/modal-client/pull/2797"),
    "a100-sxm-40gb": (40960 * MiB, "https://github.com/modal-labs/modal-client/pull/2797"),
    "a100-pcie": (81920 * MiB, "https://github.com/vllm-project/vllm/issues/41519"),
    "l40s": (46068 * MiB, "https://github.com/modal-labs/modal-client/pull/2797"),
    "h100-nvl": (95830 * MiB, "https://github.com/NVIDIA/gpu-admin-tools/issues/4"),
    "b200": (183359 * MiB, "https://github.com/NVIDIA/TensorRT-LLM/issues/10278"),
    "tpu-v6e": (33550237696, "https://github.com/vllm-project/vllm/pull/16211"),
    "mi300x": (206141652992, "https://github.com/ROCm/legacy-rocm-build/issues/4750"),
}


@pytest.mark.parametrize("chip_id", sorted(DEVICE_TOTALS))
def test_capacity_is_the_cited_device_total(chip_id):
    capacity, url = DEVICE_TOTALS[chip_id]
    chip = load_chip(chip_id)
    assert chip.dram_capacity_bytes == capacity
    assert chip.sources.get("memory.dram.capacity") == url


def test_h100_is_not_read_as_decimal_80_gb():
    # 81559 MiB = 85.52e9 B: 6.9 % more than the 80e9 B the old preset held.
    assert load_chip("h100-sxm").dram_capacity_bytes == pytest.approx(85.52e9, rel=1e-4)
