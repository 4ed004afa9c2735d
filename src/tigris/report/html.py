"""Self-contained HTML reports: plotly.js inlined once, so the file opens offline.

Pages are written with tigris.io.output.write_output (atomic, regular files only), the
one writer of every output file.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import plotly.graph_objects as go
import plotly.io as pio

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
.note { color: #555; font-size: 0.85rem; }
"""


def table_html(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """An HTML table; cells are escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_report(title: str, sections: Sequence[tuple[str, str | go.Figure]]) -> str:
    """A whole HTML page: each section is (heading, HTML fragment or plotly figure)."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    first_figure = True
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, go.Figure):
            parts.append(
                pio.to_html(
                    content,
                    full_html=False,
                    include_plotlyjs=first_figure,
                    config={"displaylogo": False},
                )
            )
            first_figure = False
        else:
            parts.append(content)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
