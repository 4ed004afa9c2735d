"""Speculative decoding and MTP (`--speculative`): the expected-tokens formula, its limits,
its costs, and bad input on `tigris infer` and `tigris serve`."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tigris.api.inference import infer
from tigris.api.serving import serve
from tigris.errors import SpecError
from tigris.serving.deployment import build_deployment
from tigris.serving.speculative import (
    Speculation,
    expected_tokens,
    parse_speculative,
    sample_emitted,
)

DRAFT = "draft=llama3-8b,tokens=4,acceptance={}"


def _infer(speculative: str | None = None, batch: int = 8):
    return infer("llama3-70b", chip="h100-sxm", num_chips=8, batch=batch, input_len=512,
                 output_len=128, speculative=speculative).estimate  # fmt: skip


@pytest.mark.parametrize(("tokens", "acceptance"), [(1, 0.85), (4, 0.7), (7, 0.5), (3, 0.0)])
def test_expected_tokens_match_a_monte_carlo_of_per_token_acceptance(tokens, acceptance):
    # an independent Monte Carlo: each draft accepted with probability A until the first
    # rejection; the target adds its own token
    rng = np.random.default_rng(7)
    n = 200_000
    accepted = rng.random((n, tokens)) < acceptance
    run = np.where(accepted.all(axis=1), tokens, np.argmin(accepted, axis=1))
    emitted = run + 1
    formula = expected_tokens(tokens, acceptance)
    sigma = emitted.std() / np.sqrt(n) + 1e-12
    assert abs(emitted.mean() - formula) < 5 * sigma
    # the simulator's sampler draws from the same law
    drawn = sample_emitted(np.random.default_rng(3), tokens, acceptance, n)
    assert abs(drawn.mean() - formula) < 5 * sigma
    assert drawn.min() >= 1 and drawn.max() <= tokens + 1


def test_tokens_per_step_tend_to_k_plus_one_as_acceptance_tends_to_one():
    for tokens in (1, 4, 8):
        assert expected_tokens(tokens, 0.0) == 1.0
        assert expected_tokens(tokens, 0.999999) == pytest.approx(tokens + 1, rel=1e-4)
        gaps = [tokens + 1 - expected_tokens(tokens, a) for a in (0.5, 0.9, 0.99, 0.999)]
        assert gaps == sorted(gaps, reverse=True)
    drawn = sample_emitted(np.random.default_rng(0), 4, 0.999999, 10_000)
    assert (drawn == 5).mean() > 0.99


def test_acceptance_zero_costs_only():
    plain = _infer()
    spec = _infer(DRAFT.format(0.0))
    assert spec.throughput_tokens_per_s < plain.throughput_tokens_per_s
    assert spec.ttft_s > plain.ttft_s  # the draft prefills the prompt too
    assert spec.memory_per_chip_bytes > plain.memory_per_chip_bytes  # draft weights + KV
    assert spec.speculative["mean_tokens_per_step"] == 1.0
    assert 0 < spec.speculative["draft_time_share"] < 1


def test_high_acceptance_pays_off_and_throughput_grows_with_it():
    rates = [_infer(DRAFT.format(a)).throughput_tokens_per_s for a in (0.0, 0.5, 0.7, 0.9)]
    assert rates == sorted(rates)
    assert rates[-1] > _infer().throughput_tokens_per_s


def test_serve_with_acceptance_zero_is_not_faster():
    common = dict(chip="h100-sxm", num_chips=8, num_requests=40, input_len=256, output_len=64)
    plain = serve("llama3-70b", **common).to_dict()
    spec = serve("llama3-70b", speculative=DRAFT.format(0.0), **common).to_dict()
    fast = serve("llama3-70b", speculative=DRAFT.format(0.9), **common).to_dict()
    assert spec["throughput_tokens_per_s"] <= plain["throughput_tokens_per_s"]
    assert fast["throughput_tokens_per_s"] > plain["throughput_tokens_per_s"]
    assert fast["speculative"]["tokens"] == 4
    assert fast["speculative"]["mean_tokens_per_step"] == pytest.approx(expected_tokens(4, 0.9))
    assert "speculative" not in plain


def test_serve_is_reproducible_with_speculation():
    run = dict(chip="h100-sxm", num_chips=2, tp=1, num_requests=30, output_len=32,
               speculative="draft=llama3-8b,tokens=2,acceptance=0.6")  # fmt: skip
    assert serve("llama3-8b", **run).to_dict() == serve("llama3-8b", **run).to_dict()


def test_mtp_module_costs_one_layer_of_the_target():
    from tigris.serving.step_time import shared_timer

    d = build_deployment("deepseek-v3", "h200-sxm", num_chips=8, weight_dtype="fp8")
    mtp = Speculation(parse_speculative("mtp,tokens=1,acceptance=0.85"), d)
    assert mtp.draft.model.num_layers == 1 and mtp.draft.tp == d.tp
    # one MoE layer (all 256 experts) + eh_proj, split over 8 chips, in fp8: ~1.5 GB
    assert 0.5e9 < mtp.weights_bytes_per_chip < 3e9
    # a draft step runs one of the target's 61 layers (and the shared LM head)
    target_step = shared_timer(d).decode_step_s(8, 600.0)
    assert target_step / 120 < mtp.draft_s(8, 600.0) < target_step / 20
    two = Speculation(parse_speculative("mtp,tokens=2,acceptance=0.85"), d)
    assert two.draft_s(8, 600.0) > 1.9 * mtp.draft_s(8, 600.0)  # the module reused


def test_parse_rejects_missing_and_conflicting_settings():
    for text in ("mtp,tokens=2", "draft=llama3-8b,acceptance=0.5", "tokens=2,acceptance=0.5",
                 "mtp,draft=llama3-8b,tokens=1,acceptance=0.5", "mtp,tokens=1,acceptance=0.5,k=2",
                 "draft=,tokens=1,acceptance=0.5", "mtp,tokens=1.5,acceptance=0.5",
                 "mtp,tokens=1,acceptance=nan", "mtp,tokens=65,acceptance=0.5"):  # fmt: skip
        with pytest.raises(SpecError) as error:
            parse_speculative(text)
        assert error.value.key_path == "--speculative"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tigris", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 4
    message = " ".join(result.stderr.split())
    for fragment in ("--speculative", *fragments):
        assert fragment in message, message


BAD = [
    ("draft=nonexistent,tokens=4,acceptance=0.7", "nonexistent"),
    ("draft=llama3-8b,tokens=4,acceptance=1", "acceptance"),
    ("draft=llama3-8b,tokens=4,acceptance=-0.1", "acceptance"),
    ("draft=llama3-8b,tokens=0,acceptance=0.5", "tokens"),
    ("mtp,tokens=1,acceptance=0.85", "num_mtp_layers"),
    ("draft=llama3-8b,tokens=4", "acceptance"),
    ("draft=llama2-7b,tokens=4,acceptance=0.5", "vocabulary"),
]


@pytest.mark.parametrize(("value", "fragment"), BAD)
def test_infer_bad_speculative_exits_2(value, fragment):
    result = _run("infer", "llama3-8b", "--chip", "h100-sxm", "--speculative", value, "--json")
    _assert_user_error(result, fragment)
    assert result.stdout == ""


@pytest.mark.parametrize(("value", "fragment"), BAD[:1] + BAD[4:5])
def test_serve_bad_speculative_exits_2(value, fragment):
    result = _run("serve", "llama3-8b", "--num-requests", "5", "--speculative", value, "--json")
    _assert_user_error(result, fragment)


def test_serve_speculative_replays_and_refuses_disaggregate():
    value = "draft=llama3-8b,tokens=2,acceptance=0.5"
    common = ("serve", "llama3-70b", "--chip", "h100-sxm", "--num-chips", "8", "--scenario",
              "replay", "--rate", "2", "--num-requests", "20", "--json", "--quiet")  # fmt: skip
    plain, replay = _run(*common), _run(*common, "--speculative", value)
    assert replay.returncode == 0 and "Traceback" not in replay.stderr, replay.stderr
    plain_json, spec_json = json.loads(plain.stdout), json.loads(replay.stdout)
    assert spec_json["speculative"]["tokens"] == 2  # the timer reached the replay
    assert spec_json["num_steps"] < plain_json["num_steps"]
    split = _run("serve", "llama3-8b", "--disaggregate", "--prefill", "h100-sxm:1",
                 "--decode", "h100-sxm:1", "--speculative", value)  # fmt: skip
    _assert_user_error(split, "disaggregate")


def test_infer_speculative_json():
    result = _run("infer", "llama3-70b", "--chip", "h100-sxm", "--num-chips", "8", "--batch",
                  "8", "--speculative", DRAFT.format(0.7), "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["speculative"]
    assert data["draft"] == "llama3-8b" and data["tokens"] == 4 and data["acceptance"] == 0.7
    assert data["mean_tokens_per_step"] == pytest.approx((1 - 0.7**5) / (1 - 0.7))
    assert data["speedup"] > 1 and 0 < data["draft_time_share"] < 1
