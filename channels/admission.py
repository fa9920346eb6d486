"""Admission: how much work the ingress takes on at once, and what it answers beyond.

A request costs CPU roughly in proportion to its body (a web form well under a
millisecond, a 44 KB HTML email about 40 ms) and waits for Kafka's acknowledgement.
Without a limit, a burst far above capacity (a provider's retry storm, a marketing blast)
was taken in whole: thousands of requests shared the CPU, each answered after the
client's own timeout (Twilio's is 15 s), which it then retried, and the work for clients
long gone went on for minutes. A mature gateway answers the excess at once instead.

Two limits, each answered ``503`` with ``Retry-After`` at once, the body unread and
nothing written, so the client retries later or elsewhere:

- **Work in flight**, counted in request bytes (``Content-Length``, at least
  ``MIN_COST``, at most a quarter of the budget): a hundred web forms fit in the
  budget at once, a dozen large HTML emails. One more waits up to ``wait_s`` for
  room, then is refused.
- **Falling behind**: while the oldest of at least ``SHED_MIN`` requests in flight has
  been worked on for ``shed_after_s`` (a broker that stopped acknowledging), a new one is
  refused at once rather than queued behind them.

The probes and ``/metrics`` are never held back: an overloaded ingress is alive, and
saying so keeps an orchestrator from restarting it, which would make the overload worse."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque

from starlette.types import ASGIApp, Receive, Scope, Send

from channels.problems import Problem, instance_path, problem_response

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
MIN_COST = 4096
"""What a request counts for at least: its headers, the work of any request."""
SHED_MIN = 16
"""Requests in flight below which none is refused for falling behind: one slow request
(a large email) holds nobody else back."""


class Gate:
    """The admission state of one app, shared by its middleware stack and its hot paths."""

    def __init__(self, budget: int, wait_s: float, shed_after_s: float, retry_after_s: int) -> None:
        self.budget = budget
        self.wait_s = wait_s
        self.shed_after_s = shed_after_s
        self.retry_after_s = retry_after_s
        self._used = 0
        self._started: dict[int, tuple[float, int]] = {}  # in flight, oldest first
        self._ids = itertools.count()
        self._line: deque[tuple[int, asyncio.Future[None]]] = deque()

    def cost(self, content_length: int | None) -> int:
        """What a request of ``content_length`` bytes counts for (unknown: a quarter)."""
        most = max(MIN_COST, self.budget // 4)
        return most if content_length is None else min(max(content_length, MIN_COST), most)

    def behind(self) -> bool:
        """Whether the oldest request in flight (of ``SHED_MIN`` or more) is overdue."""
        if len(self._started) < SHED_MIN:
            return False
        oldest, _ = next(iter(self._started.values()))
        return time.monotonic() - oldest > self.shed_after_s

    async def enter(self, cost: int) -> int | None:
        """A ticket for a request that may go on (``leave`` it after), None if refused.
        Requests wait for room in the order they came."""
        if self.behind():
            return None
        if self._line or (self._used + cost > self.budget and self._started):
            room = asyncio.get_running_loop().create_future()
            self._line.append((cost, room))
            try:
                async with asyncio.timeout(self.wait_s):
                    await room
            except TimeoutError:
                if not _given(room):  # else let in just as its time ran out: it goes on
                    self._leave_line(cost, room)
                    return None
            except BaseException:  # cancelled while waiting: its room goes to the next
                if _given(room):
                    self._used -= cost
                    self._let_in()
                else:
                    self._leave_line(cost, room)
                raise
        else:
            self._used += cost
        ticket = next(self._ids)
        self._started[ticket] = (time.monotonic(), cost)
        return ticket

    def leave(self, ticket: int) -> None:
        _, cost = self._started.pop(ticket)
        self._used -= cost
        self._let_in()

    def _leave_line(self, cost: int, room: asyncio.Future[None]) -> None:
        if (cost, room) in self._line:
            self._line.remove((cost, room))

    def _let_in(self) -> None:
        while self._line:  # let in, in order, those the room now fits
            waiting, room = self._line[0]
            if room.done():  # gave up waiting
                self._line.popleft()
                continue
            if self._used + waiting > self.budget and (self._started or self._used):
                break
            self._line.popleft()
            self._used += waiting
            room.set_result(None)

    def refusal(self) -> Problem:
        return Problem(
            503,
            f"the ingress is at capacity (its work in flight at the limit, or more than "
            f"{self.shed_after_s:g} s behind): nothing was read or written; retry after "
            f"{self.retry_after_s} s",
            slug="overloaded",
            headers={"Retry-After": str(self.retry_after_s)},
        )


class Admission:
    """The ASGI middleware that takes room at the ``Gate`` for each request."""

    def __init__(self, app: ASGIApp, gate: Gate) -> None:
        self.app = app
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        ticket = await self.gate.enter(self.gate.cost(_content_length(scope)))
        if ticket is None:
            await problem_response(self.gate.refusal(), instance_path(scope))(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.gate.leave(ticket)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None if scope["method"] == "POST" else 0


def _given(room: asyncio.Future[None]) -> bool:
    """Whether a waiting request's room was given (``Gate._let_in``), not given up."""
    return room.done() and not room.cancelled()
