"""Trace formats (Azure 2023/2024, Mooncake, BurstGPT), detection, shaping, shipped traces,
and bad rows as one-line errors naming the file, line and column."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tigris.errors import SpecError
from tigris.serving.requests import shape_workload
from tigris.serving.trace import detect_format, read_trace

AZURE_2023 = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n"
)
AZURE_2024 = (
    "TIMESTAMP,ContextTokens,GeneratedTokens\n"
    "2024-05-10 00:00:00.009930+00:00,100,5\n2024-05-10 00:00:01.509930+00:00,200,6\n"
)
MOONCAKE = (
    '{"timestamp": 0, "input_length": 1100, "output_length": 5, "hash_ids": [0, 1, 2]}\n'
    '{"timestamp": 3052, "input_length": 700, "output_length": 3, "hash_ids": [0, 4]}\n'
)
BURSTGPT = (
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    "5,ChatGPT,472,18,490,Conversation log\n45,ChatGPT,1087,0,1087,Conversation log\n"
    "118,GPT-4,417,276,693,Conversation log\n"
)


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "fmt", "arrivals", "inputs"),
    [
        ("a.csv", AZURE_2023, "azure", [0.0, 0.052], [4808, 3180]),
        ("b.csv", AZURE_2024, "azure", [0.0, 1.5], [100, 200]),
        ("m.jsonl", MOONCAKE, "mooncake", [0.0, 3.052], [1100, 700]),
        ("g.csv", BURSTGPT, "burstgpt", [0.0, 113.0], [472, 417]),  # the failure dropped
    ],
)
def test_each_format_is_detected_and_read(tmp_path, name, text, fmt, arrivals, inputs):
    path = _write(tmp_path, name, text)
    assert detect_format(path, name.endswith(".jsonl")) == fmt
    workload = read_trace(path)
    assert np.allclose(workload.arrival_s, arrivals)
    assert list(workload.input_len) == inputs
    assert read_trace(path, fmt).num_requests == len(inputs)


def test_mooncake_hash_ids_ride_along(tmp_path):
    workload = read_trace(_write(tmp_path, "m.jsonl", MOONCAKE))
    assert workload.hash_block_tokens == 512
    assert list(workload.prefix_hashes) == [(0, 1, 2), (0, 4)]
    assert list(workload.subset(slice(1, None)).prefix_hashes) == [(0, 4)]


def test_shipped_traces_by_name():
    conv = read_trace("azure-conv")
    code = read_trace("azure-code")
    assert (conv.num_requests, code.num_requests) == (19_366, 8_819)
    assert conv.arrival_s[0] == 0 and np.all(np.diff(conv.arrival_s) >= 0)
    assert int(np.median(code.input_len)) == 1469  # the README's figure


def test_rate_scale_duration_and_sample():
    conv = read_trace("azure-conv")
    fast = shape_workload(conv, rate_scale=2.0)
    assert fast.arrival_s[-1] == pytest.approx(conv.arrival_s[-1] / 2)
    first = shape_workload(conv, rate_scale=2.0, duration_s=60.0)
    assert first.arrival_s[-1] < 60.0 <= fast.arrival_s[first.num_requests]
    one = shape_workload(conv, sample=100, seed=3)
    two = shape_workload(conv, sample=100, seed=3)
    assert one.num_requests == 100 and np.array_equal(one.input_len, two.input_len)
    assert np.all(np.diff(one.arrival_s) >= 0)


@pytest.mark.parametrize(
    ("name", "text", "fragments"),
    [
        ("a.csv", AZURE_2023 + "yesterday,10,3\n", ("line 4", "TIMESTAMP")),
        ("a2.csv", AZURE_2023 + "2023-11-16 18:18:00,ten,3\n", ("line 4", "ContextTokens")),
        ("m.jsonl", MOONCAKE + '{"timestamp": 1, "input_length": 5, "output_length": -2}\n',
         ("line 3", "output_length")),
        ("m2.jsonl", MOONCAKE + '{"timestamp": 1, "input_length": 5, "output_length": 2, '
         '"hash_ids": "x"}\n', ("line 3", "hash_ids")),
        ("g.csv", BURSTGPT + "200,GPT-4,417,2.5,419,API log\n", ("line 5", "Response tokens")),
    ],
)  # fmt: skip
def test_bad_rows_name_file_line_and_column(tmp_path, name, text, fragments):
    path = _write(tmp_path, name, text)
    with pytest.raises(SpecError) as error:
        read_trace(path)
    message = str(error.value)
    assert str(path) in message and all(f in message for f in fragments)


def test_cli_bad_row_is_a_one_line_error(tmp_path):
    path = _write(tmp_path, "a.csv", AZURE_2023 + "yesterday,10,3\n")
    before = path.read_bytes()
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "serve", "llama3-8b", "--trace", str(path),
         "--scenario", "replay", "--quiet"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and "line 4" in result.stderr and "TIMESTAMP" in result.stderr
    assert path.read_bytes() == before


def test_unknown_trace_format_names_the_option():
    with pytest.raises(SpecError, match="--trace-format"):
        read_trace("azure-code", "parquet")
