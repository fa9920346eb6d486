"""The read API's HTTP contract against real valkey, on state written as the roles write
it: ids with ``/`` and long identities served back, HEAD, ``no-store``, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from pydantic import SecretStr

from consumers.state.agents import AgentStore
from consumers.state.threads import Commit, RedisThreadStore
from consumers.state.waiting import WaitingLine
from router.events import Ticket, utcnow
from router.redis import RedisClient, make_redis
from router.settings import Settings
from tests.component.channels.support import assert_problem, client_for
from tests.component.pipeline.conftest import RULES

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer read-token"}


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[RedisClient]:
    client = make_redis(settings)
    yield client
    await client.aclose()


@pytest.fixture
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    update = {"rules_path": RULES, "api_tokens": SecretStr("read-token")}
    async with client_for(settings.model_copy(update=update)) as client:
        yield client


async def customer_with_tickets(
    settings: Settings, redis: RedisClient, identity: str, count: int, queue: str | None = None
) -> tuple[str, list[Ticket]]:
    """A customer known by ``identity`` with ``count`` tickets, committed as the router does."""
    store = RedisThreadStore(redis, ttl_s=600, prefix=settings.topic_prefix)
    [customer] = await store.resolve_customers([[identity]])
    start = utcnow() - timedelta(hours=1)
    tickets = [
        Ticket(
            id=f"T-{identity[-6:]}-{i}",
            channel="webform",
            customer_id=customer,
            created_at=start + timedelta(seconds=i),
            updated_at=start + timedelta(seconds=i),
            queue=queue,
        )
        for i in range(count)
    ]
    commits = [Commit(customer, f"e-{t.id}", t, expected_version=0) for t in tickets]
    assert await store.commit_many(commits) == ["OK"] * count
    return customer, tickets


async def test_an_agent_id_with_a_slash_is_served_back(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """``agent.presence`` takes ``team/ann``; ``%2F`` is decoded before routing, so the
    last segment takes the rest of the path."""
    await AgentStore(redis, prefix=settings.topic_prefix).presence("team/ann", "online", [], {})
    for path in ("/v1/agents/team%2Fann", "/v1/agents/team/ann"):
        resp = await http.get(path, headers=AUTH)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["id"] == "team/ann"


async def test_an_id_sent_with_spaces_around_it_reads_back_by_the_same_string(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """The ingress stores ``"sp ace "`` as ``sp ace`` (ids are trimmed); the read API
    trims what it is asked for the same way, so the string that was sent finds it."""
    await AgentStore(redis, prefix=settings.topic_prefix).presence("sp ace", "online", [], {})
    for path in ("/v1/agents/sp%20ace%20", "/v1/agents/%20sp%20ace", "/v1/agents/sp%20ace"):
        resp = await http.get(path, headers=AUTH)
        assert resp.status_code == 200, (path, resp.text)
        assert resp.json()["id"] == "sp ace"


async def test_a_long_email_with_a_slash_is_a_customer_id_the_api_reads(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """A 198-character address was refused as over 200 characters; a ``/`` in its local
    part was a path separator."""
    email = "a/" + "x" * (198 - len("a/@example.com")) + "@example.com"
    assert len(email) == 198
    customer, tickets = await customer_with_tickets(settings, redis, f"email:{email}", 1)
    resp = await http.get(f"/v1/customers/email:{email.replace('/', '%2F')}/tickets", headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.json()["customer_id"] == customer
    assert [t["id"] for t in resp.json()["tickets"]] == [tickets[0].id]
    longest = "email:" + "y" * 242 + "@example.com"  # 254 characters of address
    assert_problem(await http.get(f"/v1/customers/{longest}/tickets", headers=AUTH), 404)


async def test_head_answers_every_read_route_without_a_body(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    await AgentStore(redis, prefix=settings.topic_prefix).presence("a-1", "online", [], {})
    for path in ("/v1/agents/a-1", "/v1/agents", "/v1/queues"):
        got = await http.get(path, headers=AUTH)
        head = await http.head(path, headers=AUTH)
        assert (head.status_code, got.status_code) == (200, 200), path
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        assert head.headers["content-length"] == got.headers["content-length"]
    assert (await http.head("/v1/agents/nobody", headers=AUTH)).status_code == 404
    assert (await http.head("/v1/agents/a-1")).status_code == 401
    refused = assert_problem(await http.post("/v1/agents/a-1", headers=AUTH), 405)
    assert refused["status"] == 405
    assert (await http.post("/v1/agents/a-1", headers=AUTH)).headers["allow"] == "GET, HEAD"


async def test_read_answers_are_never_stored_by_caches(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    await AgentStore(redis, prefix=settings.topic_prefix).presence("a-1", "online", [], {})
    for path, status in (("/v1/agents/a-1", 200), ("/v1/tickets/T-none", 404)):
        resp = await http.get(path, headers=AUTH)
        assert resp.status_code == status
        assert resp.headers["cache-control"] == "no-store", path
    assert (await http.get("/v1/agents/a-1")).headers["cache-control"] == "no-store"  # 401


async def test_a_customers_tickets_come_a_page_at_a_time(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    customer, tickets = await customer_with_tickets(settings, redis, "email:pages@example.com", 5)
    url = f"/v1/customers/{customer}/tickets"
    seen: list[str] = []
    resp = await http.get(url, params={"limit": 2}, headers=AUTH)
    pages = 0
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["total"] == 5
        seen += [t["id"] for t in body["tickets"]]
        pages += 1
        if body["next_cursor"] is None:
            assert "link" not in resp.headers
            break
        assert resp.headers["link"].endswith('>; rel="next"')
        link = resp.headers["link"][1:].split(">;")[0]
        resp = await http.get(link, headers=AUTH)  # the Link is the same page as the cursor
    assert seen == [t.id for t in tickets]
    assert pages == 3
    whole = await http.get(url, headers=AUTH)
    assert whole.json()["next_cursor"] is None
    assert len(whole.json()["tickets"]) == 5
    for params, pointer in (
        ({"limit": 0}, "/query/limit"),
        ({"limit": 1001}, "/query/limit"),
        ({"cursor": "not-ours"}, "/query/cursor"),
    ):
        assert_problem(await http.get(url, params=params, headers=AUTH), 400, pointer)


async def test_a_waiting_line_comes_a_page_at_a_time_past_any_position(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    _, tickets = await customer_with_tickets(
        settings, redis, "email:line@example.com", 5, queue="billing"
    )
    await WaitingLine(redis, prefix=settings.topic_prefix, shards=settings.timers_shards).follow(
        tickets
    )
    url = "/v1/queues/billing/waiting"
    first = await http.get(url, params={"limit": 3}, headers=AUTH)
    assert first.status_code == 200, first.text
    assert [t["position"] for t in first.json()["tickets"]] == [1, 2, 3]
    assert first.json()["total"] == 5
    cursor = first.json()["next_cursor"]
    rest = await http.get(url, params={"limit": 3, "cursor": cursor}, headers=AUTH)
    assert [t["position"] for t in rest.json()["tickets"]] == [4, 5]
    assert rest.json()["next_cursor"] is None
    ids = [t["ticket_id"] for t in first.json()["tickets"] + rest.json()["tickets"]]
    assert ids == [t.id for t in tickets]  # oldest first, same priority
    assert_problem(
        await http.get(url, params={"cursor": "e30"}, headers=AUTH), 400, "/query/cursor"
    )


async def test_a_waiting_line_cursor_used_on_another_queue_is_400_not_an_empty_page(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """A pager that mixes up its queues learns so, rather than stopping short of the other
    queue's tickets on an empty last page."""
    line = WaitingLine(redis, prefix=settings.topic_prefix, shards=settings.timers_shards)
    for identity, queue in (
        ("email:q@billing.test", "billing"),
        ("email:q@general.test", "general"),
    ):
        _, tickets = await customer_with_tickets(settings, redis, identity, 3, queue=queue)
        await line.follow(tickets)
    first = await http.get("/v1/queues/billing/waiting", params={"limit": 1}, headers=AUTH)
    billing_cursor = first.json()["next_cursor"]
    assert billing_cursor is not None
    resp = await http.get(
        "/v1/queues/general/waiting", params={"cursor": billing_cursor}, headers=AUTH
    )
    problem = assert_problem(resp, 400, "/query/cursor")
    assert problem["errors"] == [
        {"pointer": "/query/cursor", "detail": "not a cursor of this list; start without"}
    ]
    rest = await http.get(
        "/v1/queues/billing/waiting", params={"cursor": billing_cursor}, headers=AUTH
    )
    assert [t["position"] for t in rest.json()["tickets"]] == [2, 3]


