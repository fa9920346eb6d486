"""Wrong bearer tokens per client address (``AuthFailures``): logged without the token,
and past the limit within the window the address is refused with 429 until its oldest
failure leaves the window."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from channels.auth_failures import LIMIT, WINDOW_S, AuthFailures
from channels.problems import Problem

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_past_the_limit_waits_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    failures = AuthFailures(clock)
    for _ in range(LIMIT):
        failures.check("203.0.113.7")
        failures.failed("203.0.113.7", "invalid_token", "guess", "/v1/actions")
        clock.now += 1
    with pytest.raises(Problem) as refused:
        failures.check("203.0.113.7")
    assert refused.value.status == 429
    wait = int(refused.value.headers["Retry-After"])
    assert wait == WINDOW_S - LIMIT
    failures.check("198.51.100.1")  # another address is not held back
    clock.now += wait
    failures.check("203.0.113.7")  # the oldest failure left the window


def test_failures_are_logged_sampled_and_without_the_token() -> None:
    failures = AuthFailures(Clock())
    with capture_logs() as logs:
        for n in range(LIMIT):
            failures.failed("203.0.113.7", "invalid_token", f"secret-guess-{n}", "/v1/actions")
    failed = [e for e in logs if e["event"] == "auth_failed"]
    assert [e["failures_in_window"] for e in failed] == [1, 10, 20, 30]
    assert all(e["client"] == "203.0.113.7" and e["route"] == "/v1/actions" for e in failed)
    assert "secret-guess" not in repr(logs)
    assert all(len(e["token_sha256"]) == 12 for e in failed)


def test_short_api_tokens_are_warned_of_at_start_by_count_never_by_value() -> None:
    from pydantic import SecretStr

    from router.app.cli import warn_open_channels
    from router.settings import Settings

    strong = "f" * 48
    settings = Settings(
        api_tokens=SecretStr(f"tok-1, {strong}, 1234"),
        open_channels="chat,voice,email,sms,whatsapp,messenger",
    )
    with capture_logs() as logs:
        warn_open_channels(settings)
    [short] = [e for e in logs if e["event"] == "api_tokens_short"]
    assert short["tokens"] == 2
    assert "tok-1" not in repr(logs)
    with capture_logs() as logs:
        warn_open_channels(
            Settings(
                api_tokens=SecretStr(strong),
                open_channels="chat,voice,email,sms,whatsapp,messenger",
            )
        )
    assert not [e for e in logs if e["event"] == "api_tokens_short"]


def test_an_ipv6_client_rotating_within_its_64_is_one_address() -> None:
    from channels.auth_failures import client_key

    assert (
        client_key("2001:db8:1:2::17")
        == client_key("2001:db8:1:2:aaaa::9")
        == ("2001:db8:1:2::/64")
    )
    assert client_key("2001:db8:1:3::17") != client_key("2001:db8:1:2::17")
    assert client_key("203.0.113.7") == "203.0.113.7"


def test_the_log_writes_at_most_a_hundred_lines_a_minute_then_counts_the_rest() -> None:
    from channels.auth_failures import MAX_LOGGED_PER_MINUTE

    clock = Clock()
    failures = AuthFailures(clock)
    with capture_logs() as logs:
        for n in range(500):  # each from an address of its own
            failures.failed(f"198.51.100.{n}", "invalid_token", "guess", "/v1/actions")
        clock.now += 60
        failures.failed("203.0.113.7", "invalid_token", "guess", "/v1/actions")
    lines = [e for e in logs if e["event"] == "auth_failed"]
    assert len(lines) == MAX_LOGGED_PER_MINUTE + 1  # the next minute's first is logged
    [summary] = [e for e in logs if e["event"] == "auth_failed_unlogged"]
    assert summary["failures"] == 500
