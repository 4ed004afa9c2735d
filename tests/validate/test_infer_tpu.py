"""JetStream / MLPerf GPT-J throughput rows (tigris.validate.infer_tpu): every row of
data/measured-tpu-inference.csv is scored or listed with a reason, nothing fitted."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tigris.validate.infer import evaluate_row, source_family
from tigris.validate.infer_tpu import decode_steps, predict_throughput_row, prefill_bucket
from tigris.validate.protocol import read_measured

DATA = Path(__file__).resolve().parents[2] / "data" / "measured-tpu-inference.csv"


def _rows() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_csv_parses_in_the_measured_schema_with_sources():
    rows = read_measured(DATA, ("infer_cluster",))
    assert len(rows) == len(_rows()) == 16
    assert all(row["source"] and row["source_locator"] for row in rows)


def test_every_row_states_its_split():
    splits = [row["notes"].split("SPLIT: ")[-1].split(" ")[0] for row in _rows()]
    assert set(splits) == {"development", "held-out"}
    assert splits.count("development") == 6


@pytest.mark.parametrize("row", _rows(), ids=lambda row: row["id"])
def test_every_row_is_scored_or_has_a_reason(row):
    result = evaluate_row(row)
    if "jetstream" in row["id"]:
        assert source_family(row) == "JetStream"
        assert result.skipped is None
        # held out, nothing fitted: the prediction is a plausible throughput, not a copy
        assert 0.3 < result.predicted / result.measured < 3.0
    else:
        assert "beam search" in result.skipped


def test_int8_row_is_faster_than_its_bf16_row():
    by_id = {row["id"]: row for row in _rows()}
    bf16 = evaluate_row(by_id["jetstream_pt_llama2_7b_bf16"]).predicted
    int8 = evaluate_row(by_id["jetstream_pt_llama2_7b_int8"]).predicted
    assert int8 > bf16


def test_cli_scores_the_file():
    done = subprocess.run(
        [sys.executable, "-m", "tigris", "validate", "infer", "--data", str(DATA), "--quiet",
         "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report = json.loads(done.stdout)
    scored = {row["row_id"] for row in report["rows"]}
    unmapped = {row["id"] for row in report["unmapped"]}
    assert scored | unmapped == {row["id"] for row in _rows()}


def test_prompts_prefill_at_power_of_two_buckets():
    # JetStream token_utils DEFAULT_PREFILL_BUCKETS, capped at max_prefill_length 1024
    assert [prefill_bucket(n) for n in (1, 16, 17, 161, 513, 1024)] == [16, 16, 32, 256, 1024, 1024]


def test_decode_steps_schedule_requests_over_the_slots():
    # two slots: 5 and 3 steps run side by side, the third request (4) follows the 3
    assert decode_steps(np.array([6, 4, 5]), 2) == 3 + 4
    assert decode_steps(np.array([6, 4, 5]), 8) == 5  # fewer requests than slots


def test_dense_cache_is_read_whole_every_step():
    # the same batch with a shorter dense cache is faster: the step reads all of it
    by_id = {row["id"]: row for row in _rows()}
    long = dict(by_id["jetstream_pt_llama2_13b_int8"])
    short = dict(long, seq_len="max input 1024 / max output 1024 (cache 1280)")
    assert predict_throughput_row(short, "tpu-v5e") > 1.15 * predict_throughput_row(long, "tpu-v5e")


def test_v5e8_all_reduce_runs_on_its_2x4_slice():
    from dataclasses import replace

    from tigris.hardware.presets import load_chip
    from tigris.serving.deployment import Deployment
    from tigris.serving.step_time import StepTimer
    from tigris.validate.infer_tpu import host_slice
    from tigris.workload.presets import load_model

    line = Deployment(load_model("llama2-7b"), load_chip("tpu-v5e"), num_chips=8, tp=8)
    sliced = replace(line, cluster=host_slice(line))
    assert sliced.cluster.node.scale_up.torus_dims == [4, 2]
    # two ICI dimensions carry the ring, not one line of the pod's 16 x 16 torus
    assert StepTimer(sliced)._comm_s(96) < 0.8 * StepTimer(line)._comm_s(96)


def test_data_parallel_gemma_2b_row_is_modelled():
    by_id = {row["id"]: row for row in _rows()}
    row = by_id["jetstream_pt_gemma_2b_bf16_v5e8"]
    one_chip = dict(row, num_chips="1", dp="", global_batch_tokens_or_seqs="batch 64")
    # 8 chips x 64 slots, replicated: about 8 one-chip servers, less the serial prefills
    assert (
        4
        < predict_throughput_row(row, "tpu-v5e") / predict_throughput_row(one_chip, "tpu-v5e")
        <= 8
    )
