"""Wrong bearer tokens (API tokens, and the chat, voice and email secrets sent as
bearer tokens), per client address: each one logged (``auth_failed``, sampled),
and past ``LIMIT`` in ``WINDOW_S`` a wrong token is answered ``429`` with
``Retry-After`` until the address's oldest failure leaves the window. A right token is
never held back: behind a load balancer every client may reach the ingress from the
balancer's one address (unless uvicorn trusts its ``X-Forwarded-For``:
``FORWARDED_ALLOW_IPS``), and an outsider sending wrong tokens would otherwise lock
every integration out. So the limit does not slow a guesser, whose right guess would
pass: the length of the tokens does that (a short one is warned of at start), and the
log and the ``429`` show the guessing. Without this, two thousand wrong tokens a second
went by unanswered and unlogged.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable

import structlog
from fastapi import Request

from channels.problems import Problem
from channels.signatures import token_digest

log = structlog.get_logger("switchboard.http")

LIMIT = 30
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000
"""Addresses remembered at most; the one failing longest ago is forgotten first."""
LOG_EVERY = 10
"""After an address's first failure in a window, every tenth is logged."""
MAX_LOGGED_PER_MINUTE = 100
"""Wrong tokens logged a minute at most, whatever the addresses (a client rotating its
address would otherwise write a line for each); the rest are counted in one line."""


def wrong_token(request: Request, token: str) -> None:
    """Count a wrong bearer token against the request's client address (and log it); past
    the limit, 429 instead of the 401 it would get."""
    failures: AuthFailures | None = getattr(request.app.state, "auth_failures", None)
    if failures is None:
        return
    address = client_key(request.client.host) if request.client else "unknown"
    route = getattr(request.scope.get("route"), "path", "")
    failures.check(address)  # past the limit: 429
    failures.failed(address, "invalid_token", token, route)


def client_key(host: str) -> str:
    """What failures are counted by: the address, or an IPv6 address's /64, which one
    client can rotate through at will."""
    if ":" not in host:
        return host
    try:
        return str(ipaddress.ip_network(f"{host}/64", strict=False))
    except ValueError:
        return host


class AuthFailures:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._minute = (0, 0)  # (the minute, wrong tokens in it): the log's own limit

    def check(self, address: str) -> None:
        """429 for a wrong token from an address past the limit."""
        failures = self._recent(address)
        if failures is not None and len(failures) >= LIMIT:
            wait = max(1, math.ceil(failures[0] + WINDOW_S - self._now()))
            raise Problem(
                429,
                f"too many requests with a wrong token from this address; retry in {wait} s",
                slug="too-many-failed-tokens",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, address: str, reason: str, token: str, route: str) -> None:
        failures = self._recent(address)
        self._count_minute()
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
            failures = self._failures[address] = deque(maxlen=LIMIT)
        failures.append(self._now())
        self._failures[address] = self._failures.pop(address)  # latest failure last
        count = len(failures)
        if (count == 1 or count % LOG_EVERY == 0) and self._minute[1] <= MAX_LOGGED_PER_MINUTE:
            log.warning(
                "auth_failed",
                client=address,
                route=route,
                reason=reason,
                failures_in_window=count,
                token_sha256=token_digest(token) if token else None,
            )

    def _count_minute(self) -> None:
        minute = int(self._now() // 60)
        if self._minute[0] != minute:
            if self._minute[1] > MAX_LOGGED_PER_MINUTE:
                log.warning("auth_failed_unlogged", failures=self._minute[1])
            self._minute = (minute, 0)
        self._minute = (minute, self._minute[1] + 1)

    def _recent(self, address: str) -> deque[float] | None:
        failures = self._failures.get(address)
        if failures is None:
            return None
        horizon = self._now() - WINDOW_S
        while failures and failures[0] <= horizon:
            failures.popleft()
        if not failures:
            del self._failures[address]
            return None
        return failures

    def _now(self) -> float:
        return self._clock()
