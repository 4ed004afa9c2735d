"""The comparison as one self-contained HTML page: tables, plotly figures, assumptions."""

from __future__ import annotations

import html
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tigris.compare.runner import Comparison, worker_count
from tigris.compare.table import (
    CHECK_HEADERS,
    CHIP_HEADERS,
    SERVE_HEADERS,
    TRAIN_HEADERS,
    capex_fallback_note,
    check_rows,
    chip_rows,
    workload_table_rows,
)
from tigris.compare.workloads import Workload
from tigris.report.html import render_report, table_html
from tigris.report.plots import roofline_figure, scatter_figure, stacked_bar_figure
from tigris.worker_processes import worker_initializer

FIGURE_HEIGHT = 460


def _sized(figure: go.Figure, height: int = FIGURE_HEIGHT) -> go.Figure:
    figure.update_layout(height=height, margin={"t": 60, "b": 50, "l": 70, "r": 30})
    return figure


def _note(text: str) -> str:
    return f"<p class='note'>{html.escape(text)}</p>"


def roofline_section(comparison: Comparison, workload: Workload) -> go.Figure:
    cells = [c for c in comparison.cells_of(workload.name) if c.ran and c.ops]
    # each chip under its row label (a file's chip may share its id with a preset)
    chips = [comparison.specs[c.chip_id].chip.model_copy(update={"id": c.chip_id}) for c in cells]
    figure = roofline_figure(chips, {c.chip_id: c.ops for c in cells}, workload.dtype)
    figure.update_layout(
        title=f"{workload.name}: roofline of each chip with the workload's operators"
    )
    return _sized(figure, 520)


def time_section(comparison: Comparison, workload: Workload) -> go.Figure:
    cells = [c for c in comparison.cells_of(workload.name) if c.ran]
    parts: dict[str, list[float]] = {}
    for cell in cells:
        for name in cell.breakdown:
            parts.setdefault(name, [])
    for name in parts:
        parts[name] = [cell.breakdown.get(name, 0.0) for cell in cells]
    what = "one training step" if workload.kind == "train" else "one batch, prompt to last token"
    figure = stacked_bar_figure(
        f"{workload.name}: where the time goes ({what})",
        [c.chip_id for c in cells],
        parts,
        "seconds",
    )
    return _sized(figure)


def value_section(comparison: Comparison, workload: Workload) -> go.Figure:
    """Tokens per dollar (x) against tokens per joule (y): up and right is better."""
    points = {
        c.chip_id: (1e6 / c.usd_per_million_tokens, 1.0 / c.energy_per_token_j)
        for c in comparison.cells_of(workload.name)
        if c.ran and c.usd_per_million_tokens and c.energy_per_token_j
    }
    figure = scatter_figure(
        f"{workload.name}: perf per dollar and per watt",
        points,
        "tokens per dollar (tokens/s per $/s)",
        "tokens per joule (tokens/s per W)",
    )
    return _sized(figure)


# the energy bar's parts: the board's four, then the node's and the facility's overhead
ENERGY_PARTS = (("idle", ("idle",)), ("compute", ("compute",)), ("memory", ("memory",)),
                ("network", ("network",)), ("node overhead (host, PSU)", ("host", "conversion")),
                ("facility overhead (PUE)", ("facility_overhead",)))  # fmt: skip


def energy_section(comparison: Comparison, workload: Workload) -> go.Figure:
    """Energy per token at the facility meter, split by where the power goes (the board's
    J/token scaled by each part's share of the board's power)."""
    cells = [c for c in comparison.cells_of(workload.name)
             if c.ran and c.energy_per_token_j and c.power_breakdown_w]  # fmt: skip
    parts: dict[str, list[float]] = {name: [] for name, _ in ENERGY_PARTS}
    for cell in cells:
        watts = cell.power_breakdown_w
        board = sum(watts[k] for k in ("idle", "compute", "memory", "network"))
        per_watt = cell.energy_per_token_j / board  # type: ignore[operator]
        for name, keys in ENERGY_PARTS:
            parts[name].append(sum(watts[k] for k in keys) * per_watt)
    title = f"{workload.name}: energy per token by part, at the facility meter"
    return _sized(stacked_bar_figure(title, [c.chip_id for c in cells], parts, "J/token"))


def cost_section(comparison: Comparison) -> go.Figure:
    chips = list(comparison.chips)
    names = list(comparison.summaries[chips[0]].cost_parts_usd)
    parts = {n: [comparison.summaries[c].cost_parts_usd[n] for c in chips] for n in names}
    title = "Manufacturing cost per chip by part (the cost model)"
    return _sized(stacked_bar_figure(title, chips, parts, "US dollars"))


def area_section(comparison: Comparison) -> go.Figure:
    chips = list(comparison.chips)
    names = list(comparison.summaries[chips[0]].area_parts_mm2)
    parts = {n: [comparison.summaries[c].area_parts_mm2[n] for c in chips] for n in names}
    title = "Silicon area per chip by block, all dies (the area model)"
    return _sized(stacked_bar_figure(title, chips, parts, "mm2"))


