"""Build the Grafana dashboard ``switchboard.json`` from code.

    .venv/bin/python deploy/grafana/build.py          # rewrite switchboard.json
    .venv/bin/python deploy/grafana/build.py --check  # exit 1 when it is out of date

Written with Grafana's own ``grafana-foundation-sdk`` (generated from the dashboard
schema, so a panel option it accepts is one Grafana knows) and kept in the repository as
JSON, so a platform team imports it without Python. ``tests/unit/core/test_dashboard.py``
checks that the JSON is what this file builds, that it has the shape Grafana loads, and
that every metric a query names is one the code exports (``router/observability.py``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import DataSourceRef, VariableRefresh

OUT = Path(__file__).with_name("switchboard.json")
UID = "switchboard-overview"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
QUEUE = 'queue=~"$queue"'
TRAFFIC = 'route!~"/healthz|/readyz|/metrics"'  # not the probes every role answers
SLA_WINDOW = "1h"
"""Ratios (SLA compliance, FCR, CSAT, AHT) are taken over this trailing window: long
enough that one ticket does not swing them, short enough to show a bad afternoon."""


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return (
        prometheus.Dataquery()
        .expr(expr)
        .legend_format(legend)
        .ref_id(ref)
        .range()
        .datasource(DATASOURCE)
    )


def series(
    title: str,
    description: str,
    targets: list[prometheus.Dataquery],
    *,
    unit: str = "short",
    width: int = 8,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(width)
        .fill_opacity(10)
        .legend(
            common.VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(
            common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)
        )
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def counter_sum(metric: str, counter: str, window: str = SLA_WINDOW) -> str:
    selector = f'metric="{metric}",counter="{counter}",{QUEUE}'
    return f"sum by (queue) (increase(switchboard_metric_total{{{selector}}}[{window}]))"


def ingress_row() -> list[timeseries.Panel]:
    return [
        series(
            "Ingress requests by route",
            "Requests per second per route (webhooks, web form, chat, actions).",
            [
                query(
                    f"sum by (route) (rate(switchboard_http_requests_total{{{TRAFFIC}}}[{RATE}]))",
                    "{{route}}",
                )
            ],
            unit="reqps",
        ),
        series(
            "Ingress errors by route",
            "4xx and 5xx answers per second. 503: Kafka or Redis unavailable; "
            "401/403: a caller with a wrong token or signature.",
            [
                query(
                    "sum by (route, status) "
                    f'(rate(switchboard_http_requests_total{{status=~"[45]..",{TRAFFIC}}}[{RATE}]))',
                    "{{route}} {{status}}",
                )
            ],
            unit="reqps",
        ),
        series(
            "Ingress latency p95 by route",
            "95th percentile time to answer, from the request histogram.",
            [
                query(
                    "histogram_quantile(0.95, sum by (le, route) "
                    f"(rate(switchboard_http_request_seconds_bucket{{{TRAFFIC}}}[{RATE}])))",
                    "{{route}}",
                )
            ],
            unit="s",
        ),
    ]


def consumer_row() -> list[Any]:
    return [
        series(
            "Consumer lag per role",
            "Records on the role's partitions not yet processed (high watermark minus "
            "position). A lag that keeps growing means the role cannot keep up: scale it "
            "out (up to one process per partition) or look at its batch time.",
            [
                query(
                    "sum by (consumer) (switchboard_consumer_lag)",
                    "{{consumer}}",
                )
            ],
            unit="short",
            width=6,
        ),
        series(
            "Batch time p95 per role",
            "Time to process and commit one poll, per consumer role.",
            [
                query(
                    "histogram_quantile(0.95, sum by (le, consumer) "
                    f"(rate(switchboard_consumer_batch_seconds_bucket[{RATE}])))",
                    "{{consumer}}",
                )
            ],
            unit="s",
            width=6,
        ),
        series(
            "Records by outcome",
            "Records per second per role and outcome (processed, deduplicated, deadlettered, ...).",
            [
                query(
                    "sum by (consumer, outcome) "
                    f"(rate(switchboard_consumer_records_total[{RATE}]))",
                    "{{consumer}} {{outcome}}",
                )
            ],
            unit="rps",
            width=6,
        ),
        series(
            "Retries per role",
            "Batches retried after a retriable error (broker or Redis unavailable). "
            "A steady rise means a backend is down: alert on it.",
            [
                query(
                    f"sum by (consumer) (rate(switchboard_consumer_retries_total[{RATE}]))",
                    "{{consumer}}",
                )
            ],
            unit="ops",
            width=6,
        ),
        stat.Panel()
        .title("Dead-letters in range")
        .description(
            "Records sent to the dead-letter topic in the selected time range. "
            "Each one is an event nobody acted on: read the topic's dlq.error header."
        )
        .datasource(DATASOURCE)
        .height(8)
        .span(6)
        .unit("short")
        .graph_mode(BigValueGraphMode.NONE)
        .reduce_options(common.ReduceDataOptions().values(False).calcs(["lastNotNull"]))
        .with_target(
            query(
                "sum by (consumer) "
                '(increase(switchboard_consumer_records_total{outcome="deadlettered"}'
                "[$__range]))",
                "{{consumer}}",
            ).instant()
        ),
    ]


def notifier_row() -> list[timeseries.Panel]:
    return [
        series(
            "Notifications by medium and outcome",
            "Deliveries per second (sent, parked for a retry after a temporary refusal, "
            "retried, failed, uncertain: may have been delivered, skipped, no recipient). "
            "Parked deliveries that keep rising mean a provider is down: they are sent "
            "once it answers again, up to SWITCHBOARD_NOTIFY_RETRY_FOR_S.",
            [
                query(
                    f"sum by (medium, outcome) (rate(switchboard_notifications_total[{RATE}]))",
                    "{{medium}} {{outcome}}",
                )
            ],
            unit="ops",
            width=24,
        ),
    ]


def service_level_row() -> list[timeseries.Panel]:
    met = counter_sum("sla", "met")
    breached = counter_sum("sla", "breached")
    resolved = counter_sum("fcr", "resolved")
    first = counter_sum("fcr", "resolved_first_contact")
    reopened = counter_sum("fcr", "reopened_after_first_contact")
    return [
        series(
            "SLA compliance by queue",
            f"Targets met over met plus breached, trailing {SLA_WINDOW}, all targets.",
            [query(f"{met} / ({met} + ({breached} or {met} * 0))", "{{queue}}")],
            unit="percentunit",
        ),
        series(
            "SLA breaches by queue",
            "Breaches per interval (a ticket breaches each target at most once per clock).",
            [query(counter_sum("sla", "breached", RATE), "{{queue}}")],
        ),
        series(
            "SLA warnings by queue",
            "Warnings per interval: tickets close to their due time.",
            [query(counter_sum("sla", "warned", RATE), "{{queue}}")],
        ),
        series(
            "First contact resolution",
            f"Resolved at first contact, less those reopened, over all resolved; "
            f"trailing {SLA_WINDOW}.",
            [query(f"({first} - ({reopened} or {first} * 0)) / {resolved}", "{{queue}}")],
            unit="percentunit",
        ),
        series(
            "CSAT by queue",
            f"Satisfied answers (4-5) over all CSAT answers, trailing {SLA_WINDOW}.",
            [
                query(
                    f"{counter_sum('satisfaction', 'csat_satisfied')} / "
                    f"{counter_sum('satisfaction', 'csat_responses')}",
                    "{{queue}}",
                )
            ],
            unit="percentunit",
        ),
        series(
            "Average handle time by queue",
            f"AHT: handle time per handled item (reply, internal reply, call), trailing "
            f"{SLA_WINDOW}, as the workload records count it; p90 beside it.",
            [
                query(
                    f"{counter_sum('workload', 'handle_seconds_sum')} / "
                    f"{counter_sum('workload', 'handled')}",
                    "{{queue}} average",
                ),
                query(
                    "histogram_quantile(0.9, sum by (le, queue) "
                    f"(rate(switchboard_handle_seconds_bucket{{{QUEUE}}}[{SLA_WINDOW}])))",
                    "{{queue}} p90",
                    "B",
                ),
            ],
            unit="s",
        ),
    ]


def backlog_row() -> list[timeseries.Panel]:
    return [
        series(
            "Open and waiting tickets per queue",
            "Open: not resolved or closed. Waiting: of those, waiting on an agent. "
            "Set once per metric window by the metrics role.",
            [
                query(f"max by (queue) (switchboard_backlog_open{{{QUEUE}}})", "{{queue}} open"),
                query(
                    f"max by (queue) (switchboard_backlog_waiting{{{QUEUE}}})",
                    "{{queue}} waiting",
                    "B",
                ),
            ],
            width=12,
        ),
        series(
            "Oldest waiting age per queue",
            "How long the longest-waiting customer has waited on an agent.",
            [
                query(
                    f"max by (queue) (switchboard_backlog_oldest_waiting_seconds{{{QUEUE}}})",
                    "{{queue}}",
                )
            ],
            unit="s",
            width=12,
        ),
    ]


def build() -> dashboard.Dashboard:
    board = (
        dashboard.Dashboard("Switchboard")
        .uid(UID)
        .description("Ingress, consumers, service levels and backlog of a Switchboard deployment.")
        .tags(["switchboard", "helpdesk"])
        .refresh("30s")
        .time("now-6h", "now")
        .timezone("browser")
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("queue")
            .label("Queue")
            .datasource(DATASOURCE)
            .query("label_values(switchboard_backlog_open, queue)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    rows: list[tuple[str, list[Any]]] = [
        ("Ingress", ingress_row()),
        ("Consumers", consumer_row()),
        ("Notifications", notifier_row()),
        ("Service levels", service_level_row()),
        ("Backlog", backlog_row()),
    ]
    ids = iter(range(1, 100))  # Grafana keys panel state and links by a unique id
    for title, panels in rows:
        board = board.with_row(dashboard.Row(title).id(next(ids)))
        for panel in panels:
            board = board.with_panel(panel.id(next(ids)))
    return board


def render() -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if OUT.read_text() != text:
            print(f"{OUT} is out of date: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
