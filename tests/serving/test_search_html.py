"""`tigris serve ... --search --html FILE [--mkdir]`: the layout search's HTML report (cost vs
p99 TTFT coloured by p99 TPOT, the Pareto front), written through write_output; a bad path
or a missing --search fails at once with one line naming --html, and leaves no file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SEARCH = ("serve", "llama3-8b", "--chip", "h100-sxm", "--num-chips", "2", "--search",
          "--num-requests", "40", "--quiet")  # fmt: skip


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tigris", *args], capture_output=True,
                          text=True, timeout=120)  # fmt: skip


def _assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert 1 <= len(result.stderr.strip().splitlines()) <= 2
    for fragment in ("--html", *fragments):
        assert fragment in result.stderr


def test_colocated_search_writes_the_front(tmp_path: Path) -> None:
    out = tmp_path / "new" / "search.html"
    result = _run(*SEARCH, "--html", str(out), "--mkdir")
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>") and "plotly" in page  # self-contained
    assert "Pareto front" in page and "p99 TPOT (s)" in page and "cost ($ per hour)" in page
    assert "1 x h100-sxm tp 1 ep 1 pp 1 (1 replicas)" in page  # every layout in the table


def test_disaggregated_search_writes_the_front(tmp_path: Path) -> None:
    out = tmp_path / "d.html"
    result = _run("serve", "llama3-8b", "--disaggregate", "--prefill", "h100-sxm:1",
                  "--decode", "tigris-1:2", "--rate", "4", "--num-requests", "30", "--search",
                  "--quiet", "--html", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert "prefill 1 x h100-sxm tp 1 + decode 2 x tigris-1 tp" in page and "Pareto" in page


def test_html_needs_search(tmp_path: Path) -> None:
    out = tmp_path / "x.html"
    _assert_user_error(_run("serve", "llama3-8b", "--num-requests", "5", "--html", str(out)),
                       "--search")  # fmt: skip
    assert not out.exists()


def test_bad_html_path_fails_before_the_search(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "x.html"
    _assert_user_error(_run(*SEARCH, "--html", str(missing)), "--mkdir")
    assert not missing.parent.exists()
    folder = tmp_path / "folder"
    folder.mkdir()
    _assert_user_error(_run(*SEARCH, "--html", str(folder)))
    assert list(folder.iterdir()) == []
