"""Prometheus metrics, one registry per process role (never a module-level global)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)

disable_created_metrics()  # type: ignore[no-untyped-call]
"""No ``*_created`` series beside every counter and histogram (the client's default): they
about double the series scraped and say when the process started, which
``process_start_time_seconds`` says once."""

LATENCY_BUCKETS = (
    *(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    *(7.5, 10.0, 15.0, 30.0, 60.0),
)
"""Milliseconds when all is well, and up to a minute for what an outage makes slow: a
503 after the Redis socket timeout (5 s) or the Kafka request timeout (10 s), a batch
retried for a minute. Above 5 s, every such request had fallen in ``+Inf`` alone."""
HOUR = 3600
SECONDS_BUCKETS = (5, 10, 15)
"""Below the first 30 s: a chat's first response (targets of 30 s to 2 min) or a quick
chat reply's handle time had all fallen in one bucket, its percentiles guessed in it."""
HANDLE_BUCKETS = (
    *SECONDS_BUCKETS,
    *(30, 60, 120, 300, 600, 900, 1800, HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR),
)
"""A reply's handle time: seconds on chat, minutes usually, hours for a long investigation."""
DAY = 24 * HOUR
RESPONSE_BUCKETS = (
    *(*SECONDS_BUCKETS, 30, 60, 120, 300, 600, 1800),
    *(HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR),
    *(DAY, 2 * DAY, 3 * DAY, 7 * DAY),
)
"""How long a customer waited for a reply (business time): seconds on chat, days by email."""


class Telemetry:
    """Every figure a platform team scrapes from ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        # the process's own figures (process_open_fds, process_resident_memory_bytes,
        # process_cpu_seconds_total, python_gc_*, python_info), as the default registry
        # has them: each Telemetry its own collectors, so several may live in one process
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter(
            "switchboard_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "switchboard_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.records = Counter(
            "switchboard_consumer_records",
            "Records handled by consumer and outcome",
            ["consumer", "outcome"],
            registry=r,
        )
        self.notifications = Counter(
            "switchboard_notifications",
            "Notification deliveries by medium and outcome (the notifier role)",
            ["medium", "outcome"],
            registry=r,
        )
        self.batch_seconds = Histogram(
            "switchboard_consumer_batch_seconds",
            "Time to process and commit one poll",
            ["consumer"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "switchboard_consumer_lag",
            "Records on the partition not yet processed (high watermark minus position)",
            ["consumer", "topic", "partition"],
            registry=r,
        )
        self.retries = Counter(
            "switchboard_consumer_retries",
            "Batches retried after a retriable error",
            ["consumer"],
            registry=r,
        )
        self.tick_failures = Counter(
            "switchboard_consumer_tick_failures",
            "Periodic ticks (timers firing, metric windows made final, the notifier's "
            "retries) that failed on a retriable error: nothing fired meanwhile",
            ["consumer"],
            registry=r,
        )
        self.timers_fired = Counter(
            "switchboard_timers_fired",
            "Timers fired by the timers role, by kind (warning, breached: SLA; timeout, "
            "retry: an assignment's)",
            ["kind"],
            registry=r,
        )
        self.timers_due = Gauge(
            "switchboard_timers_due",
            "Timers due and not fired yet, every shard (the same in each timers process: "
            "aggregate with max)",
            registry=r,
        )
        self.timers_oldest_due = Gauge(
            "switchboard_timers_oldest_due_seconds",
            "How late the most overdue timer not fired yet is (0: none due); grows when "
            "the timers role falls behind",
            registry=r,
        )
        self.notifications_parked = Gauge(
            "switchboard_notifications_parked",
            "Deliveries parked for a retry (a provider refused for now), per medium",
            ["medium"],
            registry=r,
        )
        self.notifications_oldest_parked = Gauge(
            "switchboard_notifications_oldest_parked_seconds",
            "Time since the longest parked delivery was first parked, per medium (0: none)",
            ["medium"],
            registry=r,
        )
        self.metric_counters = Counter(
            "switchboard_metric",
            "Streaming metric counters (SLA, FCR, satisfaction, workload); target: the SLA "
            "target (first_response, next_response, resolution), empty for the others",
            ["metric", "counter", "queue", "channel", "target"],
            registry=r,
        )
        self.handle_time = Histogram(
            "switchboard_handle_seconds",
            "Handle time per handled item (a reply, an internal reply, a call: one "
            "observation each; a call's later part adds to switchboard_metric_total only)",
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=r,
        )
        self.response_time = Histogram(
            "switchboard_response_seconds",
            "Business time a customer waited for the first or a next public reply",
            ["target", "queue", "channel"],
            buckets=RESPONSE_BUCKETS,
            registry=r,
        )
        self.backlog = Gauge(
            "switchboard_backlog_open", "Open tickets per queue", ["queue"], registry=r
        )
        self.backlog_waiting = Gauge(
            "switchboard_backlog_waiting",
            "Open tickets per queue waiting on an agent (not pending on the customer)",
            ["queue"],
            registry=r,
        )
        self.backlog_oldest_waiting = Gauge(
            "switchboard_backlog_oldest_waiting_seconds",
            "Age of the oldest wait on an agent per queue (0 when nobody waits)",
            ["queue"],
            registry=r,
        )
        self._rules: tuple[Counter, Gauge] | None = None
        self._rules_labels: tuple[str, str] | None = None

    def _rules_series(self) -> tuple[Counter, Gauge]:
        """``switchboard_rules_*``, registered by the first call: a process without rules
        exports none of them (not even their HELP and TYPE)."""
        if self._rules is None:
            reloads = Counter(
                "switchboard_rules_reloads",
                "Rule reload attempts by outcome (ok, failed: the last good rules still serve)",
                ["outcome"],
                registry=self.registry,
            )
            info = Gauge(
                "switchboard_rules_info",
                "1 for the ruleset in use, by version and content hash",
                ["version", "hash"],
                registry=self.registry,
            )
            self._rules = (reloads, info)
        return self._rules

    def rules_active(self, version: str, content_hash: str) -> None:
        """The ruleset loaded at start (roles that hold rules only; the others export no
        rules series)."""
        self._rules_in_use(version, content_hash)
        reloads, _ = self._rules_series()
        for outcome in ("ok", "failed"):  # both series exist from the start, at 0
            reloads.labels(outcome=outcome)

    def rules_reloaded(self, *, ok: bool, version: str, content_hash: str) -> None:
        """One reload attempt; ``version`` and ``content_hash`` are the rules now in use
        (after a failure, still the last good ones)."""
        reloads, _ = self._rules_series()
        reloads.labels(outcome="ok" if ok else "failed").inc()
        self._rules_in_use(version, content_hash)

    def _rules_in_use(self, version: str, content_hash: str) -> None:
        """Set the new series before removing the old, so no scrape sees none."""
        _, info = self._rules_series()
        labels = (version, content_hash)
        info.labels(*labels).set(1)
        old, self._rules_labels = self._rules_labels, labels
        if old is not None and old != labels:
            info.remove(*old)

    def render(self) -> bytes:
        return generate_latest(self.registry)
