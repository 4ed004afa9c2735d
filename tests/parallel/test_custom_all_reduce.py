"""The inference engines' custom all-reduce (one-shot / two-shot through peer memory)."""

from __future__ import annotations

import pytest

from tigris.hardware.presets import default_cluster, load_chip
from tigris.parallel.collectives import CommGroup, collective_time_s, custom_all_reduce_time_s


def _group(chip_id: str, size: int) -> CommGroup:
    chip = load_chip(chip_id)
    return CommGroup(default_cluster(chip), chip, size)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("message_bytes", "measured_s"),
    [(512, 5.9e-6), (32768, 7.8e-6), (262144, 16.7e-6), (1048576, 33.8e-6)],
)
def test_h100_tp8_within_sglang_measurements(message_bytes, measured_s):
    # sglang PR #2904, H100 tp 8 custom all-reduce latencies
    predicted = custom_all_reduce_time_s(message_bytes, _group("h100-sxm", 8))
    assert predicted == pytest.approx(measured_s, rel=0.5)


def test_small_messages_much_faster_than_nccl_and_default_unchanged():
    group = _group("h100-sxm", 8)
    message = 8192 * 2.0  # one decode token's hidden state of Llama-70B in bf16
    custom = custom_all_reduce_time_s(message, group)
    nccl = collective_time_s("all_reduce", message, group)
    assert custom < 10e-6 < nccl
    assert custom_all_reduce_time_s(0, group) == 0.0
    assert custom_all_reduce_time_s(message, _group("h100-sxm", 1)) == 0.0


def test_monotone_in_message_and_falls_back_outside_the_domain():
    group = _group("h100-sxm", 8)
    times = [custom_all_reduce_time_s(m, group) for m in (1e3, 1e4, 1e5, 1e6, 1e7)]
    assert times == sorted(times)
    wide = _group("h100-sxm", 16)
    assert custom_all_reduce_time_s(1e5, wide) == collective_time_s("all_reduce", 1e5, wide)
