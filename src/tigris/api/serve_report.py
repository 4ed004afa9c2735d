"""The HTML report of a serving layout search (`tigris serve ... --search --html FILE`):
cost against p99 TTFT for every feasible layout, coloured by p99 TPOT, the Pareto front
(cost, p99 TTFT, p99 TPOT) highlighted and joined, the cheapest layout meeting the SLOs,
and the table of layouts. Self-contained (tigris.report.html), written through
tigris.io.output.write_output.

    from tigris.api.serve_report import write_search_report
    write_search_report(result.to_dict(), "search.html")   # colocated or disaggregated
"""

from __future__ import annotations

from pathlib import Path

from tigris.errors import SpecError

TPOT_COLORSCALE = "Viridis"


def layout_label(row: dict) -> str:
    """A layout in one line: colocated `8 x h100-sxm tp 4 ep 1 pp 1 (2 replicas)`, or
    disaggregated `prefill 4 x h100-sxm tp 4 + decode 8 x tigris-1 tp 8`."""
    if "prefill" in row:
        p, d = row["prefill"], row["decode"]
        return (f"prefill {p['num_chips']} x {p['chip']} tp {p['tp']} + "
                f"decode {d['num_chips']} x {d['chip']} tp {d['tp']}")  # fmt: skip
    return (f"{row['num_chips']} x {row['chip']} tp {row['tp']} ep {row['ep']} pp {row['pp']} "
            f"({row['num_replicas']} replicas)")  # fmt: skip


def _front_figure(found: dict, title: str):  # noqa: ANN202 (a plotly Figure)
    """report.plots.pareto_figure of cost vs p99 TTFT, its markers coloured by p99 TPOT."""
    from tigris.report.plots import pareto_figure

    rows = [r for r in found["layouts"] if r["feasible"]]
    front = {id(r) for r in rows if r in found["pareto_front"]}
    figure = pareto_figure(
        title,
        [(r["usd_per_hour"], r["ttft_p99_s"]) for r in rows],
        [id(r) in front for r in rows],
        [layout_label(r) for r in rows],
        [str(i) for i in range(len(rows))],
        "cost ($ per hour)",
        "p99 TTFT (s)",
    )
    tpots = [float(r["tpot_p99_s"]) for r in rows]
    low, high = (min(tpots), max(tpots)) if tpots else (0.0, 1.0)
    for trace in figure.data:  # each trace's points, in its own order (labels carry it)
        by_label = {layout_label(r): float(r["tpot_p99_s"]) for r in rows}
        colors = [by_label[label] for label in trace.text]
        trace.marker.update(color=colors, colorscale=TPOT_COLORSCALE, cmin=low, cmax=high,
                            showscale=trace.name == "Pareto front",
                            colorbar={"title": "p99 TPOT (s)"})  # fmt: skip
    return figure


def search_report_html(data: dict) -> str:
    """The whole page for a `--search` result (ServeResult.to_dict() or the
    disaggregated search's dict)."""
    from tigris.report.html import render_report, table_html

    found = data["search"]
    best = found["cheapest_meeting_slo"]
    title = f"serve --search: {data['model']} ({data.get('mode', 'colocated')})"
    summary = (f"<p>{found['num_layouts']} layouts, {found['num_feasible']} feasible, "
               f"{found['num_meeting_slo']} meeting p99 TTFT &le; {found['slo_ttft_s']:g} s and "
               f"p99 TPOT &le; {found['slo_tpot_s']:g} s. Cheapest meeting the SLOs: "
               f"{_escaped(layout_label(best)) if best else 'none'}.</p>")  # fmt: skip
    headers = ("layout", "$/hour", "p99 TTFT (s)", "p99 TPOT (s)", "meets SLO", "Pareto", "note")
    table = [
        (layout_label(r), f"{r['usd_per_hour']:.4g}",
         f"{r['ttft_p99_s']:.4g}" if r["feasible"] else "",
         f"{r['tpot_p99_s']:.4g}" if r["feasible"] else "",
         "yes" if r.get("meets_slo") else "no", "yes" if r in found["pareto_front"] else "",
         "" if r["feasible"] else str(r.get("reason", ""))[:120])
        for r in sorted(found["layouts"], key=lambda r: r["usd_per_hour"])
    ]  # fmt: skip
    sections = [
        ("Summary", summary),
        ("Cost vs p99 TTFT (colour: p99 TPOT)", _front_figure(found, "Pareto front")),
        ("Layouts", table_html(headers, table)),
    ]
    return render_report(title, sections)


def _escaped(text: str) -> str:
    import html

    return html.escape(text)


def write_search_report(
    data: dict, path: str | Path, *, mkdir: bool = False, option: str = "--html"
) -> Path:
    """Write search_report_html(data) to `path` (atomically; SpecError naming `option`
    for a bad path, or for a result that is not a layout search)."""
    from tigris.io.output import write_output

    if "search" not in data:
        raise SpecError("needs --search (the report plots the layouts searched)", key_path=option)
    return write_output(str(path), search_report_html(data), option=option, mkdir=mkdir)
