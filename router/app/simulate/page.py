"""``simulate --out``: the what-if as one self-contained HTML file, in the style of
``switchboard report`` (its stylesheet, table cells and Vega-Lite charts rendered to
SVG at build time, so the file opens offline and fetches nothing). With ``--against``
every table row and chart line is one roster, side by side."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape
from typing import Any

from router.app.report.charts import Chart, Frame, render_svg, spec
from router.app.report.page import STYLE, _cells, _duration, _pct
from router.app.simulate.tally import BUCKET_S
from router.vocabulary import SLA_TARGETS

CHARTS = (
    Chart("offered", "Offered per 30 minutes", "tickets", mark="bar", legend="roster"),
    Chart("p_wait", "Share of tickets that waited", "P(wait)", y_format=".0%", legend="roster"),
    Chart("wait_p90_s", "Wait, 90th percentile", "seconds", legend="roster"),
    Chart("occupancy", "Occupancy", "occupancy", y_format=".0%", legend="roster"),
    Chart("sla", "SLA compliance per target", "compliance", y_format=".0%", facet="target",
          legend="roster"),
    Chart("abandoned", "Abandoned per 30 minutes", "tickets", mark="bar", legend="roster"),
)  # fmt: skip

DEFINITIONS = (
    ("Offered", "Tickets that waited in line for an agent (new tickets, and tickets back "
     "in line) or for the agent a rule assigned them to, counted in the interval they "
     "were created."),
    ("P(wait)", "Share of offered tickets that did not get an agent at once."),
    ("Wait", "Time from creation to an agent, over handled tickets (0 for those that did "
     "not wait); mean, median and 90th percentile."),
    ("Occupancy", "Agent time holding at least one ticket / agent time on shift; per "
     "queue, the agent time its tickets took (an agent holding k tickets gives each 1/k) "
     "/ shift time of the agents with its skills."),
    ("SLA compliance", "Per target: clocks met in time / clocks met or due before the end "
     "of the run, on the router's own SLA policies and business calendars."),
)  # fmt: skip


def points(runs: Sequence[tuple[str, dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    """Chart rows (``t``, ``series``, ``value``; ``target`` for SLA) per chart key."""
    series: dict[str, list[dict[str, Any]]] = {c.key: [] for c in CHARTS}
    for label, report in runs:
        for interval in report["overall"]["intervals"]:
            t = interval["start"]
            for key in ("offered", "p_wait", "wait_p90_s", "occupancy", "abandoned"):
                if interval[key] is not None:
                    series[key].append({"t": t, "series": label, "value": interval[key]})
            for target, value in interval["sla"].items():
                if value is not None:
                    row = {"t": t, "series": label, "target": target, "value": value}
                    series["sla"].append(row)
    return series


def summary(runs: Sequence[tuple[str, dict[str, Any]]]) -> str:
    head = ["roster", "queue", "offered", "handled", "abandoned", "unserved", "P(wait)"]
    head += ["wait mean"]
    head += [
        "wait p50",
        "wait p90",
        "occupancy",
        *(f"SLA {t.replace('_', ' ')}" for t in SLA_TARGETS),
    ]
    rows = []
    for label, report in runs:
        parts = [("all queues", report["overall"]), *report["queues"].items()]
        for queue, f in parts:
            cells = [escape(label), escape(queue), str(f["offered"]), str(f["handled"])]
            cells += [str(f["abandoned"]), str(f.get("unserved", 0)), _pct(f["p_wait"])]
            cells += [_duration(f["wait_mean_s"])]
            cells += [_duration(f["wait_p50_s"]), _duration(f["wait_p90_s"]), _pct(f["occupancy"])]
            cells += [_pct(f["sla"].get(t)) for t in SLA_TARGETS]
            rows.append(f"<tr>{_cells(cells, names=2)}</tr>")
    return (
        f'<table id="summary"><thead><tr>{_cells(head, "th", 2)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def render(
    runs: Sequence[tuple[str, dict[str, Any]]],
    *,
    events: str,
    rules: str,
    generated: datetime,
    found: str | None = None,
) -> str:
    """The page; ``runs`` are (roster label, ``simulate --json`` object)."""
    starts = [
        datetime.fromisoformat(i["start"])
        for _, report in runs
        for i in report["overall"]["intervals"]
    ]
    sections = []
    if starts:
        frame = Frame(min(starts), max(starts) + timedelta(seconds=BUCKET_S), BUCKET_S)
        rows = points(runs)
        for chart in CHARTS:
            data = rows[chart.key]
            svg = render_svg(spec(chart, data, frame)) if data else None
            body = svg or '<p class="empty">No data.</p>'
            sections.append(
                f'<section class="chart" id="chart-{chart.key}"><h3>{escape(chart.title)}</h3>'
                f"{body}</section>"
            )
    definitions = "".join(f"<dt>{escape(n)}</dt><dd>{escape(t)}</dd>" for n, t in DEFINITIONS)
    rosters = ", ".join(escape(label) for label, _ in runs)
    extra = f"<h2>Roster found</h2><pre>{escape(found)}</pre>" if found else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Switchboard staffing what-if</title><style>{STYLE}</style></head><body>"
        "<h1>Switchboard staffing what-if</h1>"
        f'<p class="meta">events {escape(events)} · rules {escape(rules)} · rosters {rosters}'
        f" · generated {generated:%Y-%m-%d %H:%M} UTC</p>"
        f"<h2>Summary</h2>{summary(runs)}{extra}"
        f"<h2>Per 30 minutes</h2>{''.join(sections)}"
        f'<h2>Definitions</h2><dl id="definitions">{definitions}</dl>'
        "</body></html>\n"
    )
