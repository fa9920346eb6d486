"""The read API on the ingress app: tickets, customers, queues and agents as the roles'
Redis state has them. Bearer tokens from ``SWITCHBOARD_API_TOKENS`` or
``SWITCHBOARD_API_READ_TOKENS``; unknown ids are 404.

Composed here, not in ``channels/``: the state stores belong to the consumers, and only
the composition root may import both. Where the figures come from:

- tickets and customers: the router's thread store (``consumers/state/threads.py``);
- ``/v1/queues``: ``open``, ``waiting`` and ``oldest_waiting_seconds`` are the backlog
  gauges of the workload metric (kept by the ``metrics`` role); ``unassigned`` counts the
  waiting line (kept by the ``timers`` role), which ``/v1/queues/{name}/waiting`` lists in
  the order it will be served; agents and free seats come from the agents' presence;
- queue skills and default capacities come from the rules when this process can read them
  (``SWITCHBOARD_RULES_PATH``); without them ``skills`` is null and agents are not
  matched to queues.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote, unquote_to_bytes, urlencode

import orjson
import structlog
from fastapi import APIRouter, Depends, FastAPI, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import AfterValidator, BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor

from channels.bearer import BEARER, PrivateRoute, authorize
from channels.models import LINK_NEXT, NO_STORE, problem_response_of
from channels.problems import Problem, invalid_fields
from consumers.domain.assignment import parse_member
from consumers.state.agents import AgentRecord, AgentStore
from consumers.state.backlog import Backlog
from consumers.state.threads import RedisThreadStore
from consumers.state.waiting import PAGE as LINE_PAGE
from consumers.state.waiting import Entry, WaitingLine
from router.actions import NoControls
from router.app.rules_on_disk import RulesOnDisk
from router.events import Ticket
from router.health import HeadRoute, NotReady
from router.identity import normalize_email, normalize_phone
from router.redis import RedisClient
from router.settings import Settings
from router.vocabulary import CHANNELS
from rules import RuleSet

log = structlog.get_logger("switchboard.read_api")
MAX_LIST = 1000
DEFAULT_LIST = 100
MAX_ID = 1024
"""Longer than any id or identity the ingress takes (an email of 254 characters, a
``customer.upserted`` email of 320, a Messenger handle of 400, each with its prefix)."""
Id = Annotated[
    str, PathParam(min_length=1, max_length=MAX_ID), AfterValidator(str.strip), NoControls
]
"""An id as the ingress stores it: without the spaces around it, and never holding a
control character (``router.actions.Ident``: such an id names nothing, a 400 at it)."""


class IdPathConvertor(Convertor[str]):
    """``{name:id_path}``: the rest of the path, ``/`` included (an agent ``team/ann``),
    as Starlette's ``path``, but never empty. ``/v1/tickets/`` names no ticket: it is the
    404 of any path no endpoint serves (a trailing slash), not a 400 about an empty id."""

    regex = ".+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id_path", IdPathConvertor())  # Starlette keeps one registry
Limit = Annotated[
    int, Query(ge=1, le=MAX_LIST, description=f"Items per page (at most {MAX_LIST}).")
]
Cursor = Annotated[
    str | None,
    Query(max_length=2 * MAX_ID, description="`next_cursor` of the previous page."),
]


# --- response models --------------------------------------------------------------------
class CustomerTickets(BaseModel):
    customer_id: str
    tickets: list[Ticket] = Field(description="Oldest first (this page of them).")
    total: int = Field(description="Tickets in the whole list, every page.")
    next_cursor: str | None = Field(description="`cursor` of the next page; null: the last.")


class QueueSummary(BaseModel):
    name: str
    skills: list[str] | None = Field(description="From the rules; null: rules not readable.")
    open: int = Field(description="Tickets not resolved or closed.")
    waiting: int = Field(description="Open tickets waiting on an agent (new or open).")
    oldest_waiting_seconds: int
    unassigned: int = Field(description="Tickets in the waiting line: no agent holds them.")
    agents_online: int = Field(description="Online agents with every skill of the queue.")
    free_seats: dict[str, int] = Field(description="Their free capacity, per channel.")


class WaitingTicket(BaseModel):
    position: int = Field(description="1: served next.")
    ticket_id: str
    priority: str
    channel: str
    created_at: datetime
    waiting_seconds: int
    assignment_round: int
    ticket: Ticket | None = Field(description="The current snapshot (null: gone meanwhile).")


class WaitingLineBody(BaseModel):
    queue: str
    tickets: list[WaitingTicket]
    total: int = Field(description="Tickets waiting in the queue's line (as `unassigned`).")
    next_cursor: str | None = Field(description="`cursor` of the next page; null: the last.")


class Agent(BaseModel):
    id: str
    status: str = Field(description="online | away | offline")
    skills: list[str]
    capacity: dict[str, int] = Field(description="Seats per channel (stated, else the rules').")
    load: dict[str, int] = Field(description="Tickets held per channel.")
    free: dict[str, int] = Field(description="Free seats per channel (0 when not online).")
    tickets: dict[str, list[str]] = Field(description="The tickets held, per channel.")


# --- the state behind the routes ----------------------------------------------------------
@dataclass
class ReadState:
    threads: RedisThreadStore
    agents: AgentStore
    line: WaitingLine
    backlog: Backlog
    rules_on_disk: RulesOnDisk

    def rules(self) -> RuleSet | None:
        """The rules as last readable (``RulesOnDisk``)."""
        return self.rules_on_disk.current()

    def queues(self) -> frozenset[str] | None:
        """The queues the rules declare; None when they cannot be read."""
        rules = self.rules()
        return frozenset(rules.queues) if rules is not None else None

    def ready_note(self) -> str | None:
        """For ``/readyz`` (``rules``): the version read, or not ready when the rules
        were never readable (transfers' queues would go unchecked)."""
        rules = self.rules()
        if rules is None:
            raise NotReady(f"the rules at {self.rules_on_disk.path} cannot be read")
        return f"version {rules.version}"

    def rules_version(self) -> str | None:
        """The version of the rules ``queues`` reads; None when they cannot be read."""
        rules = self.rules()
        return rules.version if rules is not None else None


def agent_body(record: AgentRecord, defaults: dict[str, int]) -> Agent:
    capacity = {ch: record.capacity.get(ch, defaults.get(ch, 1)) for ch in CHANNELS}
    load = {ch: len(record.tickets.get(ch, ())) for ch in CHANNELS}
    online = record.status == "online"
    free = {ch: max(0, capacity[ch] - load[ch]) if online else 0 for ch in CHANNELS}
    return Agent(
        id=record.agent_id,
        status=record.status,
        skills=sorted(record.skills),
        capacity=capacity,
        load=load,
        free=free,
        tickets=record.tickets,
    )


def _responses(*statuses: int, paged: bool = False) -> dict[int | str, dict[str, Any]]:
    """The answers of a read route: its 200 (FastAPI's, with the headers said here), then
    problem+json. Every one says ``Cache-Control: no-store`` (``PrivateRoute``); a page
    of a list names the next in ``Link``."""
    text = {
        400: "A request it cannot read: a header sent twice, an id or a cursor that names "
        "nothing this API made",
        401: "Missing or invalid bearer token",
        403: "An action token (SWITCHBOARD_API_ACTION_TOKENS), which may not read",
        404: "No such ticket, customer, queue or agent",
        429: "A wrong bearer token from an address that sent too many within a minute; "
        "see Retry-After. A right token is never refused",
        503: "Redis not answering or its state lost (until `state rebuild`), or the ingress "
        "at capacity; see Retry-After",
    }
    ok = {"headers": {**NO_STORE, **(LINK_NEXT if paged else {})}}
    return {200: ok, **{s: problem_response_of(s, text[s]) for s in statuses}}


class ReadRoute(HeadRoute, PrivateRoute):
    """A read route: answers HEAD as GET (``HeadRoute``), every answer ``no-store``."""


def encode_cursor(position: dict[str, Any]) -> str:
    """An opaque cursor: where the next page starts, as the client passes it back."""
    return base64.urlsafe_b64encode(orjson.dumps(position)).decode().rstrip("=")


def decode_cursor(cursor: str | None, **fields: type) -> dict[str, Any] | None:
    """The position a cursor holds, each field of its type (None: the first page); 400 at
    the parameter when it is not one this API made."""
    if cursor is None:
        return None
    try:
        position = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except ValueError:
        position = None
    if not (
        isinstance(position, dict)
        and set(position) == set(fields)
        # exactly of its type: a bool is an int to isinstance, never a cursor's offset
        and all(type(position[f]) is t for f, t in fields.items())
        and all(v >= 0 for v in position.values() if isinstance(v, int))
    ):
        raise foreign_cursor()
    return position


def foreign_cursor() -> Problem:
    """400 at the parameter for a cursor made by another list (or by none): read there, it
    would hold a place that is not in this one, and a pager would stop short."""
    return invalid_fields(
        [{"pointer": "/query/cursor", "detail": "not a cursor of this list; start without"}]
    )


def link_next(request: Request, response: Response, cursor: str | None, limit: int) -> None:
    """``Link: <...>; rel="next"`` (RFC 8288), relative: the client's own host and path."""
    if cursor is not None:
        query = urlencode({"limit": limit, "cursor": cursor})
        response.headers["Link"] = f'<{quote(request.url.path)}?{query}>; rel="next"'


def bearer_of(settings: Settings) -> Callable[[Request], None]:
    """The dependency that lets through a request with a token that may read (else 401;
    an action token: 403)."""

    def bearer(request: Request) -> None:
        authorize(request, settings.tokens("read"), settings.tokens("actions"))

    return bearer


async def require_utf8_path(request: Request) -> None:
    """400 at the path parameter (``/path/agent_id``) of a path whose percent-escapes are
    no UTF-8 (``/v1/agents/%FF``). Starlette decodes them with U+FFFD in their place,
    which could name a real id; the ingress refuses such bytes the same way. A coroutine:
    FastAPI would run a plain function in its thread pool."""
    raw = request.scope.get("raw_path")
    if not raw:
        return
    try:
        unquote_to_bytes(raw.partition(b"?")[0]).decode("utf-8")
    except UnicodeDecodeError:
        params = request.path_params
        named = [name for name, value in params.items() if "\ufffd" in str(value)]
        detail = "percent-escaped bytes that are not UTF-8; no id holds them"
        raise invalid_fields(
            [{"pointer": f"/path/{name}", "detail": detail} for name in named or params]
        ) from None


def one_each(tickets: list[Ticket]) -> list[Ticket]:
    """Each ticket once, where it first comes: a merged customer's ticket that the
    survivor also wrote on is both in the merged customer's list and in theirs."""
    first: dict[str, Ticket] = {}
    for ticket in tickets:
        first.setdefault(ticket.id, ticket)
    return list(first.values())


def build_router(state: ReadState, settings: Settings) -> APIRouter:
    router = APIRouter(
        tags=["read"],
        dependencies=[
            Depends(BEARER),
            Depends(bearer_of(settings)),
            Depends(require_utf8_path),
        ],
        route_class=ReadRoute,
    )
    errors = _responses(400, 401, 403, 404, 429, 503)

    @router.get(
        "/v1/tickets/{ticket_id:id_path}",
        response_model=Ticket,
        responses=errors,
        summary="A ticket's current snapshot",
    )
    async def ticket(ticket_id: Id) -> Ticket:
        [found] = await state.threads.tickets([ticket_id])
        if found is None:
            raise Problem(404, f"no ticket {ticket_id!r}", slug="unknown-ticket")
        return found

    @router.get(
        "/v1/customers/{customer_id:id_path}/tickets",
        response_model=CustomerTickets,
        responses=_responses(400, 401, 403, 404, 429, 503, paged=True),
        summary="Every ticket of a customer",
        description="The id is a customer id (`C-...`) or one of the customer's "
        "identities: `email:ada@example.com`, `phone:+15551234567`. Their own tickets "
        "first (with those of customers merged into them), then the tickets of others "
        "they wrote on (a reply in someone's thread); each ticket's `customer_id` is "
        "its own customer's. A page at a time: `limit` (default "
        f"{DEFAULT_LIST}, at most {MAX_LIST}), then `cursor` = the answer's `next_cursor` "
        '(also in `Link: <...>; rel="next"`) until it is null. A cursor is for the '
        "customer whose list made it: on another's it is 400.",
    )
    async def customer_tickets(
        customer_id: Id,
        request: Request,
        response: Response,
        limit: Limit = DEFAULT_LIST,
        cursor: Cursor = None,
    ) -> CustomerTickets:
        start = decode_cursor(cursor, c=str, o=int)
        offset = int(start["o"]) if start else 0
        customer = customer_id
        if ":" in customer_id:
            owner = await state.threads.customer_of(identity_key(customer_id))
            if owner is None:
                raise Problem(404, f"no customer {customer_id!r}", slug="unknown-customer")
            customer = owner
        customer = await state.threads.survivor_of(customer)  # merged: the one it is now
        tickets = await state.threads.customer_tickets(customer)
        for merged in await state.threads.merged_customers(customer):  # one person
            tickets += await state.threads.customer_tickets(merged)
        tickets += await state.threads.participated_tickets(customer)
        tickets = one_each(tickets)
        if not tickets and not await state.threads.customer_known(customer):
            raise Problem(404, f"no customer {customer_id!r}", slug="unknown-customer")
        if start and start["c"] != customer:  # another customer's list: its place is not ours
            raise foreign_cursor()
        end = offset + limit
        following = encode_cursor({"c": customer, "o": end}) if end < len(tickets) else None
        link_next(request, response, following, limit)
        return CustomerTickets(
            customer_id=customer,
            tickets=tickets[offset:end],
            total=len(tickets),
            next_cursor=following,
        )

    @router.get(
        "/v1/queues",
        response_model=list[QueueSummary],
        responses=_responses(400, 401, 403, 429, 503),
        summary="Every queue: backlog, waiting line, agents online and free seats",
    )
    async def queues() -> list[QueueSummary]:
        return await _queues(state)

    @router.get(
        "/v1/queues/{name}/waiting",
        response_model=WaitingLineBody,
        responses=_responses(400, 401, 403, 404, 429, 503, paged=True),
        summary="A queue's waiting line, in the order it will be served",
        description=f"A page at a time: `limit` (default {DEFAULT_LIST}, at most "
        f"{MAX_LIST}), then `cursor` = the answer's `next_cursor` (also in "
        '`Link: <...>; rel="next"`) until it is null. A cursor holds a place in line: '
        "tickets that join or leave meanwhile do not shift the pages after it. One "
        f"request reads at most {LINE_SCAN:,} places of the line (every queue's tickets): "
        "a page may come short or empty, with a cursor where the walk stopped.",
    )
    async def waiting(
        name: Id,
        request: Request,
        response: Response,
        limit: Limit = DEFAULT_LIST,
        cursor: Cursor = None,
    ) -> WaitingLineBody:
        start = decode_cursor(cursor, q=str, s=float, m=str, p=int)
        if start is not None and start["q"] != name:
            raise foreign_cursor()
        if not await _known_queue(state, name):
            raise Problem(404, f"no queue {name!r}", slug="unknown-queue")
        after = Entry(str(start["m"]), float(start["s"])) if start else None
        served = int(start["p"]) if start else 0
        tickets, last = await _line(state, name, limit, after, served)
        following = _line_cursor(name, last, served + len(tickets))
        link_next(request, response, following, limit)
        counts = await state.line.waiting()
        total = sum(n for need, n in counts.items() if need.partition("|")[2] == name)
        return WaitingLineBody(queue=name, tickets=tickets, total=total, next_cursor=following)

    @router.get(
        "/v1/agents",
        response_model=list[Agent],
        responses=_responses(400, 401, 403, 429, 503, paged=True),
        summary="Every agent: presence, skills, capacity and load per channel",
        description="Sorted by id. Without `limit`, every agent ever seen in one answer "
        "(about 0.5 ms each). With `limit` (at most "
        f"{MAX_LIST}), a page at a time: the next is named in "
        '`Link: <...>; rel="next"` (`cursor` = where it starts) until there is none.',
    )
    async def agents(
        request: Request,
        response: Response,
        limit: Annotated[
            int | None,
            Query(ge=1, le=MAX_LIST, description="Agents per page; all when left out."),
        ] = None,
        cursor: Cursor = None,
    ) -> list[Agent]:
        records = await _agents_page(state, limit, cursor, request, response)
        defaults = _default_capacity(state)
        return [agent_body(r, defaults) for r in records]

    @router.get(
        "/v1/agents/{agent_id:id_path}",
        response_model=Agent,
        responses=errors,
        summary="One agent: presence, skills, capacity, load and tickets held",
    )
    async def agent(agent_id: Id) -> Agent:
        found = await state.agents.records([agent_id])
        if not found:
            raise Problem(404, f"no agent {agent_id!r}", slug="unknown-agent")
        return agent_body(found[0], _default_capacity(state))

    return router


async def _agents_page(
    state: ReadState, limit: int | None, cursor: str | None, request: Request, response: Response
) -> list[AgentRecord]:
    """Every agent (no ``limit``, no cursor), or the ``limit`` agents after the cursor's
    in id order, the next page named in ``Link``."""
    start = decode_cursor(cursor, a=str)
    if limit is None and start is None:
        return await state.agents.records()
    ids = await state.agents.ids()
    after = str(start["a"]) if start else None
    page = [a for a in ids if after is None or a > after][: limit or DEFAULT_LIST]
    following = encode_cursor({"a": page[-1]}) if page and page[-1] != ids[-1] else None
    link_next(request, response, following, limit or DEFAULT_LIST)
    return await state.agents.records(page)


def identity_key(text: str) -> str:
    """``email:Eve@Example.com`` or ``phone:1 415 867 5309`` as the ingress keys them, so a
    helpdesk may pass an address as it displays it."""
    kind, _, value = text.partition(":")
    try:
        if kind == "email":
            return f"email:{normalize_email(value)}"
        if kind == "phone":
            return f"phone:{normalize_phone(value)}"
    except ValueError:
        pass
    return text


def _default_capacity(state: ReadState) -> dict[str, int]:
    rules = state.rules()
    return dict(rules.assignment.capacity) if rules else {}


async def _known_queue(state: ReadState, name: str) -> bool:
    """In the rules, or seen by the backlog or the waiting line."""
    rules = state.rules()
    if rules is not None and name in rules.queues:
        return True
    if name in await state.backlog.gauges(time.time()):
        return True
    return any(need.partition("|")[2] == name for need in await state.line.waiting())


async def _queues(state: ReadState) -> list[QueueSummary]:
    rules = state.rules()
    skills = {name: sorted(q.skills) for name, q in rules.queues.items()} if rules else {}
    gauges = await state.backlog.gauges(time.time())
    unassigned: dict[str, int] = {}
    for need, n in (await state.line.waiting()).items():
        queue = need.partition("|")[2]
        unassigned[queue] = unassigned.get(queue, 0) + n
    names = sorted(set(skills) | set(gauges) | set(unassigned))
    defaults = _default_capacity(state)
    present = await state.agents.records(await state.agents.online())  # not all ever seen
    online = [agent_body(r, defaults) for r in present if r.status == "online"]
    out = []
    for name in names:
        needed = set(skills[name]) if name in skills else None
        able = [a for a in online if needed is not None and needed <= set(a.skills)]
        seats = {ch: sum(a.free[ch] for a in able) for ch in CHANNELS}
        g = gauges.get(name, {})
        out.append(
            QueueSummary(
                name=name,
                skills=skills.get(name),
                open=g.get("open", 0),
                waiting=g.get("waiting", 0),
                oldest_waiting_seconds=g.get("oldest_waiting_seconds", 0),
                unassigned=unassigned.get(name, 0),
                agents_online=len(able),
                free_seats=seats,
            )
        )
    return out


def _line_cursor(queue: str, last: Entry | None, served: int) -> str | None:
    """Where the next page of a queue's line starts: after ``last``, ``served`` before."""
    if last is None:
        return None
    return encode_cursor({"q": queue, "s": last.score, "m": last.member, "p": served})


LINE_SCAN = 5000
"""Places in line one waiting-line request reads at most (about 50 ms)."""


async def _line(
    state: ReadState, queue: str, limit: int, after: Entry | None, served: int
) -> tuple[list[WaitingTicket], Entry | None]:
    """Up to ``limit`` tickets of ``queue`` in line order after ``after`` (``served``
    before it), walking the line page by page; and the place the next page starts after
    (None: this is the end). The line holds every queue's tickets: after ``LINE_SCAN``
    places read, the page ends where the walk is, shorter (even empty), its cursor
    there, so no request reads the whole line of others' tickets in front of a small
    queue's."""
    out: list[tuple[Entry, WaitingTicket]] = []
    now = time.time()
    scanned = 0
    while len(out) <= limit:
        if scanned >= LINE_SCAN and after is not None:
            return [w for _, w in out], after
        page = await state.line.page(after, min(LINE_PAGE, LINE_SCAN))
        scanned += len(page)
        if not page:
            break
        needs = await state.line.needs_of(page)
        picked = [
            e
            for e, need in zip(page, needs, strict=True)
            if need is None or need.partition("|")[2] == queue
        ]
        tickets = await state.threads.tickets([parse_member(e.member)[0] for e in picked])
        for entry, ticket in zip(picked, tickets, strict=True):
            if ticket is None or ticket.queue != queue:
                continue  # needs unknown (an older entry) and another queue's, or gone
            ticket_id, round_ = parse_member(entry.member)
            waited = WaitingTicket(
                position=served + len(out) + 1,
                ticket_id=ticket_id,
                priority=ticket.priority,
                channel=ticket.channel,
                created_at=ticket.created_at,
                waiting_seconds=max(0, int(now - ticket.created_at.timestamp())),
                assignment_round=round_,
                ticket=ticket,
            )
            out.append((entry, waited))
        after = page[-1]
    more = len(out) > limit
    out = out[:limit]
    return [w for _, w in out], (out[-1][0] if more else None)


def include_read_api(app: FastAPI, settings: Settings, redis: RedisClient) -> ReadState:
    """Add the read routes to the ingress ``app``, on the stores of ``redis``; the state
    behind them, whose rules the ingress also checks actions against."""
    prefix = settings.topic_prefix
    state = ReadState(
        RedisThreadStore(redis, ttl_s=settings.redis.dedupe_ttl_s, prefix=prefix),
        AgentStore(redis, prefix=prefix),
        WaitingLine(redis, prefix=prefix, shards=settings.timers_shards),
        Backlog(redis, prefix=prefix),
        RulesOnDisk(settings.rules_path),
    )
    app.include_router(build_router(state, settings))
    return state
