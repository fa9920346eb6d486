"""What the operator tools print: counts in the number they take ("1 ticket erased"), and
options that count refuse a negative number before any work."""

from __future__ import annotations

import io
from typing import Literal

import pytest
import structlog
from typer.testing import CliRunner

from router.app import cli, forget, tools_cli
from router.app.forget import Forgotten
from router.logs import configure_logging
from router.settings import Settings

pytestmark = pytest.mark.unit

ENV = {
    "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
    "SWITCHBOARD_REDIS_URL": "redis://127.0.0.1:1/0",
    "SWITCHBOARD_TOPIC_PREFIX": "sb",
}


@pytest.mark.parametrize(
    ("count", "expected"),
    [(0, "0 tickets"), (1, "1 ticket"), (2, "2 tickets"), (1200, "1,200 tickets")],
)
def test_a_count_takes_the_number_of_its_noun(count: int, expected: str) -> None:
    assert tools_cli.counted(count, "ticket") == expected


def test_an_irregular_plural_is_given() -> None:
    copies = ("re-published copy", "re-published copies")
    assert tools_cli.counted(1, *copies) == "1 re-published copy"
    assert tools_cli.counted(3, *copies) == "3 re-published copies"


def forget_output(monkeypatch: pytest.MonkeyPatch, done: Forgotten) -> str:
    async def nothing(settings: Settings) -> None:
        del settings

    async def erase(settings: Settings, customer: str) -> Forgotten:
        del settings, customer
        return done

    monkeypatch.setattr(tools_cli, "preflight_kafka_redis", nothing)
    monkeypatch.setattr(forget, "forget", erase)
    result = CliRunner().invoke(cli.app, ["forget", "--customer", "ada@example.com"], env=ENV)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def test_forget_of_one_ticket_says_one_ticket(monkeypatch: pytest.MonkeyPatch) -> None:
    done = Forgotten("C-0123456789abcdef", ["T-1"], timers=1, notifications=1)
    said = forget_output(monkeypatch, done)
    assert "1 ticket erased in Redis, 1 tombstone written to sb.ticket-state" in said
    assert "1 timer dropped; 1 parked notification dropped" in said


def test_forget_of_several_tickets_says_tickets(monkeypatch: pytest.MonkeyPatch) -> None:
    done = Forgotten("C-0123456789abcdef", ["T-1", "T-2"], timers=0, notifications=2)
    said = forget_output(monkeypatch, done)
    assert "2 tickets erased in Redis, 2 tombstones written to sb.ticket-state" in said
    assert "0 timers dropped; 2 parked notifications dropped" in said


@pytest.mark.parametrize("limit", ["-3", "-1"])
def test_metrics_verify_refuses_a_negative_limit(limit: str) -> None:
    args = ["metrics", "verify", "--from", "2026-11-24", "--to", "2026-11-24", "--limit", limit]
    result = CliRunner().invoke(cli.app, args, env=ENV)
    assert result.exit_code == 2
    assert "--limit" in result.output


def test_metrics_verify_keeps_log_lines_off_stdout_and_counts_what_it_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its log lines went to stdout in console format whatever the setting, and the
    windows it did not compare were said only there."""
    from router.app import verify

    async def nothing(settings: Settings) -> None:
        del settings

    async def verified(*_: object) -> verify.Verified:
        structlog.get_logger("switchboard.verify").info("metric_windows_not_compared")
        return verify.Verified(windows_recounted=40, windows_found=40, windows_open=15)

    logged = io.BytesIO()  # the runner's own stderr is closed after the command

    def configure(fmt: Literal["json", "console"], level: str) -> None:
        configure_logging(fmt, level, logged)

    monkeypatch.setattr(tools_cli, "check_kafka", nothing)
    monkeypatch.setattr(verify, "verify", verified)
    monkeypatch.setattr(tools_cli, "configure_logging", configure)
    saved = structlog.get_config()
    try:
        args = ["metrics", "verify", "--from", "2026-11-24", "--to", "2026-11-24"]
        result = CliRunner().invoke(cli.app, args, env=ENV)
    finally:
        structlog.configure(**saved)
    assert result.exit_code == 0, result.output
    [summary] = result.stdout.splitlines()
    assert "15 windows still being counted not compared" in summary
