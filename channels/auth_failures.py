"""Failed bearer tokens, per client address: each one logged (``auth_failed``, sampled),
and an address past ``LIMIT`` failures in ``WINDOW_S`` answered ``429`` with
``Retry-After`` until its oldest failure leaves the window, whatever token it sends. A
token of 32 random characters cannot be guessed online either way; a short one can, and
without this two thousand guesses a second went by unanswered and unlogged.

The address is the one the HTTP server reports: behind a load balancer, the client's
own when uvicorn is told to trust the balancer's ``X-Forwarded-For``
(``FORWARDED_ALLOW_IPS``), else the balancer's, which a guessing client then shares
with everyone behind it: the limit is high enough for no real integration to meet."""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Callable

import structlog

from channels.problems import Problem

log = structlog.get_logger("switchboard.http")

LIMIT = 30
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000
"""Addresses remembered at most; the one failing longest ago is forgotten first."""
LOG_EVERY = 10
"""After an address's first failure in a window, every tenth is logged."""


class AuthFailures:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        """429 for an address past the limit (before its token is looked at)."""
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
        if failures is None:
            if len(self._failures) >= MAX_ADDRESSES:
                del self._failures[next(iter(self._failures))]
            failures = self._failures[address] = deque(maxlen=LIMIT)
        failures.append(self._now())
        self._failures[address] = self._failures.pop(address)  # latest failure last
        count = len(failures)
        if count == 1 or count % LOG_EVERY == 0:
            log.warning(
                "auth_failed",
                client=address,
                route=route,
                reason=reason,
                failures_in_window=count,
                token_sha256=hashlib.sha256(token.encode()).hexdigest()[:12] if token else None,
            )

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
