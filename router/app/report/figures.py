"""From metric windows to the report's figures: the summary per queue and channel, and
the time series behind each chart.

Ratios are never averaged: counters are summed first (per queue and channel, per time
bucket) and the contract's ratios derived from the sums with the metrics role's own
``derived_values``, so a quiet hour weighs as little as it should."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from consumers.domain.windows import derived_values, window_of
from router.app.report.windows import GAUGES, Row
from router.vocabulary import SLA_TARGETS

BUCKETS_S = (60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
MAX_POINTS = 96  # per series: enough to read a day by the quarter hour, small as SVG


def bucket_seconds(span: timedelta, window_s: int) -> int:
    """The smallest calendar-friendly bucket that keeps a series under ``MAX_POINTS``."""
    wanted = max(window_s, span.total_seconds() / MAX_POINTS)
    return next((b for b in BUCKETS_S if b >= wanted), BUCKETS_S[-1])


def series_of(dims: dict[str, str]) -> str:
    return f"{dims.get('queue', 'none')} / {dims.get('channel', 'none')}"


def _sum(rows: Iterable[Row]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for row in rows:
        for name, value in row.counters.items():
            total[name] += value
    return dict(total)


def _is_gauge(row: Row) -> bool:
    return row.metric == "workload" and "channel" not in row.dimensions


@dataclass(frozen=True, slots=True)
class SummaryRow:
    """One queue and channel over the whole period."""

    queue: str
    channel: str
    compliance: dict[str, float | None]
    breaches: int
    fcr_rate: float | None
    aht_seconds: float | None
    csat: float | None
    nps: float | None
    ces_avg: float | None
    created: int
    resolved: int


@dataclass(frozen=True, slots=True)
class BacklogRow:
    """One queue's latest backlog snapshot in the period, and its worst wait."""

    queue: str
    at: datetime
    open: int
    waiting: int
    oldest_waiting_seconds: int
    worst_waiting_seconds: int


@dataclass(slots=True)
class Figures:
    summary: list[SummaryRow] = field(default_factory=list)
    backlog: list[BacklogRow] = field(default_factory=list)
    bucket_s: int = 3600
    series: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def summarize(rows: list[Row]) -> list[SummaryRow]:
    by_pair: dict[tuple[str, str], dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        if _is_gauge(row):
            continue
        pair = (row.dimensions.get("queue", "none"), row.dimensions.get("channel", "none"))
        by_pair[pair][row.metric].append(row)
    out = []
    for (queue, channel), metrics in sorted(by_pair.items()):
        sla = metrics.get("sla", [])
        compliance: dict[str, float | None] = {
            target: derived_values(
                "sla", _sum(r for r in sla if r.dimensions.get("target") == target)
            )["compliance"]
            for target in SLA_TARGETS
        }
        workload = _sum(metrics.get("workload", []))
        satisfaction = derived_values("satisfaction", _sum(metrics.get("satisfaction", [])))
        out.append(
            SummaryRow(
                queue=queue,
                channel=channel,
                compliance=compliance,
                breaches=_sum(sla).get("breached", 0),
                fcr_rate=derived_values("fcr", _sum(metrics.get("fcr", [])))["fcr_rate"],
                aht_seconds=derived_values("workload", workload)["aht_seconds"],
                csat=satisfaction["csat"],
                nps=satisfaction["nps"],
                ces_avg=satisfaction["ces_avg"],
                created=workload.get("created", 0),
                resolved=workload.get("resolved", 0),
            )
        )
    return out


def backlog(rows: list[Row]) -> list[BacklogRow]:
    by_queue: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        if _is_gauge(row):
            by_queue[row.dimensions.get("queue", "none")].append(row)
    out = []
    for queue, snapshots in sorted(by_queue.items()):
        last = max(snapshots, key=lambda r: r.start)
        out.append(
            BacklogRow(
                queue=queue,
                at=last.start,
                open=last.counters.get("open", 0),
                waiting=last.counters.get("waiting", 0),
                oldest_waiting_seconds=last.counters.get("oldest_waiting_seconds", 0),
                worst_waiting_seconds=max(
                    r.counters.get("oldest_waiting_seconds", 0) for r in snapshots
                ),
            )
        )
    return out


def time_series(rows: list[Row], bucket_s: int) -> dict[str, list[dict[str, Any]]]:
    """Long-form data per chart: one point per bucket and series (and target or kind)."""
    buckets: dict[tuple[str, datetime, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        start, _ = window_of(row.start, bucket_s)
        if _is_gauge(row):
            series, extra = row.dimensions.get("queue", "none"), ""
        else:
            series, extra = series_of(row.dimensions), row.dimensions.get("target", "")
        buckets[(row.metric if not _is_gauge(row) else "backlog", start, series, extra)].append(row)
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    running: dict[tuple[str, str], int] = defaultdict(int)  # created/resolved so far

    def point(chart: str, at: datetime, series: str, value: float | None, **more: str) -> None:
        if value is not None:
            out[chart].append({"t": at.isoformat(), "series": series, "value": value, **more})

    for (metric, at, series, extra), group in sorted(buckets.items()):
        c = _sum(group)
        if metric == "sla":
            point(
                "sla_compliance", at, series, derived_values("sla", c)["compliance"], target=extra
            )
            point("sla_breaches", at, series, c.get("breached", 0), target=extra)
        elif metric == "fcr":
            point("fcr_rate", at, series, derived_values("fcr", c)["fcr_rate"])
        elif metric == "satisfaction":
            for name, value in derived_values("satisfaction", c).items():
                point(name, at, series, value)
        elif metric == "workload":
            point("aht", at, series, derived_values("workload", c)["aht_seconds"])
            for kind in ("created", "resolved"):
                running[(series, kind)] += c.get(kind, 0)
                point("created_resolved", at, series, running[(series, kind)], kind=kind)
        elif metric == "backlog":
            last = max(group, key=lambda r: r.start).counters
            for kind in GAUGES[:2]:
                point("backlog", at, series, last.get(kind, 0), kind=kind)
            worst = max(r.counters.get("oldest_waiting_seconds", 0) for r in group)
            point("oldest_waiting", at, series, round(worst / 60, 1))
    return dict(out)


def build_figures(rows: list[Row], start: datetime, end: datetime, window_s: int) -> Figures:
    bucket_s = bucket_seconds(end - start, window_s)
    return Figures(
        summary=summarize(rows),
        backlog=backlog(rows),
        bucket_s=bucket_s,
        series=time_series(rows, bucket_s),
    )
