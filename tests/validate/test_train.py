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


# Tolerances below are the accuracy target for training on measurements the
# model never saw (issue 14: "training within 10 %"), not today's figures. No quantity is
# fitted on a training row (tigris.validate.train_protocol), so these are held-out scores.
TRAINING_TARGET_PCT = 10.0


@pytest.fixture(scope="module")
def all_results():
    return validate_train()


@pytest.mark.parametrize("source", ["mosaicml", "maxtext"])
def test_rows_the_memory_model_accepts_within_the_training_target(all_results, source):
    errors = [
        abs(r.error_pct) for r in all_results if r.case.source == source and not r.memory_failure
    ]
    assert errors and sum(errors) / len(errors) <= TRAINING_TARGET_PCT


def test_megatron_ptdp_and_weak_scaling_rows_within_the_training_target(all_results):
    """PTD-P and Table 1 rows: the mechanisms they test (tp, pp, dp, recompute)."""
    errors = [
        abs(r.error_pct)
        for r in all_results
        if r.case.source == "megatron" and r.case.fixed["zero"] == 0
    ]
    assert len(errors) == 16
    assert sum(errors) / len(errors) <= TRAINING_TARGET_PCT


def test_every_row_counts_in_its_source_headline(all_results):
    """No group kept apart: the ZeRO-3 rows count in the megatron figures, and rows the
    memory model rejects count at -100 % (zero throughput), listed as failures with the
    error of their fastest plan ignoring memory kept apart."""
    summary = summarize_train(all_results)
    counts = {source: sum(r.case.source == source for r in all_results) for source in
              ("megatron", "mosaicml", "maxtext")}  # fmt: skip
    assert counts == {"megatron": 22, "mosaicml": 216, "maxtext": 24}
    for source, count in counts.items():
        assert summary[source][0] == count
    assert set(summary) == {
        k for r in all_results for k in (r.case.source, f"{r.case.source} {r.case.chip_id}")
    }
    zero3 = [r for r in all_results if r.case.known_gap]
    assert len(zero3) == 6 and all("ZeRO-3" in r.note for r in zero3)
    # none fails memory today (HBM read as the device totals, ZeRO-3 at 16 B/param); any
    # that does counts at -100 %
    failures = [r for r in all_results if r.memory_failure]
    assert all(r.error_pct == -100.0 and r.predicted is None for r in failures)
    assert all(r.time_only_error_pct is not None for r in failures)


def test_framework_options_per_source():
    by_source = {case.source: case.framework for case in load_train_cases()}
    assert by_source["megatron"]["attention"] == "fused_softmax"
    assert by_source["megatron"]["dp_overlap"] is False
    assert by_source["megatron"]["loss"] == "fp32"
    assert by_source["mosaicml"]["eager"] is True
    assert by_source["maxtext"] == {}
