"""`tigris serve` refuses request counts and traces that would exhaust memory before
allocating, turns bad trace files into one-line errors, and reports progress on stderr.
The CLI runs in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import cli_run

SMALL = ("llama3-8b", "--num-requests", "300", "--input-len", "128", "--output-len", "16")


def run_tigris(*args: str, every_s: str | None = None) -> subprocess.CompletedProcess[str]:
    return cli_run.run_tigris("serve", *args, every_s=every_s)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    cli_run.assert_user_error(result, *fragments, max_lines=2, no_stdout=True)


def test_too_many_requests_are_refused_with_the_estimate():
    result = run_tigris("llama3-8b", "--num-requests", "100000000", "--json")
    assert_user_error(result, "--max-memory", "100000000 requests", "GiB", "raises the limit")


def test_the_limit_is_the_options():
    assert_user_error(run_tigris(*SMALL, "--max-memory", "1KiB"), "--max-memory")
    assert_user_error(run_tigris(*SMALL, "--max-memory", "lots"), "--max-memory")


@pytest.mark.parametrize("count", ["0", "-3"])
def test_no_requests_is_a_user_error(count):
    assert_user_error(run_tigris("llama3-8b", "--num-requests", count), "--num-requests")


def test_a_trace_with_more_lines_than_memory_allows_is_refused(tmp_path: Path):
    path = tmp_path / "big.csv"
    path.write_text("arrival_s,input_len,output_len\n" + "0,10,10\n" * 20_000)
    result = run_tigris("llama3-8b", "--trace", str(path), "--max-memory", "1MiB")
    assert_user_error(result, "--max-memory", "20001 lines")


HEADER = "arrival_s,input_len,output_len\n"


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("empty.csv", "", "empty trace"),
        ("header.csv", HEADER, "no requests"),
        ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe" * 50, "not a text file"),
        ("nul.csv", HEADER + "0,1\x00,2\n", "line 2"),
        ("columns.csv", "arrival_s,prompt\n0,5\n", "output_len"),
        ("negative.csv", HEADER + "0,-1,3\n", "line 2"),
        ("nan.csv", HEADER + "0,nan,3\n", "line 2"),
        ("inf.csv", HEADER + "0,10,inf\n", "line 2"),
        ("huge.csv", HEADER + "0,10,1e30\n", "line 2"),
        ("arrival.csv", HEADER + "inf,10,10\n", "arrival_s"),
        ("list.jsonl", '{"arrival_s": 0, "input_len": [1, 2], "output_len": 3}\n', "line 1"),
        ("array.jsonl", "[1, 2, 3]\n", "JSON object"),
        ("binary.jsonl", b"\xff\xfe\x00garbage\n", "not a text file"),
    ],
)
def test_bad_traces_are_one_line_errors(tmp_path: Path, name, content, fragment):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert_user_error(run_tigris("llama3-8b", "--trace", str(path)), str(path), fragment)


def test_progress_on_stderr_and_quiet():
    loud = run_tigris(*SMALL, "--json", every_s="0")
    assert loud.returncode == 0, loud.stderr
    assert "simulated requests: 300/300" in loud.stderr
    quiet = run_tigris(*SMALL, "--json", "--quiet", every_s="0")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert json.loads(quiet.stdout) == json.loads(loud.stdout)


def test_server_search_progress_counts_every_run():
    from tigris.serving.deployment import build_deployment
    from tigris.serving.requests import synthetic_workload
    from tigris.serving.scenario import run_server

    seen: list[tuple[int, int]] = []
    deployment = build_deployment("llama3-8b", "h100-sxm")
    workload = synthetic_workload(200, 128, 16, rate_per_s=None, seed=0)
    run_server(deployment, workload, progress=lambda done, total: seen.append((done, total)))
    done = [d for d, _ in seen]
    assert done == sorted(done) and all(d <= t for d, t in seen)
    assert seen[-1][0] == seen[-1][1] >= 2 * 200  # the offline run and the search's runs


def test_a_run_estimated_past_max_time_is_refused_with_the_estimate():
    # 10^6 requests at a fixed rate may step one request at a time: ~34 min estimated
    result = run_tigris(
        "llama3-8b", "--scenario", "server", "--rate", "100", "--num-requests", "1000000"
    )
    assert_user_error(result, "--max-time", "min", "raises the limit")
    from tigris.serving.scenario import estimate_seconds

    assert 10 * 60 < estimate_seconds(10**6, 128e6, 256, "server", fixed_rate=True) < 2 * 3600


def test_time_estimate_grows_with_requests_tokens_and_search():
    from tigris.serving.scenario import estimate_seconds

    offline = estimate_seconds(10**5, 128e5, 256, "offline", fixed_rate=False)
    assert estimate_seconds(2 * 10**5, 256e5, 256, "offline", fixed_rate=False) == 2 * offline
    assert estimate_seconds(10**5, 128e5, 256, "server", fixed_rate=False) > 10 * offline
    assert estimate_seconds(10**5, 128e5, 256, "server", fixed_rate=True) > offline
