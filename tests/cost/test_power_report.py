"""Power in the results of train, infer and serve, and --power-cap, through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

POWER_KEYS = {"power_chip_w", "power_node_wall_w", "energy_per_token_j", "energy_per_token_chip_j",
              "power_breakdown_w", "power_cap_slowdown"}  # fmt: skip
INFER = ("infer", "llama3-8b", "--chip", "h100-sxm", "--batch", "64", "--json")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tigris", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def test_infer_reports_power_and_a_cap_throttles_it() -> None:
    from tigris.api import infer

    free = _run(*INFER)
    capped = _run(*INFER, "--power-cap", "450 W")
    assert free.returncode == 0 and capped.returncode == 0, free.stderr + capped.stderr
    free_data, capped_data = json.loads(free.stdout), json.loads(capped.stdout)
    assert set(free_data) >= POWER_KEYS
    assert free_data == json.loads(
        json.dumps(infer("llama3-8b", chip="h100-sxm", batch=64).to_dict())
    )
    assert capped_data["power_board_w"] <= 450.0 + 1e-6 < free_data["power_board_w"]
    assert capped_data["tpot_s"] > free_data["tpot_s"]
    # the cap is in the op times (one rule, per op): the clock is lower, nothing is left
    # for a post-hoc stretch, and the prefill (compute-bound) slows more than decode
    assert capped_data["power_clock_ratio"] < 1.0 == capped_data["power_cap_slowdown"]
    ttft_ratio = capped_data["ttft_s"] / free_data["ttft_s"]
    assert ttft_ratio > capped_data["tpot_s"] / free_data["tpot_s"]
    # chip = board without the DRAM stacks' dynamic power: equal when a fit finds no
    # DRAM term (power_fit.json's memory_scale may be 0)
    scopes = (
        free_data["power_node_wall_w"] > free_data["power_board_w"] >= free_data["power_chip_w"]
    )
    assert scopes and sum(free_data["power_breakdown_w"].values()) > free_data["power_board_w"]


def test_train_and_serve_report_power() -> None:
    train = _run("train", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "8", "--global-batch",
                 "64", "--seq-len", "4096", "--top", "1", "--power-cap", "500 W", "--json")  # fmt: skip
    serve = _run("serve", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "1",
                 "--num-requests", "20", "--quiet", "--json")  # fmt: skip
    for done in (train, serve):
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert set(data) >= POWER_KEYS
        assert 100 < data["power_chip_w"] <= 700 and data["energy_per_token_j"] > 0
    assert json.loads(train.stdout)["power_board_w"] <= 500.0 + 1e-6


@pytest.mark.parametrize("cap", ["450", "-5 W", "fast"])
def test_a_bad_power_cap_is_refused(cap: str) -> None:
    done = _run(*INFER, "--power-cap", cap)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "--power-cap" in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_energy_per_token_carries_the_breakdown_compare_draws() -> None:
    from tigris.compare.report import ENERGY_PARTS
    from tigris.cost.power import energy_per_token
    from tigris.hardware.presets import load_chip

    energy = energy_per_token(load_chip("h100-sxm"), flop=4e14, dram_bytes=1e12,
                              link_bytes=1e10, time_s=1.0, tokens=1e4)  # fmt: skip
    watts = dict(energy.power_breakdown_w)
    board = sum(watts[k] for k in ("idle", "compute", "memory", "network"))
    assert board == pytest.approx(energy.power_w_per_chip)
    assert board + watts["host"] + watts["conversion"] == pytest.approx(energy.power_node_wall_w)
    assert {k for _, keys in ENERGY_PARTS for k in keys} == set(watts)
    assert energy.to_dict()["power_breakdown_w"] == watts


def test_power_outputs_carry_a_band_wider_for_an_unmeasured_chip() -> None:
    from tigris.cost.power_report import power_interval

    measured = power_interval("h100-sxm", 500.0, 800.0, 0.2, 700.0)
    unmeasured = power_interval("tpu-v5p", 500.0, 800.0, 0.2, None)
    assert "source" in measured["basis"] and "chip" in unmeasured["basis"]
    for band in (measured, unmeasured):
        for key in ("power_board_w", "power_node_wall_w", "energy_per_token_j"):
            assert band[key][0] < band[key][1]
    assert measured["power_board_w"][1] <= 700.0  # stops at the board's limit

    def width(band: dict) -> float:
        return band["energy_per_token_j"][1] / band["energy_per_token_j"][0]

    assert width(unmeasured) > width(measured)


def test_interval_table_takes_central_quantiles_of_held_out_ratios() -> None:
    from tigris.validate.power_score import interval_table

    rows = [{"chip": "x", "scope": "board", "measured_power_w": 100.0 * (1 + k / 10),
             "power_w_held_out": 100.0, "measured_j_per_token": 1.0,
             "j_per_token_held_out": 1.0} for k in range(11)]  # fmt: skip
    table = interval_table({"rows": rows}, {"rows": rows})
    assert table["measured"]["board"]["low"] == pytest.approx(1.1)
    assert table["measured"]["board"]["high"] == pytest.approx(1.9)
    assert table["measured_chips"] == ["x"] and "node_wall" not in table["unmeasured"]


def test_energy_per_token_takes_the_clock_its_times_were_made_at() -> None:
    """A dense stream timed at the sustained clock s (a training step) fits its TDP with
    clock_sq = s^2; the same counts read as boost-clock times ask for more (slowdown)."""
    from tigris.cost.power import energy_per_token
    from tigris.cost.power_scope import sustained_dense_flop_per_s
    from tigris.hardware.presets import load_chip
    from tigris.parallel.clock import sustained_clock_ratio

    chip = load_chip("h100-sxm")
    flop = 0.9 * sustained_dense_flop_per_s(chip, "bf16")
    counts = dict(flop=flop, dram_bytes=1e11, link_bytes=0.0, time_s=1.0, tokens=1e4)
    sustained = energy_per_token(chip, clock_sq=sustained_clock_ratio(chip) ** 2, **counts)
    boost = energy_per_token(chip, **counts)
    assert sustained.slowdown == 1.0 and sustained.power_w_per_chip < 700.0
    assert boost.slowdown > 1.0


def test_device_side_stack_time_keeps_the_busy_power() -> None:
    """report_power with busy_s: the power of the busy part, kept over the whole time
    (a stack whose fitted time is device work, vllm-server), so energy grows with time."""
    from tigris.cost.power import Activity
    from tigris.cost.power_report import report_power
    from tigris.hardware.presets import load_chip

    chip = load_chip("h100-sxm")
    work = Activity(1.0, 2e14, 1.5e12, 0.0, dtype="bf16", clock_sq=1.0)
    busy = report_power(chip, work, tokens=1000.0, num_chips=1)
    longer = Activity(1.5, 2e14, 1.5e12, 0.0, dtype="bf16", clock_sq=1.0)
    on_device = report_power(chip, longer, tokens=1000.0, num_chips=1, busy_s=1.0)
    on_host = report_power(chip, longer, tokens=1000.0, num_chips=1)
    assert on_device.power.board_w == pytest.approx(busy.power.board_w)
    assert on_host.power.board_w < 0.9 * busy.power.board_w
    assert on_device.energy_per_token_j("board") == pytest.approx(
        1.5 * busy.energy_per_token_j("board")
    )


def test_serve_under_vllm_server_reports_power_and_slower_tokens() -> None:
    base = ["serve", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "1", "--scenario",
            "offline", "--num-requests", "64", "--quiet", "--json", "--stack"]  # fmt: skip
    out = {}
    for stack in ("vllm", "vllm-server"):
        done = subprocess.run([sys.executable, "-m", "tigris", *base, stack],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-300:]
        out[stack] = json.loads(done.stdout)
    fast, slow = (_find(out[s], "throughput_tokens_per_s") for s in ("vllm", "vllm-server"))
    assert slow < fast
    board = _find(out["vllm-server"], "power_board_w")
    assert 0 < board <= 700.0 + 1e-6
    assert _find(out["vllm-server"], "energy_per_token_j") > _find(
        out["vllm"], "energy_per_token_j"
    )


def _find(data, key):
    if isinstance(data, dict):
        for name, value in data.items():
            found = value if name == key else _find(value, key)
            if found is not None:
                return found
    return None


def test_compare_prices_energy_with_the_one_power_model(tmp_path) -> None:
    """TCO has no separate server power multiplier any more: `--set` on it is a bad key
    (exit 2, one line naming it, no report written)."""
    out = tmp_path / "report.html"
    done = subprocess.run([sys.executable, "-m", "tigris", "compare", "--chips", "h100-sxm",
                           "--workload", "serve-8b", "--out", str(out), "--quiet", "--set",
                           "operations.server_power_multiplier=2"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "server_power_multiplier" in done.stderr and len(done.stderr.splitlines()) <= 2
    assert not out.exists()
