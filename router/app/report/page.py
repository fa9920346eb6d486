"""The report as one self-contained HTML file: summary tables, charts as inline SVG,
and the metric definitions of contract section 8 (FCR's as the figures were counted,
see ``definitions``). Nothing is fetched when it opens."""

from __future__ import annotations

from datetime import datetime
from html import escape

from router.app.report.charts import Chart
from router.app.report.definitions import FcrDefinitions, fcr_text
from router.app.report.figures import Figures
from router.vocabulary import SLA_TARGETS

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1400px; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right; }
th { background: #f3f3f3; } td.name, th.name { text-align: left; }
section.chart { margin: 1.5rem 0; } .empty { color: #888; font-style: italic; }
dt { font-weight: bold; margin-top: 0.6rem; } dd { margin-left: 1.2rem; }
"""

DEFINITIONS = (
    ("SLA compliance", "Per target (first_response, next_response, resolution): met / (met "
     "+ breached). <em>met</em> counts in the window of the reply or resolution that met the "
     "target; <em>breached</em> once per ticket and target (once per clock for next_response) "
     "in the window of the due time. Business time where the policy has a calendar; "
     "postponed time excluded."),
    ("Breaches", "SLA targets breached, counted in the window of their due time."),
    ("FCR rate", ""),  # in render_page: the definition the figures were counted under
    ("AHT", "Average handle time: handle_seconds_sum / handled, over agent replies that "
     "carry handle time (voice adds talk, hold and wrap time)."),
    ("CSAT", "Share of CSAT answers scoring 4-5."),
    ("NPS", "100 x (promoters 9-10 - detractors 0-6) / NPS answers, -100..100."),
    ("CES", "Average customer effort score (ces_sum / ces_responses)."),
    ("Created / resolved", "Tickets created and resolved, in the window of the event."),
    ("Backlog", "Per queue, snapshots each window: <em>open</em> (not resolved or closed), "
     "<em>waiting</em> (new or open: waiting on an agent) and the age of the oldest wait."),
    ("Windows", "Tumbling event-time windows; counters are summed per queue and channel and "
     "the ratios derived from the sums, never averaged."),
)  # fmt: skip


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def _cells(values: list[str], tag: str = "td", names: int = 0) -> str:
    return "".join(
        f'<{tag} class="name">{v}</{tag}>' if i < names else f"<{tag}>{v}</{tag}>"
        for i, v in enumerate(values)
    )


def summary_table(figures: Figures) -> str:
    if not figures.summary:
        return '<p class="empty">No metric windows in this period.</p>'
    head = ["queue", "channel", *(f"SLA {t.replace('_', ' ')}" for t in SLA_TARGETS)]
    head += ["breaches", "FCR", "AHT", "CSAT", "NPS", "CES", "created", "resolved"]
    rows = [
        "<tr>"
        + _cells(
            [
                escape(r.queue),
                escape(r.channel),
                *(_pct(r.compliance[t]) for t in SLA_TARGETS),
                str(r.breaches),
                _pct(r.fcr_rate),
                _duration(r.aht_seconds),
                _pct(r.csat),
                _num(r.nps, 0),
                _num(r.ces_avg, 2),
                str(r.created),
                str(r.resolved),
            ],
            names=2,
        )
        + "</tr>"
        for r in figures.summary
    ]
    return (
        f'<table id="summary"><thead><tr>{_cells(head, "th", 2)}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def backlog_table(figures: Figures) -> str:
    if not figures.backlog:
        return ""
    head = ["queue", "as of (UTC)", "open", "waiting", "oldest waiting", "worst in period"]
    rows = [
        "<tr>"
        + _cells(
            [
                escape(b.queue),
                b.at.strftime("%Y-%m-%d %H:%M"),
                str(b.open),
                str(b.waiting),
                _duration(b.oldest_waiting_seconds),
                _duration(b.worst_waiting_seconds),
            ],
            names=1,
        )
        + "</tr>"
        for b in figures.backlog
    ]
    return (
        f'<h3>Backlog</h3><table id="backlog"><thead><tr>{_cells(head, "th", 1)}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def render_page(
    figures: Figures,
    charts: list[tuple[Chart, str | None]],
    *,
    start: datetime,
    end: datetime,
    source: str,
    generated: datetime,
    fcr: FcrDefinitions,
) -> str:
    sections = "".join(
        f'<section class="chart" id="chart-{chart.key}"><h3>{escape(chart.title)}</h3>'
        + (svg if svg else '<p class="empty">No data in this period.</p>')
        + "</section>"
        for chart, svg in charts
    )
    definitions = "".join(
        f"<dt>{escape(name)}</dt><dd>{fcr_text(fcr) if name == 'FCR rate' else text}</dd>"
        for name, text in DEFINITIONS
    )
    period = f"{start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Switchboard report {escape(period)}</title><style>{STYLE}</style></head><body>"
        f"<h1>Switchboard report</h1>"
        f'<p class="meta">{escape(period)} · {escape(source)} · generated '
        f"{generated:%Y-%m-%d %H:%M} UTC</p>"
        f"<h2>Summary</h2>{summary_table(figures)}{backlog_table(figures)}"
        f"<h2>Over time</h2>{sections}"
        f'<h2>Definitions</h2><dl id="definitions">{definitions}</dl>'
        "</body></html>\n"
    )
