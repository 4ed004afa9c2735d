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
    backward, fp32 loss, two-pass norm backward): reached 2.1% mean |error| (was 2.8%)."""
    errors = [
        abs(r.error_pct)
        for r in all_results
        if r.case.source == "megatron" and r.case.fixed["zero"] == 0
    ]
    assert len(errors) == 16
    assert sum(errors) / len(errors) <= 2.5
    assert max(errors) <= 5.0


def test_megatron_zero3_rows_scored_apart_with_their_reason(all_results):
    """Table 2's DeepSpeed ZeRO-3 rows are measurements the model does not represent: they
    form their own group (still printed) and stay out of the megatron figures."""
    apart = [r for r in all_results if r.case.apart]
    assert len(apart) == 6
    assert all(r.case.fixed["zero"] == 3 and r.case.source == "megatron" for r in apart)
    assert all(r.error_pct is not None and "ZeRO-3" in r.note for r in apart)
    summary = summarize_train(all_results)
    assert summary[f"megatron apart: {apart[0].case.apart}"][0] == 6
    assert summary["megatron"][0] == 16


@pytest.mark.parametrize(
    ("key", "tolerance"),
    [
        ("mosaicml a100-sxm-80gb", 11.0),  # reached 10.8% (was 37.5%)
        ("mosaicml h100-sxm", 21.5),  # reached 21.2% (was 86.2%)
        ("megatron a100-sxm-80gb", 2.5),  # reached 2.1% over PTD-P and Table 1 rows
    ],
)
def test_source_errors(all_results, key, tolerance):
    assert summarize_train(all_results)[key][1] <= tolerance


def test_framework_options_per_source():
    by_source = {case.source: case.framework for case in load_train_cases()}
    assert by_source["megatron"]["attention"] == "fused_softmax"
    assert by_source["megatron"]["dp_overlap"] is False
    assert by_source["megatron"]["loss"] == "fp32"
    assert by_source["mosaicml"]["eager"] is True
    assert by_source["maxtext"] == {}
