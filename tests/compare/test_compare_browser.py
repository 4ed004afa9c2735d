"""The report of `tigris compare` (no arguments) opens in headless Chromium with every
plot drawn and no console errors; the detector itself is checked on broken pages."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not installed (Debian: apt-get install chromium); .ci/run installs it",
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=5000",
)


@dataclass(frozen=True)
class PageLoad:
    num_figures: int  # plotly figures the page asks to draw
    drawn: int  # figure divs holding a rendered main-svg
    console_errors: list[str]


def console_errors(stderr: str) -> list[str]:
    """Chromium's console lines that report a JavaScript error."""
    return [
        line
        for line in stderr.splitlines()
        if "CONSOLE" in line and ("Uncaught" in line or "Error" in line or ":ERROR:" in line)
    ]


def drawn_figures(dom: str) -> int:
    """Figure divs in the rendered DOM that contain plotly's main-svg."""
    parts = re.split(r'<div[^>]*class="[^"]*plotly-graph-div', dom)[1:]
    return sum('class="main-svg"' in part for part in parts)


def load_page(path: Path, profile: Path) -> PageLoad:
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", path.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    source = path.read_text(encoding="utf-8")
    return PageLoad(
        num_figures=source.count("Plotly.newPlot("),
        drawn=drawn_figures(result.stdout),
        console_errors=console_errors(result.stderr),
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "tigris-report.html"
    result = subprocess.run(
        [sys.executable, "-m", "tigris", "compare", "--out", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "train-70b" in result.stdout and "Sanity checks" in result.stdout
    return path


def test_default_report_draws_every_plot(report, tmp_path):
    page = load_page(report, tmp_path / "profile")
    # 3 workloads x (roofline, time, perf per $ and W, energy by part) + cost and area
    assert page.num_figures == 14
    assert page.drawn == page.num_figures
    assert page.console_errors == []


def test_report_is_self_contained_and_shows_assumptions(report):
    text = report.read_text(encoding="utf-8")
    assert text.count("plotly.js v") == 1 and 'src="http' not in text
    from tigris.cost import load_assumptions

    for key, _, _ in load_assumptions().describe():
        assert f"<td>{key}</td>" in text
    for chip in ("h100-sxm", "h200-sxm", "b200", "tpu-v5p", "maia-100", "tigris-1", "cobalt-100"):
        assert chip in text
    for check in ("a100-sxm-80gb", "tpu-v4", "mi300x"):
        assert f"<td>{check}</td>" in text


@pytest.fixture(scope="module")
def small_page(tmp_path_factory) -> Path:
    """A report page with two figures, for the detector's negative checks."""
    import plotly.graph_objects as go

    from tigris.io.output import write_output
    from tigris.report.html import render_report

    figures = [(f"figure {i}", go.Figure(go.Bar(x=["a", "b"], y=[1, i]))) for i in (2, 3)]
    path = tmp_path_factory.mktemp("small") / "page.html"
    return write_output(path, render_report("small", figures))


def test_detector_catches_a_script_error(small_page, tmp_path):
    broken = tmp_path / "broken.html"
    text = small_page.read_text(encoding="utf-8")
    broken.write_text(
        text.replace("</body>", "<script>throw new Error('injected failure');</script></body>")
    )
    page = load_page(broken, tmp_path / "profile")
    assert any("injected failure" in line for line in page.console_errors)
    assert page.drawn == page.num_figures  # the plots before it still drew


def test_detector_catches_plots_that_did_not_draw(small_page, tmp_path):
    text = small_page.read_text(encoding="utf-8")
    start = text.index("<script>/**")
    end = text.index("</script>", start) + len("</script>")
    broken = tmp_path / "no-plotly.html"
    broken.write_text(text[:start] + text[end:])
    page = load_page(broken, tmp_path / "profile")
    assert page.drawn == 0 < page.num_figures
    assert page.console_errors  # "Plotly is not defined"
