"""`tigris compare`, the main job: chips side by side on training and serving workloads,
with speed, memory, energy and cost, as terminal tables and a self-contained HTML report.

Public API:
  DEFAULT_CHIPS, DEFAULT_WORKLOADS, TrainWorkload, ServeWorkload, load_workload(path)
  run_comparison(chips, workloads, assumptions) -> Comparison (cells by workload and chip)
  render_comparison(comparison) -> str (the HTML page); the terminal tables are
  tigris.cli.compare.print_tables

The names are imported on first use, so that `tigris compare` checks its arguments before loading the models and plotly.
"""

from __future__ import annotations

from typing import Any

from tigris.lazy_names import load_name

_WHERE = {
    "Cell": "tigris.compare.cell",
    "render_comparison": "tigris.compare.report",
    "Comparison": "tigris.compare.runner",
    "run_comparison": "tigris.compare.runner",
    "DEFAULT_CHIPS": "tigris.compare.workloads",
    "DEFAULT_WORKLOADS": "tigris.compare.workloads",
    "ServeWorkload": "tigris.compare.workloads",
    "TrainWorkload": "tigris.compare.workloads",
    "load_workload": "tigris.compare.workloads",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    return load_name(__name__, _WHERE, name)
