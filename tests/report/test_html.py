"""HTML reports are self-contained; written by the one output writer (io.output)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tigris.engines.tile import TileEngine
from tigris.hardware.presets import load_chip
from tigris.io.output import write_output
from tigris.report.html import render_report, table_html
from tigris.report.plots import roofline_figure
from tigris.workload.ops import Gemm


def test_roofline_report_is_self_contained(tmp_path: Path) -> None:
    chips = [load_chip("h100-sxm"), load_chip("tpu-v5p")]
    ops = {c.id: [TileEngine().time(Gemm("g", 4096, 4096, 4096), c)] for c in chips}
    figure = roofline_figure(chips, ops)
    # one roof and one op trace per chip; the op sits on or under its chip's roof
    assert len(figure.data) == 4
    for chip in chips:
        op = ops[chip.id][0]
        roof = min(
            chip.peak_flop_per_s("bf16"), op.arithmetic_intensity * chip.dram_bandwidth_bytes_per_s
        )
        assert op.achieved_flop_per_s <= roof
    page = render_report("t", [("Roofline", figure), ("Table", table_html(["a"], [["<b>"]]))])
    assert page.count("plotly.js v") == 1  # the library inlined once, no CDN
    assert 'src="http' not in page and "&lt;b&gt;" in page  # no external script
    path = write_output(tmp_path / "out" / "report.html", page, mkdir=True)
    assert path.read_text() == page
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        write_output(tmp_path / "r.html", 42)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_there_is_one_writer() -> None:
    import tigris.report.html

    assert not hasattr(tigris.report.html, "write_atomically")
