"""The report's charts: Vega-Lite specs rendered to SVG at build time by ``vl-convert``.

Why SVG at build time: the file then needs no JavaScript at all (a chart library inlined
would cost 0.8 MB for Vega, 3.5 MB for plotly), opens offline in any browser and prints.
``allowed_base_urls=[]`` makes the renderer refuse any fetch: the data is inline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import vl_convert

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
WIDTH, FACET_WIDTH, HEIGHT = 640, 300, 180


@dataclass(frozen=True, slots=True)
class Chart:
    key: str
    title: str
    y_title: str
    mark: str = "line"
    y_format: str = ""
    facet: str = ""  # a field shown as one small chart per value, side by side
    color: str = "series"
    legend: str = "queue / channel"
    interpolate: str = "linear"


@dataclass(frozen=True, slots=True)
class Frame:
    """The period every chart shows, whatever its data covers, so charts line up."""

    start: datetime
    end: datetime
    bucket_s: int

    def time_format(self) -> str:
        return "%H:%M" if self.end - self.start <= timedelta(days=2) else "%b %d"


CHARTS = (
    Chart("sla_compliance", "SLA compliance per target", "compliance", y_format=".0%",
          facet="target"),
    Chart("sla_breaches", "SLA breaches per target", "breaches", mark="bar", facet="target"),
    Chart("fcr_rate", "First-contact resolution rate", "FCR rate", y_format=".0%"),
    Chart("aht", "Average handle time", "AHT (seconds)"),
    Chart("csat", "CSAT (share of 4-5 scores)", "CSAT", y_format=".0%"),
    Chart("nps", "NPS", "NPS (-100..100)"),
    Chart("ces_avg", "Customer effort score (average)", "CES"),
    Chart("created_resolved", "Created vs resolved (cumulative)", "tickets", facet="series",
          color="kind", legend="", interpolate="step-after"),
    Chart("backlog", "Backlog: open and waiting (per queue)", "tickets", facet="kind",
          legend="queue"),
    Chart("oldest_waiting", "Oldest waiting age (per queue)", "minutes", legend="queue"),
)  # fmt: skip


def spec(chart: Chart, points: list[dict[str, Any]], frame: Frame) -> dict[str, Any]:
    """One Vega-Lite spec; the whole period on a UTC time axis, one colour per series."""
    y: dict[str, Any] = {"field": "value", "type": "quantitative", "title": chart.y_title}
    if chart.y_format:
        y["axis"] = {"format": chart.y_format}
    bar_stack = chart.mark == "bar"
    x: dict[str, Any] = {
        "field": "t",
        "type": "temporal",
        "title": f"time (UTC, {_bucket_name(frame.bucket_s)} buckets)",
        "scale": {"type": "utc", "domain": [frame.start.isoformat(), frame.end.isoformat()]},
        "axis": {"labelAngle": -30, "format": frame.time_format()},  # UTC: the scale says so
    }
    color: dict[str, Any] = {
        "field": chart.color,
        "type": "nominal",
        "title": chart.legend or None,
        "legend": {"labelLimit": 260, "titleLimit": 260},
    }
    encoding: dict[str, Any] = {
        "x": x,
        "y": y,
        "color": color,
        "tooltip": [
            {"field": "t", "type": "temporal", "title": "time"},
            {"field": chart.color, "type": "nominal"},
            {"field": "value", "type": "quantitative"},
        ],
    }
    mark: dict[str, Any] = (
        {"type": "bar", "width": 6}
        if bar_stack
        else {"type": "line", "point": True, "interpolate": chart.interpolate}
    )
    body: dict[str, Any] = {
        "$schema": SCHEMA,
        "data": {"values": points},
        "config": {"font": "sans-serif", "view": {"stroke": "#ddd"}},
        # text is measured with the renderer's fonts; a browser's may run wider
        "padding": {"left": 5, "top": 5, "bottom": 5, "right": 60},
    }
    if chart.facet:
        return {
            **body,
            "facet": {"field": chart.facet, "type": "nominal", "title": None},
            "columns": 3,
            "spec": {
                "width": FACET_WIDTH,
                "height": HEIGHT,
                "mark": mark,
                "encoding": encoding,
            },
        }
    return {**body, "width": WIDTH, "height": HEIGHT, "mark": mark, "encoding": encoding}


def _bucket_name(seconds: int) -> str:
    if seconds % 86400 == 0:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"


def render_svg(vl_spec: dict[str, Any]) -> str:
    return vl_convert.vegalite_to_svg(vl_spec, allowed_base_urls=[])


def render_charts(
    series: dict[str, list[dict[str, Any]]], frame: Frame
) -> list[tuple[Chart, str | None]]:
    """Every chart with its SVG, or None where the period has no data for it."""
    rendered: list[tuple[Chart, str | None]] = []
    for chart in CHARTS:
        points = series.get(chart.key)
        rendered.append((chart, render_svg(spec(chart, points, frame)) if points else None))
    return rendered
