"""``switchboard report``: one self-contained HTML file with the helpdesk's figures for a
period, from the compacted metric topics or recomputed from ``tickets``.

``windows`` reads the metric windows, ``figures`` sums them into the summary and time
series, ``charts`` renders those to SVG, ``page`` assembles the HTML."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from router.app.output import write_file
from router.app.reading import Progress
from router.app.report.charts import Frame, render_charts
from router.app.report.definitions import FcrDefinitions, fcr_definitions, rules_fcr
from router.app.report.figures import Figures, build_figures
from router.app.report.page import render_page
from router.app.report.windows import (
    Period,
    parse_when,
    read_metric_topics,
    recompute_from_tickets,
)
from router.events import utcnow
from router.settings import Settings


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    size: int
    windows: int
    records_read: dict[str, int]
    figures: Figures


async def write_report(
    settings: Settings,
    period: Period,
    out: Path,
    *,
    recompute: bool = False,
    progress: Progress | None = None,
) -> Written:
    read = recompute_from_tickets if recompute else read_metric_topics
    found = await read(settings, period, progress)
    figures = build_figures(found.rows, period.start, period.end, settings.metrics_window_s)
    fcr = fcr_definitions(found.rows, await asyncio.to_thread(rules_fcr, settings.rules_path))
    html = await asyncio.to_thread(_render, figures, period, found.source, fcr)
    # written here, not in the thread: Ctrl-C cannot land while it writes, and a write
    # that fails (a full disk) leaves no half-written page (CannotWrite)
    size = write_file(out, html.encode())
    return Written(out, size, len(found.rows), found.records_read, figures)


def _render(figures: Figures, period: Period, source: str, fcr: FcrDefinitions) -> str:
    """Charts to SVG and the page (CPU-bound, off the event loop)."""
    charts = render_charts(figures.series, Frame(period.start, period.end, figures.bucket_s))
    return render_page(
        figures,
        charts,
        start=period.start,
        end=period.end,
        source=source,
        generated=utcnow(),
        fcr=fcr,
    )


def period_of(start: str, end: str) -> Period:
    """Raises ValueError naming the option that is wrong."""
    try:
        begin = parse_when(start)
    except ValueError as exc:
        raise ValueError(f"--from: {exc}") from None
    try:
        finish = parse_when(end, end=True)
    except ValueError as exc:
        raise ValueError(f"--to: {exc}") from None
    if finish <= begin:
        raise ValueError("--to: must be after --from")
    return Period(begin, finish)


__all__ = ["Period", "Written", "period_of", "write_report"]