async def test_a_customers_cursor_used_on_another_customer_is_400_not_their_page(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """A cursor from one customer's list, used on another's, would skip the first tickets
    of the other list (or show someone else's place in it): it is refused, as a queue's."""
    ada, _ = await customer_with_tickets(settings, redis, "email:ada@cursor.test", 3)
    bob, bobs = await customer_with_tickets(settings, redis, "email:bob@cursor.test", 3)
    first = await http.get(f"/v1/customers/{ada}/tickets", params={"limit": 2}, headers=AUTH)
    adas_cursor = first.json()["next_cursor"]
    assert adas_cursor is not None
    resp = await http.get(
        f"/v1/customers/{bob}/tickets", params={"cursor": adas_cursor}, headers=AUTH
    )
    assert_problem(resp, 400, "/query/cursor")
    by_identity = await http.get(
        "/v1/customers/email:ada@cursor.test/tickets",
        params={"cursor": adas_cursor},
        headers=AUTH,
    )
    assert by_identity.status_code == 200, by_identity.text  # the same customer's list
    assert len(by_identity.json()["tickets"]) == 1
    whole = await http.get(f"/v1/customers/{bob}/tickets", headers=AUTH)
    assert [t["id"] for t in whole.json()["tickets"]] == [t.id for t in bobs]


@pytest.mark.parametrize(
    ("ticket_id", "status"), [("..%2F..%2Fetc%2Fpasswd", 404), ("T-1%00", 400)]
)
async def test_an_unknown_ticket_problem_names_the_path_as_sent(
    http: httpx.AsyncClient, ticket_id: str, status: int
) -> None:
    """Unknown (404) or no possible id at all (a control character: 400), the problem
    names the path as the client sent it."""
    url = f"/v1/tickets/{ticket_id}"
    problem = assert_problem(await http.get(url, headers=AUTH), status)
    assert problem["instance"] == url
    assert assert_problem(await http.get(url), 401)["instance"] == url


async def test_agents_are_read_a_page_at_a_time_when_a_limit_is_given(
    http: httpx.AsyncClient, redis: RedisClient, settings: Settings
) -> None:
    """Every agent in one answer costs about half a millisecond each (a second for
    2,000): a helpdesk's roster screen asks for a page, and follows ``Link``."""
    agents = AgentStore(redis, prefix=settings.topic_prefix)
    names = [f"a-{n:02}" for n in range(7)]
    for name in names:
        await agents.presence(name, "online", [], {})
    everyone = await http.get("/v1/agents", headers=AUTH)
    assert [a["id"] for a in everyone.json()] == names
    assert "Link" not in everyone.headers

    seen: list[str] = []
    url: str | None = "/v1/agents?limit=3"
    while url is not None:
        page = await http.get(url, headers=AUTH)
        assert page.status_code == 200, page.text
        assert len(page.json()) <= 3
        seen += [a["id"] for a in page.json()]
        link = page.headers.get("Link")
        url = link.split(">")[0].lstrip("<") if link else None
    assert seen == names

    foreign = await http.get("/v1/agents?limit=3&cursor=bm90LW91cnM", headers=AUTH)
    assert_problem(foreign, 400)


async def test_a_small_queue_behind_a_long_line_is_read_a_bounded_walk_at_a_time(
    http: httpx.AsyncClient,
    redis: RedisClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each request reads at most ``LINE_SCAN`` places of the line: a page behind others'
    tickets comes short, even empty, with a cursor where the walk stopped, and following
    the cursors gives the queue's tickets once each, in order, numbered from 1. Before,
    one request walked the whole line (0.5 s behind 50,000 tickets)."""
    from router.app import read_api

    monkeypatch.setattr(read_api, "LINE_SCAN", 40)
    line = WaitingLine(redis, prefix=settings.topic_prefix, shards=settings.timers_shards)
    _, ahead = await customer_with_tickets(
        settings, redis, "email:many@general.test", 150, queue="general"
    )
    _, billing = await customer_with_tickets(
        settings, redis, "email:few@billing.test", 3, queue="billing"
    )
    later = [
        t.model_copy(update={"created_at": t.created_at + timedelta(minutes=30)}) for t in billing
    ]
    await line.follow(ahead + later)
    url = "/v1/queues/billing/waiting"
    seen: list[tuple[int, str]] = []
    pages, empty, cursor = 0, 0, None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        resp = await http.get(url, params=params, headers=AUTH)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["total"] == 3
        seen += [(t["position"], t["ticket_id"]) for t in body["tickets"]]
        pages += 1
        empty += not body["tickets"]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        assert pages < 50, "the cursors never came to the end"
    assert seen == [(i + 1, t.id) for i, t in enumerate(billing)]
    assert empty >= 2  # 150 tickets of general in front: walks of 40 found none
