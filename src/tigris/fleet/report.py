"""The plan's HTML report (tigris.report.html: self-contained, plotly inlined) and an
SVG of its main plot (the fleet mix) written without plotly's image export, which
needs kaleido and a browser.

Plots: the fleet mix (chips per system, serving and training), power at the peak
against the budget, the cost breakdown a year (capex and energy per system), and
utilisation over the day."""

from __future__ import annotations

import html

SERVING, TRAINING = "#4C78A8", "#F58518"


def render_plan(data: dict[str, object], title: str = "Fleet plan") -> str:
    """The whole page from `tigris plan --json`'s dictionary."""
    from tigris.report.html import render_report, table_html

    total = data["total"]
    sections: list[tuple[str, object]] = [
        ("Summary", table_html(["figure", "value"], _summary_rows(total))),  # type: ignore[arg-type]
        ("Fleet mix", _mix_figure(data)),
        ("Power at the daily peak vs the budget", _power_figure(data)),
        ("Cost a year", _cost_figure(data)),
        ("Utilisation over the day", _utilisation_figure(data)),
        ("Services", table_html(*_service_table(data))),
        ("Training runs", table_html(*_run_table(data))),
    ]
    what_if = data.get("what_if")
    if isinstance(what_if, dict):
        sections.append(("What if", _what_if_html(what_if)))
    return render_report(title, sections)  # type: ignore[arg-type]


def _summary_rows(total: dict) -> list[tuple[str, str]]:
    return [
        ("chips", f"{total['chips']:,}"),
        ("racks", "-" if total["racks"] is None else f"{total['racks']:,}"),
        ("peak power at the wall", f"{total['peak_wall_mw']:.2f} MW of {total['power_budget_mw']:g} MW"),
        ("peak power at the facility (x PUE)", f"{total['peak_facility_mw']:.2f} MW"),
        ("capex", f"${total['capex_usd'] / 1e6:,.1f} M"),
        ("capex a year (over the lifetime)", f"${total['capex_usd_per_year'] / 1e6:,.2f} M"),
        ("energy a year", f"${total['opex_energy_usd_per_year'] / 1e6:,.2f} M"),
        ("TCO a year", f"${total['tco_usd_per_year'] / 1e6:,.2f} M"),
        ("every SLO met at the daily peak (re-simulated)", str(total["all_slos_met_at_peak"])),
        ("every deadline met", str(total["all_deadlines_met"])),
    ]  # fmt: skip


def _bars(names: list[str], series: list[tuple[str, list[float], str]], y_title: str):  # type: ignore[no-untyped-def]
    import plotly.graph_objects as go

    figure = go.Figure([go.Bar(name=n, x=names, y=v, marker_color=c) for n, v, c in series])
    figure.update_layout(barmode="stack", yaxis_title=y_title, height=420)
    return figure


def _mix_figure(data: dict):  # type: ignore[no-untyped-def]
    systems = data["systems"]
    names = [s["system"] for s in systems]
    return _bars(names, [("serving", [s["serving_chips"] for s in systems], SERVING),
                         ("training", [s["training_chips"] for s in systems], TRAINING)],
                 "chips")  # fmt: skip


def _power_figure(data: dict):  # type: ignore[no-untyped-def]
    systems = data["systems"]
    figure = _bars([s["system"] for s in systems],
                   [("peak wall MW", [s["peak_wall_mw"] for s in systems], SERVING)], "MW")  # fmt: skip
    figure.add_hline(y=data["total"]["power_budget_mw"], line_dash="dash",
                     annotation_text="budget (whole fleet)")  # fmt: skip
    figure.add_hline(y=data["total"]["peak_wall_mw"], line_dash="dot",
                     annotation_text="whole fleet at the peak")  # fmt: skip
    return figure


def _cost_figure(data: dict):  # type: ignore[no-untyped-def]
    systems = data["systems"]
    energy = [_system_energy(data, s) for s in systems]
    return _bars([s["system"] for s in systems],
                 [("capex a year", [s["capex_usd_per_year"] / 1e6 for s in systems], SERVING),
                  ("energy a year", [e / 1e6 for e in energy], TRAINING)], "$ M a year")  # fmt: skip


def _system_energy(data: dict, system: dict) -> float:
    """A system's share of the energy bill, by its share of the peak power."""
    total = data["total"]
    share = system["peak_wall_mw"] / total["peak_wall_mw"] if total["peak_wall_mw"] else 0.0
    return share * total["opex_energy_usd_per_year"]


def _utilisation_figure(data: dict):  # type: ignore[no-untyped-def]
    import plotly.graph_objects as go

    use = data["utilisation"]
    figure = go.Figure(go.Scatter(x=use["hours"], y=use["overall"], name="whole fleet",
                                  line={"width": 3}))  # fmt: skip
    for name, values in use["by_system"].items():
        figure.add_trace(go.Scatter(x=use["hours"], y=values, name=name))
    figure.update_layout(xaxis_title="hour of the day", yaxis_title="busy chips / chips",
                         yaxis_range=[0, 1.05], height=420)  # fmt: skip
    return figure


