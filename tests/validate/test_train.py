"""Training validation against the train_cluster rows of measured.csv."""

from __future__ import annotations

import pytest

from tigris.validate.train import (
    load_train_cases,
    maxtext_spec,
    megatron_eq3_flop,
    summarize_train,
    validate_train,
)


def test_every_source_parsed():
    cases = load_train_cases()
    sources = {case.source for case in cases}
    assert sources == {"megatron", "mosaicml", "maxtext"}
    assert sum(case.source == "mosaicml" for case in cases) == 216
    assert sum(case.source == "maxtext" for case in cases) == 24
    assert sum(case.source == "megatron" for case in cases) == 22  # aggregate rows left out


@pytest.mark.parametrize("scale,billions", [(16, 16), (32, 32), (64, 64), (128, 128)])
def test_maxtext_models_have_their_named_size(scale, billions):
    assert maxtext_spec(scale).num_params / 1e9 == pytest.approx(billions, rel=0.05)


def test_megatron_eq3_is_four_passes_of_the_matmuls():
    case = next(c for c in load_train_cases() if c.row_id == "meg21_t1_10")
    spec = case.spec
    matmul = 4 * 2 * case.global_batch * case.seq_len * 12 * spec.num_layers * spec.hidden_size**2
    assert megatron_eq3_flop(spec, case.global_batch, case.seq_len) > matmul


def test_maxtext_within_ten_percent():
    summary = summarize_train(validate_train(("maxtext",)))
    rows, mean_abs, _, _ = summary["maxtext"]
    assert rows == 24
    assert mean_abs <= 10.0


@pytest.fixture(scope="module")
def all_results():
    return validate_train()


def test_megatron_ptdp_and_weak_scaling_rows(all_results):
    """PTD-P and Table 1 rows (fused-softmax attention with dropout, dp all-reduce after the
    backward): reached 2.8% mean |error|."""
    errors = [
        abs(r.error_pct)
        for r in all_results
        if r.case.source == "megatron" and r.case.fixed["zero"] == 0
    ]
    assert len(errors) == 16
    assert sum(errors) / len(errors) <= 3.5
    assert max(errors) <= 7.0


@pytest.mark.parametrize(
    ("key", "tolerance"),
    [
        ("mosaicml a100-sxm-80gb", 11.5),  # reached 11.3% (was 37.5%)
        ("mosaicml h100-sxm", 22.0),  # reached 21.8% (was 86.2%)
        ("megatron a100-sxm-80gb", 56.0),  # reached 55.6% (was 71.7%); ZeRO-3 rows dominate
    ],
)
def test_source_errors(all_results, key, tolerance):
    assert summarize_train(all_results)[key][1] <= tolerance


def test_framework_options_per_source():
    by_source = {case.source: case.framework for case in load_train_cases()}
    assert by_source["megatron"]["attention"] == "fused_softmax"
    assert by_source["megatron"]["dp_overlap"] is False
    assert by_source["mosaicml"]["eager"] is True
    assert by_source["maxtext"] == {}
