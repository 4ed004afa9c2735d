"""Outputs of a sweep: the Pareto front as table rows and as an interactive HTML page.

The page plots the first two objectives (one objective: against the first axis), the front
highlighted; clicking any point shows that design (parameters, derived values, objectives,
per-workload metrics) and puts `#design-<id>` in the address, so a design can be linked.
"""

from __future__ import annotations

import html
import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tigris.explore.evaluate import Evaluation
from tigris.explore.sweep import Objective

MAX_PLOTTED = 5000


def format_value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float) -> str:
    """'45 s', '12 min', '49 h', '3.2 days'."""
    if seconds != seconds or seconds == float("inf"):
        return "an unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 72 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.1f} days"


def format_size(size: float) -> str:
    """'850 kB', '230 GB' (decimal units, as disks are sold)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.3g} {unit}"
        size /= 1000
    return f"{size:.3g} TB"


def front_table(
    front: Sequence[Evaluation], objectives: Sequence[Objective], axes: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Headers and rows: design id, objectives (goal marked), then parameters."""
    headers = ["design"]
    headers += [f"{o.name} ({o.goal})" for o in objectives]
    headers += list(axes)
    rows = [
        [row.design_id]
        + [format_value(row.objectives.get(o.name)) for o in objectives]
        + [format_value(row.params.get(path)) for path in axes]
        for row in front
    ]
    return headers, rows


def _label(row: Evaluation, axes: Sequence[str]) -> str:
    return ", ".join(f"{path.split('.')[-1]}={format_value(row.params.get(path))}" for path in axes)


_SCRIPT = """
<pre id="design-detail" class="note">Click a point to see its design.</pre>
<script>
(function () {
  const designs = %s;
  const detail = document.getElementById('design-detail');
  function show(id) {
    if (!designs[id]) return;
    detail.textContent = 'design ' + id + '\\n' + JSON.stringify(designs[id], null, 2);
  }
  const plot = document.querySelector('.plotly-graph-div');
  if (plot && plot.on) {
    plot.on('plotly_click', function (event) {
      const id = event.points[0].customdata;
      history.replaceState(null, '', '#design-' + id);
      show(id);
    });
  }
  if (location.hash.startsWith('#design-')) show(location.hash.slice(8));
})();
</script>
"""


def pareto_page(
    title: str,
    evaluations: Sequence[Evaluation],
    front: Sequence[Evaluation],
    objectives: Sequence[Objective],
    axes: Sequence[str],
    summary: str,
) -> str:
    """A self-contained HTML page with the front plot, the front table and design details."""
    from tigris.report.html import render_report

    feasible = [row for row in evaluations if row.feasible]
    plotted = _plotted(feasible, front)
    heading = f"{title}: {len(feasible)} feasible designs, {len(front)} on the Pareto front"
    return render_report(
        title,
        [
            ("Summary", f"<p class='note'>{html.escape(summary)}</p>"),
            ("Pareto front", _front_figure(heading, plotted, front, objectives, axes)),
            ("Design", _SCRIPT % _details_json(plotted)),
            ("Designs on the front", _anchored_table(front, objectives, axes)),
        ],
    )


def _plotted(feasible: list[Evaluation], front: Sequence[Evaluation]) -> list[Evaluation]:
    """The front, then at most MAX_PLOTTED other feasible designs (a fixed sample)."""
    front_ids = {row.design_id for row in front}
    others = [row for row in feasible if row.design_id not in front_ids]
    if len(others) > MAX_PLOTTED:
        others = random.Random(0).sample(others, MAX_PLOTTED)
    return list(front) + others


def _front_figure(
    heading: str,
    plotted: list[Evaluation],
    front: Sequence[Evaluation],
    objectives: Sequence[Objective],
    axes: Sequence[str],
) -> str:
    """The first two objectives plotted (one objective: against the first axis)."""
    from tigris.report.plots import pareto_figure

    if len(objectives) >= 2:
        x_name, y_name = objectives[0].name, objectives[1].name
        points = [(row.objectives[x_name], row.objectives[y_name]) for row in plotted]
    else:
        x_name, y_name = axes[0], objectives[0].name
        points = [(float(row.params[x_name]), row.objectives[y_name]) for row in plotted]
    front_ids = {row.design_id for row in front}
    return pareto_figure(
        heading,
        points,
        [row.design_id in front_ids for row in plotted],
        [_label(row, axes) for row in plotted],
        [row.design_id for row in plotted],
        x_name,
        y_name,
    )


def _anchored_table(
    front: Sequence[Evaluation], objectives: Sequence[Objective], axes: Sequence[str]
) -> str:
    """The front table, each row anchored as `design-<id>` so that a link finds it."""
    from tigris.report.html import table_html

    headers, rows = front_table(front, objectives, axes)
    anchored = "".join(
        f"<tr id='design-{html.escape(r[0])}'>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in r)
        + "</tr>"
        for r in rows
    )
    return table_html(headers, []).replace("<tbody></tbody>", f"<tbody>{anchored}</tbody>")


def _details_json(plotted: list[Evaluation]) -> str:
    """What a click on a point shows, as JSON safe inside a <script> element."""
    details = {
        row.design_id: {
            "status": row.status,
            "params": row.params,
            "derived": row.derived,
            "objectives": row.objectives,
            "metrics": row.metrics,
        }
        for row in plotted
    }
    return json.dumps(details, default=repr).replace("</", "<\\/")


def write_pareto_page(path: str | Path, text: str) -> Path:
    from tigris.io.output import write_output

    return write_output(path, text, option="--html")