def _service_table(data: dict) -> tuple[list[str], list[list[object]]]:
    headers = ["service", "model", "peak req/s", "deployment", "$/M output tokens",
               "p99 TTFT / TPOT at the peak (worst)", "SLO met"]  # fmt: skip
    rows = []
    for s in data["services"]:
        where = ", ".join(
            f"{d['replicas']} x tp{d['tp']} on {d['system']}" for d in s["deployment"]
        )
        checks = s["peak_check"]
        worst = (f"{max(c['ttft_p99_s'] for c in checks):.3g} s / "
                 f"{max(c['tpot_p99_s'] for c in checks) * 1e3:.3g} ms") if checks else "-"  # fmt: skip
        cost = s["usd_per_million_output_tokens"]
        rows.append([s["service"], s["model"], f"{s['peak_rate_per_s']:,.1f}", where,
                     "-" if cost is None else f"{cost:.3f}", worst, s["slo_met_at_peak"]])  # fmt: skip
    return headers, rows


def _run_table(data: dict) -> tuple[list[str], list[list[object]]]:
    headers = ["run", "model", "system", "chips", "days", "deadline", "met"]
    rows = [[r["run"], r["model"], r["system"], f"{r.get('chips', 0):,}",
             f"{r.get('days', 0):.1f}", f"{r.get('deadline_days', 0):g}", r["deadline_met"]]
            for r in data["runs"]]  # fmt: skip
    return headers, rows


def what_if_text(what_if: dict) -> str:
    """One line: the changes and what they do to TCO, capex and peak power."""
    changes = ", ".join(what_if["changes"])
    if "infeasible" in what_if:
        return f"{changes}: infeasible ({what_if['infeasible']})"
    return (f"{changes}: TCO {what_if['tco_delta_usd_per_year'] / 1e6:+,.2f} $M a year "
            f"({what_if['tco_delta_fraction'] * 100:+.1f} %), capex "
            f"{what_if['capex_delta_usd'] / 1e6:+,.1f} $M, peak power "
            f"{what_if['peak_wall_mw_delta']:+.2f} MW")  # fmt: skip


def _what_if_html(what_if: dict) -> str:
    return f"<p>{html.escape(what_if_text(what_if))}</p>"


def mix_svg(data: dict, width: int = 640, height: int = 360) -> str:
    """The fleet mix as a stacked bar SVG (serving and training chips per system),
    labelled with each system's chips and peak MW, and the fleet's TCO in the title."""
    systems = [s for s in data["systems"]]
    top = max([s["chips"] for s in systems] + [1])
    left, bottom, plot_h = 70, 60, height - 110
    slot = (width - left - 20) / max(1, len(systems))
    total = data["total"]
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
             "font-family='sans-serif' font-size='12'>",
             "<rect width='100%' height='100%' fill='white'/>",
             f"<text x='{width / 2}' y='20' text-anchor='middle' font-size='14'>Fleet mix: "
             f"{total['chips']:,} chips, {total['peak_wall_mw']:.1f} MW at the wall of "
             f"{total['power_budget_mw']:g}, TCO ${total['tco_usd_per_year'] / 1e6:,.1f} M a year</text>",
             f"<line x1='{left}' y1='{height - bottom}' x2='{width - 20}' y2='{height - bottom}' stroke='black'/>"]  # fmt: skip
    for i, s in enumerate(systems):
        x = left + i * slot + slot * 0.2
        y = height - bottom
        for value, color in ((s["serving_chips"], SERVING), (s["training_chips"], TRAINING)):
            h = plot_h * value / top
            y -= h
            parts.append(
                f"<rect x='{x:.1f}' y='{y:.1f}' width='{slot * 0.6:.1f}' height='{h:.1f}' fill='{color}'/>"
            )
        parts.append(f"<text x='{x + slot * 0.3:.1f}' y='{y - 5:.1f}' text-anchor='middle'>"
                     f"{s['chips']:,} ({s['peak_wall_mw']:.1f} MW)</text>")  # fmt: skip
        parts.append(f"<text x='{x + slot * 0.3:.1f}' y='{height - bottom + 16}' "
                     f"text-anchor='middle'>{html.escape(s['system'])}</text>")  # fmt: skip
    parts += [f"<rect x='{left}' y='{height - 22}' width='12' height='12' fill='{SERVING}'/>",
              f"<text x='{left + 16}' y='{height - 12}'>serving chips</text>",
              f"<rect x='{left + 130}' y='{height - 22}' width='12' height='12' fill='{TRAINING}'/>",
              f"<text x='{left + 146}' y='{height - 12}'>training chips</text>", "</svg>"]  # fmt: skip
    return "\n".join(parts) + "\n"