def assumptions_table(comparison: Comparison) -> str:
    rows = [
        (
            key,
            value
            if not isinstance(value, dict)
            else ", ".join(f"{k}: {v}" for k, v in value.items()),
            source,
        )
        for key, value, source in comparison.assumptions.describe()
    ]
    return table_html(("key", "value", "source"), rows)


FIGURES = {
    "roofline": roofline_section,
    "time": time_section,
    "value": value_section,
    "energy": energy_section,
    "cost": cost_section,
    "area": area_section,
}


def figure_html(comparison: Comparison, kind: str, workload: str | None) -> str:
    """One figure as an HTML fragment (plotly.js not included)."""
    build = FIGURES[kind]
    if workload is None:
        figure = build(comparison)  # type: ignore[call-arg]
    else:
        chosen = next(w for w in comparison.workloads if w.name == workload)
        figure = build(comparison, chosen)  # type: ignore[call-arg]
    return pio.to_html(
        figure, full_html=False, include_plotlyjs=False, config={"displaylogo": False}
    )


def _figure_job(job: tuple[Comparison, str, str | None]) -> str:
    return figure_html(*job)


def _plan(comparison: Comparison, elapsed_s: float | None) -> list[tuple[str, object]]:
    """Sections in page order: HTML text, or (figure kind, workload) to draw."""
    intro = (
        f"Chips: {', '.join(comparison.chips)}. Each workload runs with the best plan found "
        "(training: tigris.parallel plan search; serving: the tp layout and static batch with "
        "the most tokens/s per chip meeting both SLOs). A chip that cannot run a workload "
        "shows why. $ per million tokens is at the workload's modelled power on the "
        f"'{comparison.assumptions.operations.price_basis}' price basis; every assumption is "
        "listed at the end and can be changed with --set key=value or --assumptions FILE."
    )
    files = [f"{label}: {given.file}" for label, given in comparison.specs.items() if given.file]
    if files:
        intro += f" Chips from files: {'; '.join(files)}."
    if elapsed_s is not None:
        intro += f" Computed in {elapsed_s:.1f} s."
    fallback = capex_fallback_note(comparison)
    if fallback:
        intro += f" Note: {fallback}."
    plotly_js = f"<script type='text/javascript'>{get_plotlyjs()}</script>"
    plan: list[tuple[str, object]] = [("What was compared", _note(intro) + plotly_js)]
    for workload in comparison.workloads:
        name = workload.name
        headers = TRAIN_HEADERS if workload.kind == "train" else SERVE_HEADERS
        plan.append(
            (
                f"{name}: {workload.describe()}",
                table_html(headers, workload_table_rows(comparison, name)),
            )
        )
        if any(c.ran for c in comparison.cells_of(name)):
            plan.append((f"{name}: roofline", ("roofline", name)))
            plan.append((f"{name}: where the time goes", ("time", name)))
            plan.append((f"{name}: perf per dollar and per watt", ("value", name)))
            plan.append((f"{name}: where the energy goes", ("energy", name)))
    plan.append(
        ("Chips: area, cost and TDP estimates", table_html(CHIP_HEADERS, chip_rows(comparison)))
    )
    plan.append(("Cost breakdown", ("cost", None)))
    plan.append(("Area breakdown", ("area", None)))
    checks = table_html(CHECK_HEADERS, check_rows(comparison)) + table_html(
        ("chip", "area source", "TDP source"),
        [(c.chip_id, c.area_source, c.tdp_source) for c in comparison.checks],
    )
    plan.append(
        ("Sanity checks: model vs published die area (within 20%) and TDP (within 25%)", checks)
    )
    plan.append(("Cost assumptions (all of them, with sources)", assumptions_table(comparison)))
    return plan


def render_comparison(
    comparison: Comparison, elapsed_s: float | None = None, workers: int | None = None
) -> str:
    """The whole page. plotly.js is inlined once, at the top; figures are drawn in worker
    processes (plotly's figure validation is the slow part of a report)."""
    plan = _plan(comparison, elapsed_s)
    jobs = [(comparison, *content) for _, content in plan if isinstance(content, tuple)]
    count = workers if workers is not None else worker_count(len(jobs))
    if count <= 1:
        drawn = [_figure_job(job) for job in jobs]
    else:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(
            max_workers=count,
            mp_context=context,
            initializer=worker_initializer,  # SIGTERM to compare must not orphan them
            initargs=(os.getpid(),),
        ) as pool:
            drawn = list(pool.map(_figure_job, jobs))
    figures = iter(drawn)
    sections = [
        (heading, next(figures) if isinstance(content, tuple) else content)
        for heading, content in plan
    ]
    return render_report("Tigris: chip comparison", sections)  # type: ignore[arg-type]
