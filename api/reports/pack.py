"""The monthly review pack: every report of a month in ONE self-contained HTML file (styles
inline, charts drawn here as inline SVG bars: no script, no CDN, nothing fetched when a person
opens it) plus one CSV per report (``render.as_csv``)."""
from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Sequence

from api.reports import render
from api.reports.store import Filters
from matcher.reports.types import Report, Table, Value


@dataclass(frozen=True, slots=True)
class Chart:
    """A bar chart of one table: a bar per row, labelled by ``label`` and as long as ``value``."""

    table: str
    label: str
    value: str
    title: str
    fraction: bool = False  # a share: drawn against 1 and written as a percentage


# the one chart each report gets (the headline figures first: days to close, close rate)
CHARTS: dict[str, Chart] = {
    "velocity": Chart("velocity", "outcome", "median_days", "Median days to close"),
    "close-rate": Chart("by_owner", "owner", "close_rate", "Close rate by owner", fraction=True),
    "stage-conversion": Chart("stage_conversion", "stage", "conversion_rate", "Conversion by stage", fraction=True),
    "gone-dark": Chart("lost_by_last_dark_stage", "last_dark_stage", "lost", "Lost deals by the stage they last went dark in"),
    "never-responded": Chart("never_responded", "account_id", "days_since_qualification",
                             "Days since qualification without a response"),
    "content": Chart("by_asset", "title", "difference", "Won share minus lost share by asset", fraction=True),
    "loss-reasons": Chart("reasons", "reason", "seller", "Loss reasons the sellers gave"),
    "contact-sequence": Chart("by_outcome", "outcome", "median_first_rank", "Median seniority rank of the first contact"),
    "follow-up": Chart("by_owner", "owner", "opportunities", "Closed opportunities by owner"),
    "mqa-volume": Chart("by_week", "iso_week", "accounts", "Accounts entering MQA states per ISO week"),
    "funnel": Chart("at_end", "status", "accounts", "Accounts per status at the end of the month"),
}
MAX_BARS = 25
_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:70rem;color:#1d2430}
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.5rem;border-bottom:1px solid #d0d6e0}
h3{font-size:1rem;color:#4a5568}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #d0d6e0;padding:.25rem .5rem;text-align:right}th{background:#f1f4f8}
td:first-child,th:first-child{text-align:left}nav a{margin-right:.75rem}svg text{font-size:11px;fill:#1d2430}
"""


def fmt(value: Value, column: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, float):
        if column.endswith(("share", "rate")) or column == "difference":
            return f"{value * 100:.1f} %"
        return f"{value:,.2f}"
    return str(value)


def bar_chart(table: Table, chart: Chart) -> str:
    """Horizontal bars as an inline SVG; a negative value (a content difference) goes left of the axis."""
    i_label, i_value = table.columns.index(chart.label), table.columns.index(chart.value)
    bars = [(str(r[i_label]), r[i_value]) for r in table.rows if isinstance(r[i_value], (int, float))][:MAX_BARS]
    if not bars:
        return "<p><em>nothing to chart</em></p>"
    label_w, plot_w, bar_h = 180, 420, 18
    biggest = max(abs(v) for _, v in bars) or 1
    has_negative = any(v < 0 for _, v in bars)
    zero = label_w + (plot_w / 2 if has_negative else 0)
    scale = (plot_w / 2 if has_negative else plot_w) / biggest
    height = bar_h * len(bars) + 10
    parts = [f'<svg width="{label_w + plot_w + 90}" height="{height}" '
             f'role="img" aria-label="{html.escape(chart.title)}">']
    for n, (label, value) in enumerate(bars):
        y = 5 + n * bar_h
        w = abs(value) * scale
        x = zero - w if value < 0 else zero
        parts.append(f'<text x="{label_w - 6}" y="{y + 12}" text-anchor="end">{html.escape(label[:28])}</text>'
                     f'<rect x="{x:.1f}" y="{y + 2}" width="{w:.1f}" height="{bar_h - 5}" '
                     f'fill="{"#c0504d" if value < 0 else "#3f6fb5"}"/>'
                     f'<text x="{max(x + w, zero) + 4:.1f}" y="{y + 12}">{html.escape(fmt(value, chart.value))}</text>')
    parts.append(f'<line x1="{zero}" y1="0" x2="{zero}" y2="{height}" stroke="#888"/></svg>')
    return "".join(parts)


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v, c))}</td>" for v, c in zip(row, table.columns)) + "</tr>"
                   for row in table.rows)
    return f"<h3>{html.escape(table.name)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def html_pack(reports: Sequence[Report], filters: Filters, title: str) -> str:
    nav = "".join(f'<a href="#{r.name}">{html.escape(r.name)}</a>' for r in reports)
    sections = []
    for r in reports:
        chart = CHARTS.get(r.name)
        svg = bar_chart(r.table(chart.table), chart) if chart else ""
        caption = f"<h3>{html.escape(chart.title)}</h3>" if chart else ""
        sections.append(f'<section id="{r.name}"><h2>{html.escape(r.name)}</h2>{caption}{svg}'
                        + "".join(html_table(t) for t in r.tables) + "</section>")
    period = f"{filters.period.start:%Y-%m-%d %H:%M} to {filters.period.end:%Y-%m-%d %H:%M} UTC (to excluded)"
    scope = "".join(f"; {k} {html.escape(v)}" for k, v in (("owner", filters.owner),
                    ("segment", ":".join(filters.segment) if filters.segment else None)) if v)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(period)}{scope}. Shares are percentages of the row's whole; days are calendar "
            f"days. docs/reports.md defines every figure.</p><nav>{nav}</nav>{''.join(sections)}</body></html>")


def write_pack(reports: Sequence[Report], filters: Filters, title: str, out_dir: Path, stem: str) -> list[Path]:
    """``<stem>.html`` and ``<stem>-<report>.csv`` for each report in ``out_dir``; the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    page = out_dir / f"{stem}.html"
    page.write_text(html_pack(reports, filters, title), encoding="utf-8")
    written = [page]
    for r in reports:
        path = out_dir / f"{stem}-{r.name}.csv"
        path.write_text(render.as_csv(r), encoding="utf-8")
        written.append(path)
    return written
