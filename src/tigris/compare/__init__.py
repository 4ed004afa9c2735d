"""`tigris compare`, the main job: chips side by side on training and serving workloads,
with speed, memory, energy and cost, as terminal tables and a self-contained HTML report.

Public API:
  DEFAULT_CHIPS, DEFAULT_WORKLOADS, TrainWorkload, ServeWorkload, load_workload(path)
  run_comparison(chips, workloads, assumptions) -> Comparison (cells by workload and chip)
  render_comparison(comparison) -> str (the HTML page); print_tables(comparison, console)
"""

from tigris.compare.cell import Cell
from tigris.compare.report import render_comparison
from tigris.compare.runner import Comparison, run_comparison
from tigris.compare.table import print_tables
from tigris.compare.workloads import (
    DEFAULT_CHIPS,
    DEFAULT_WORKLOADS,
    ServeWorkload,
    TrainWorkload,
    load_workload,
)

__all__ = [
    "DEFAULT_CHIPS",
    "DEFAULT_WORKLOADS",
    "Cell",
    "Comparison",
    "ServeWorkload",
    "TrainWorkload",
    "load_workload",
    "print_tables",
    "render_comparison",
    "run_comparison",
]
