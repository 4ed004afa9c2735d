"""Plotly figures: rooflines with a workload's operators on them, and breakdown bars.

Figures are built from results (OpTime, dicts of numbers); nothing here computes a model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from tigris.engines.base import OpTime
from tigris.hardware.chip import Chip

_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]


def roofline_figure(
    chips: Sequence[Chip],
    ops_by_chip: Mapping[str, Iterable[OpTime]] | None = None,
    dtype: str = "bf16",
) -> go.Figure:
    """Log-log roofline of each chip (matrix peak in `dtype`, DRAM bandwidth), with the
    operators it ran as points at (arithmetic intensity, achieved flop/s)."""
    figure = go.Figure()
    intensities = np.logspace(-1, 4, 200)
    for index, chip in enumerate(chips):
        color = _PALETTE[index % len(_PALETTE)]
        peak = chip.matrix.peak_flop_per_s(dtype) or chip.peak_flop_per_s(
            chip.supported_dtypes()[0]
        )
        roof = np.minimum(peak, intensities * chip.dram_bandwidth_bytes_per_s)
        figure.add_trace(
            go.Scatter(
                x=intensities,
                y=roof / 1e12,
                mode="lines",
                name=f"{chip.id} roof",
                line={"color": color},
                hovertemplate="%{x:.3g} flop/B: %{y:.4g} TFLOP/s",
            )
        )
        points = list((ops_by_chip or {}).get(chip.id, []))
        if points:
            figure.add_trace(
                go.Scatter(
                    x=[p.arithmetic_intensity for p in points],
                    y=[p.achieved_flop_per_s / 1e12 for p in points],
                    mode="markers",
                    name=f"{chip.id} ops",
                    marker={"color": color, "size": 8, "symbol": "circle-open"},
                    text=[f"{p.name} ({p.bound}-bound, {p.time_s * 1e6:.3g} us)" for p in points],
                    hovertemplate="%{text}<br>%{x:.3g} flop/B, %{y:.4g} TFLOP/s",
                )
            )
    figure.update_layout(
        title=f"Roofline ({dtype} matrix peak vs DRAM bandwidth) with the workload's operators",
        xaxis={"title": "arithmetic intensity (flop per DRAM byte)", "type": "log"},
        yaxis={"title": "TFLOP/s", "type": "log"},
        template="plotly_white",
    )
    return figure


def stacked_bar_figure(
    title: str, categories: Sequence[str], parts: Mapping[str, Sequence[float]], unit: str
) -> go.Figure:
    """One stacked bar per category (chip), one colour per part (phase, cost item)."""
    figure = go.Figure()
    for index, (part, values) in enumerate(parts.items()):
        figure.add_trace(
            go.Bar(
                name=part,
                x=list(categories),
                y=list(values),
                marker_color=_PALETTE[index % len(_PALETTE)],
            )
        )
    figure.update_layout(
        title=title, barmode="stack", yaxis={"title": unit}, template="plotly_white"
    )
    return figure


def scatter_figure(
    title: str, points: Mapping[str, tuple[float, float]], x_title: str, y_title: str
) -> go.Figure:
    """Labelled points, e.g. perf per dollar against perf per watt, one per chip."""
    labels = list(points)
    figure = go.Figure(
        go.Scatter(
            x=[points[label][0] for label in labels],
            y=[points[label][1] for label in labels],
            mode="markers+text",
            text=labels,
            textposition="top center",
            marker={"size": 12, "color": _PALETTE[: len(labels)] or None},
        )
    )
    figure.update_layout(
        title=title, xaxis={"title": x_title}, yaxis={"title": y_title}, template="plotly_white"
    )
    return figure


def pareto_figure(
    title: str,
    points: Sequence[tuple[float, float]],
    on_front: Sequence[bool],
    labels: Sequence[str],
    ids: Sequence[str],
    x_title: str,
    y_title: str,
) -> go.Figure:
    """Designs as points, the Pareto front highlighted and joined; each point carries its
    design id as customdata (the page links a click to that design)."""
    figure = go.Figure()
    for name, keep, style in (
        ("designs", False, {"color": "#bbbbbb", "size": 6}),
        ("Pareto front", True, {"color": _PALETTE[1], "size": 10}),
    ):
        chosen = [i for i, front in enumerate(on_front) if front == keep]
        if keep:
            chosen.sort(key=lambda i: points[i])
        figure.add_trace(
            go.Scatter(
                x=[points[i][0] for i in chosen],
                y=[points[i][1] for i in chosen],
                mode="lines+markers" if keep else "markers",
                name=name,
                marker=style,
                line={"shape": "hv", "color": _PALETTE[1]} if keep else None,
                text=[labels[i] for i in chosen],
                customdata=[ids[i] for i in chosen],
                hovertemplate="%{text}<br>%{x:.4g}, %{y:.4g}<extra>%{customdata}</extra>",
            )
        )
    figure.update_layout(
        title=title, xaxis={"title": x_title}, yaxis={"title": y_title}, template="plotly_white"
    )
    return figure
