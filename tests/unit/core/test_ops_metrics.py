"""What every role's ``/metrics`` shows beyond the ingress: its own probes and scrapes
counted, and the process's figures (memory, file descriptors, CPU)."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from router.health import ReadyCheck, ops_app
from router.observability import Telemetry

pytestmark = pytest.mark.unit


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape_after(calls: list[tuple[str, str]]) -> str:
    checks: dict[str, ReadyCheck] = {}
    app = ops_app(Telemetry(), lambda: checks)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://ops"
    ) as client:
        for method, path in calls:
            await client.request(method, path)
        resp = await client.get("/metrics")
    assert resp.status_code == 200
    return resp.text


def requests(route: str, status: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return "switchboard_http_requests_total", frozenset({("route", route), ("status", status)})


async def test_a_role_without_ingress_counts_its_probes_by_route_and_status() -> None:
    text = await scrape_after(
        [
            ("GET", "/healthz"),
            ("GET", "/healthz"),
            ("HEAD", "/healthz"),
            ("GET", "/readyz"),
            ("GET", "/nowhere"),
            ("POST", "/healthz"),
            ("GET", "/metrics"),
        ]
    )
    found = samples(text)
    assert found[requests("/healthz", "200")] == 3
    assert found[requests("/readyz", "200")] == 1
    assert found[requests("/metrics", "200")] == 1  # the scrape before this one
    assert found[requests("unmatched", "404")] == 1
    assert found[requests("/healthz", "405")] == 1
    count = ("switchboard_http_request_seconds_count", frozenset({("route", "/healthz")}))
    assert found[count] == 4


async def test_every_role_exports_the_process_figures() -> None:
    """Operators watch open file descriptors against the limit (README,
    SWITCHBOARD_HTTP_MAX_CONNECTIONS) and memory against the pod's."""
    names = {name for name, _ in samples(await scrape_after([]))}
    for name in (
        "process_open_fds",
        "process_max_fds",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "python_gc_collections_total",
        "python_info",
    ):
        assert name in names, name


def test_several_telemetries_live_in_one_process() -> None:
    """Tests and ``dev`` build more than one; each has its own process collectors."""
    first, second = Telemetry(), Telemetry()
    for telemetry in (first, second):
        assert b"process_open_fds " in telemetry.render()
