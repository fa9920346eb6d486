"""POST /v1/actions against the real embedded broker: bearer tokens, lists, validation,
unknown tickets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from channels.actions import CE_BATCH, CE_JSON
from router.settings import Settings
from router.topics import Topic
from rules import load_ruleset
from tests.component.channels.support import (
    assert_nothing_written,
    assert_problem,
    client_for,
    create_tickets,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

SENT = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
"""A sender's time an hour ago: it stands (see ``router.events.received_time``)."""

AUTH = {"Authorization": "Bearer tok-2"}
URL = "/v1/actions"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    with_tokens = settings.model_copy(update={"api_tokens": SecretStr("tok-1, tok-2")})
    async with client_for(with_tokens) as c:
        yield c


async def test_one_action_is_published_with_envelope_filled_in(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_tickets(settings, "T-1")
    action = {
        "type": "agent.replied",
        "data": {"ticket_id": "T-1", "agent_id": "a-1", "public": True},
    }
    resp = await client.post(URL, json=action, headers=AUTH)
    assert resp.status_code == 202, resp.text
    assert resp.json()["duplicate"] is False
    records = await read_topic(settings, Topic.ACTIONS, expect=1)
    assert records[0].key == b"T-1"
    event = values(records)[0]
    assert event["id"] == resp.json()["id"]
    assert event["type"] == "switchboard.agent.replied"
    assert event["source"] == "/switchboard/actions"
    assert event["specversion"] == "1.0"
    assert event["time"].endswith("Z")
    assert event["data"] == {"ticket_id": "T-1", "agent_id": "a-1", "public": True}


async def test_list_keys_and_given_id_dedupe(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_tickets(settings, "T-9")
    batch: list[dict[str, Any]] = [
        {
            "type": "switchboard.feedback.csat",
            "id": "csat-1",
            "data": {"ticket_id": "T-9", "score": 5},
        },
        {
            "type": "agent.presence",
            "data": {"agent_id": "a-7", "status": "online", "capacity": {"chat": 3}},
        },
        {
            "type": "customer.upserted",
            "data": {"email": "Eve@Example.com", "phone": "+44 7700 900123"},
        },
    ]
    first = await client.post(URL, json=batch, headers=AUTH)
    assert first.status_code == 202, first.text
    assert [a["duplicate"] for a in first.json()["events"]] == [False, False, False]
    assert (first.json()["id"], first.json()["duplicate"]) == ("csat-1", False)
    assert first.json()["events"][0]["id"] == "csat-1"
    again = await client.post(URL, json=batch[:1], headers=AUTH)
    assert again.json() == {
        "id": "csat-1",
        "duplicate": True,
        "events": [{"id": "csat-1", "duplicate": True}],
    }
    records = await read_topic(settings, Topic.ACTIONS, expect=3)
    assert len(records) == 3
    assert sorted(r.key for r in records) == [b"T-9", b"agent:a-7", b"customer:eve@example.com"]
    customer = next(v for v in values(records) if v["type"] == "switchboard.customer.upserted")
    assert customer["data"] == {"email": "eve@example.com", "phone": "+447700900123"}


async def test_a_retry_with_the_same_idempotency_key_is_a_duplicate(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Actions without ids of their own: the request's Idempotency-Key (and each action's
    place in a list) names them, so a retried request counts nothing twice."""
    await create_tickets(settings, "T-4")
    reply = {
        "type": "agent.replied",
        "data": {"ticket_id": "T-4", "agent_id": "a-1", "public": True},
    }
    resolve = {"type": "ticket.resolved", "data": {"ticket_id": "T-4", "agent_id": "a-1"}}
    keyed = {**AUTH, "Idempotency-Key": "desk-42"}
    first = await client.post(URL, json=[reply, resolve], headers=keyed)
    again = await client.post(URL, json=[reply, resolve], headers=keyed)
    assert first.status_code == again.status_code == 202, again.text
    assert [e["duplicate"] for e in again.json()["events"]] == [True, True]
    assert again.json()["events"] == [{**e, "duplicate": True} for e in first.json()["events"]]
    other = await client.post(URL, json=reply, headers={**AUTH, "Idempotency-Key": "desk-43"})
    assert other.json()["duplicate"] is False
    unkeyed = await client.post(URL, json=reply, headers=AUTH)
    assert unkeyed.json()["id"] != other.json()["id"]
    assert len(await read_topic(settings, Topic.ACTIONS, expect=4)) == 4


async def test_auth_and_validation_errors_write_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    ok = {"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}
    # each 401 says which part is wrong, never what was sent
    missing = assert_problem(await client.post(URL, json=ok), 401)
    assert "missing Authorization header" in missing["detail"]
    bad = assert_problem(
        await client.post(URL, json=ok, headers={"Authorization": "Bearer nope"}), 401
    )
    assert bad["detail"] == "invalid bearer token"
    basic = assert_problem(
        await client.post(URL, json=ok, headers={"Authorization": "Basic tok-1"}), 401
    )
    assert "not a bearer token" in basic["detail"]
    assert "tok-1" not in basic["detail"]
    problem = assert_problem(
        await client.post(
            URL,
            json=[ok, {"type": "feedback.nps", "data": {"ticket_id": "T-1", "score": 11}}],
            headers=AUTH,
        ),
        400,
        "/1/data/score",
    )
    assert len(problem["errors"]) == 1
    assert_problem(
        await client.post(URL, json={"type": "ticket.exploded", "data": {}}, headers=AUTH),
        400,
        "/type",
    )
    assert_problem(
        await client.post(URL, json={"type": "ticket.closed"}, headers=AUTH), 400, "/data"
    )
    transfer = {"type": "ticket.transferred", "data": {"ticket_id": "T-1"}}
    assert_problem(await client.post(URL, json=transfer, headers=AUTH), 400, "/data")
    assert_problem(await client.post(URL, json=[], headers=AUTH), 400, "")
    assert_problem(
        await client.post(URL, json={**ok, "colour": "red"}, headers=AUTH), 400, "/colour"
    )
    bad_json = {"content": b"{", "headers": {**AUTH, "content-type": "application/json"}}
    assert_problem(await client.post(URL, **bad_json), 400, "")  # type: ignore[arg-type]
    assert_problem(await client.post(URL, data={"type": "x"}, headers=AUTH), 415)
    await assert_nothing_written(settings)


async def test_no_tokens_configured_refuses_everything(ingress_client: httpx.AsyncClient) -> None:
    ok = {"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}
    problem = assert_problem(await ingress_client.post(URL, json=ok, headers=AUTH), 401)
    assert "no API tokens" in problem["detail"]


async def test_action_on_an_unknown_ticket_is_404_and_nothing_is_published(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    resolve = {"type": "ticket.resolved", "data": {"ticket_id": "T-nope"}}
    problem = assert_problem(
        await client.post(URL, json=resolve, headers=AUTH), 404, "/data/ticket_id"
    )
    assert problem["type"].endswith("/unknown-ticket")
    assert "T-nope" in problem["detail"]
    await assert_nothing_written(settings)


async def test_a_list_naming_unknown_tickets_is_404_for_all_of_them_and_publishes_none(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_tickets(settings, "T-1")
    batch: list[dict[str, Any]] = [
        {"type": "ticket.resolved", "data": {"ticket_id": "T-1"}},
        {"type": "feedback.csat", "data": {"ticket_id": "T-nope", "score": 4}},
        {"type": "agent.presence", "data": {"agent_id": "a-1", "status": "online"}},
        {"type": "ticket.closed", "data": {"ticket_id": "T-gone"}},
        {"type": "ticket.reopened", "data": {"ticket_id": "T-nope"}},
    ]
    resp = await client.post(URL, json=batch, headers=AUTH)
    problem = assert_problem(resp, 404)
    assert [e["pointer"] for e in problem["errors"]] == [
        "/1/data/ticket_id",
        "/3/data/ticket_id",
        "/4/data/ticket_id",
    ]
    assert "'T-nope', 'T-gone'" in problem["detail"]
    await assert_nothing_written(settings)

    known = [batch[0], batch[2]]
    accepted = await client.post(URL, json=known, headers=AUTH)
    assert accepted.status_code == 202, accepted.text
    assert len(await read_topic(settings, Topic.ACTIONS, expect=2)) == 2


async def test_a_transfer_to_a_queue_the_rules_do_not_declare_is_400_and_publishes_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await create_tickets(settings, "T-1")
    batch: list[dict[str, Any]] = [
        {"type": "ticket.transferred", "data": {"ticket_id": "T-1", "queue": "billing"}},
        {"type": "ticket.transferred", "data": {"ticket_id": "T-1", "queue": "nowhere"}},
    ]
    problem = assert_problem(await client.post(URL, json=batch, headers=AUTH), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/1/data/queue"]
    assert "unknown queue 'nowhere'" in problem["detail"]
    assert "billing" in problem["errors"][0]["detail"]  # the queues it may name
    await assert_nothing_written(settings)

    # with an unknown agent in the same request: one 400 names both
    ghost = {"type": "ticket.transferred", "data": {"ticket_id": "T-1", "agent_id": "ghost"}}
    both = assert_problem(await client.post(URL, json=[*batch, ghost], headers=AUTH), 400)
    assert [e["pointer"] for e in both["errors"]] == ["/1/data/queue", "/2/data/agent_id"]

    accepted = await client.post(URL, json=batch[0], headers=AUTH)
    assert accepted.status_code == 202, accepted.text


async def test_a_transfer_names_the_rules_its_queue_was_found_in(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A router whose rules lack the queue yet (a rules change reaching it later) takes
    the transfer when the mark names other rules; the mark is the ingress's own."""
    await create_tickets(settings, "T-1")
    envelope = {"specversion": "1.0", "source": "/helpdesk", "switchboardrules": "forged"}
    batch: list[dict[str, Any]] = [
        {
            **envelope,
            "id": "ce-1",
            "type": "ticket.transferred",
            "data": {"ticket_id": "T-1", "queue": "billing"},
        },
        {**envelope, "id": "ce-2", "type": "ticket.resolved", "data": {"ticket_id": "T-1"}},
    ]
    headers = {**AUTH, "content-type": CE_BATCH}
    accepted = await client.post(URL, content=orjson.dumps(batch), headers=headers)
    assert accepted.status_code == 202, accepted.text
    transfer, resolved = values(await read_topic(settings, Topic.ACTIONS, expect=2))
    assert transfer["switchboardrules"] == load_ruleset(settings.rules_path).version
    assert "switchboardrules" not in resolved


async def test_a_transfer_to_an_agent_never_seen_is_400_and_publishes_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """An agent becomes known by an ``agent.presence``; a transfer to any other would be
    offered to nobody until the accept timeout, while the helpdesk believes it moved."""
    await create_tickets(settings, "T-1")
    transfer = {"type": "ticket.transferred", "data": {"ticket_id": "T-1", "agent_id": "a-9"}}
    problem = assert_problem(await client.post(URL, json=transfer, headers=AUTH), 400)
    assert [e["pointer"] for e in problem["errors"]] == ["/data/agent_id"]
    assert "unknown agent 'a-9'" in problem["detail"]
    await assert_nothing_written(settings)

    presence = {
        "type": "agent.presence",
        "data": {"agent_id": "a-9", "status": "offline", "skills": ["billing"]},
    }
    both = await client.post(URL, json=[presence, transfer], headers=AUTH)  # named in it
    assert both.status_code == 202, both.text


async def test_without_readable_rules_a_transfer_is_left_to_the_router(
    settings: Settings, tmp_path: Any
) -> None:
    await create_tickets(settings, "T-1")
    blind = settings.model_copy(
        update={"api_tokens": SecretStr("tok-2"), "rules_path": tmp_path / "missing"}
    )
    transfer = {"type": "ticket.transferred", "data": {"ticket_id": "T-1", "queue": "nowhere"}}
    async with client_for(blind) as c:
        resp = await c.post(URL, json=transfer, headers=AUTH)
    assert resp.status_code == 202, resp.text


async def test_every_mode_of_the_cloudevents_http_binding_is_read(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A helpdesk posting with a CloudEvents SDK: structured, batch and binary mode."""
    await create_tickets(settings, "T-1")
    note = {"ticket_id": "T-1", "agent_id": "a-1", "text": "called back"}
    structured = {
        "specversion": "1.0",
        "id": "ce-1",
        "source": "/helpdesk",
        "type": "ticket.note_added",
        "datacontenttype": "application/json",
        "data": note,
    }
    batch = [{**structured, "id": "ce-2"}, {**structured, "id": "ce-3"}]
    binary = {
        "ce-specversion": "1.0",
        "ce-id": "ce-4",
        "ce-source": "/helpdesk",
        "ce-type": "ticket.note_added",
        "ce-time": SENT,
    }
    answers = [
        await client.post(
            URL, content=orjson.dumps(structured), headers={**AUTH, "content-type": CE_JSON}
        ),
        await client.post(
            URL, content=orjson.dumps(batch), headers={**AUTH, "content-type": CE_BATCH}
        ),
        await client.post(URL, json=note, headers={**AUTH, **binary}),
    ]
    assert [a.status_code for a in answers] == [202, 202, 202], [a.text for a in answers]
    events = values(await read_topic(settings, Topic.ACTIONS, expect=4))
    assert [e["id"] for e in events] == ["ce-1", "ce-2", "ce-3", "ce-4"]
    assert {e["source"] for e in events} == {"/helpdesk"}
    assert all(e["data"] == note for e in events)
    assert events[3]["time"] == SENT
    not_a_batch = await client.post(
        URL, content=orjson.dumps(structured), headers={**AUTH, "content-type": CE_BATCH}
    )
    assert_problem(not_a_batch, 400)


async def test_an_idempotency_key_reused_for_other_actions_is_422(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    headers = {**AUTH, "Idempotency-Key": "k-9"}
    online = {"type": "agent.presence", "data": {"agent_id": "a-1", "status": "online"}}
    away = {"type": "agent.presence", "data": {"agent_id": "a-2", "status": "away"}}
    assert (await client.post(URL, json=online, headers=headers)).status_code == 202
    retry = await client.post(URL, json=online, headers=headers)
    assert retry.json()["duplicate"] is True
    problem = assert_problem(await client.post(URL, json=away, headers=headers), 422)
    assert problem["type"].endswith("/idempotency-key-reused")
    assert len(await read_topic(settings, Topic.ACTIONS, expect=1)) == 1


async def test_a_postponement_until_a_past_time_is_400(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A helpdesk with a clock or time-zone bug hears about it instead of a 202 that
    changes nothing."""
    await create_tickets(settings, "T-1")
    past = {
        "type": "ticket.postponed",
        "data": {"ticket_id": "T-1", "until": "2020-01-01T00:00:00Z"},
    }
    problem = assert_problem(await client.post(URL, json=past, headers=AUTH), 400, "/data/until")
    assert "not in the future" in problem["detail"]
    await assert_nothing_written(settings)
    future = {
        "type": "ticket.postponed",
        "data": {"ticket_id": "T-1", "until": (datetime.now(UTC) + timedelta(days=30)).isoformat()},
    }
    assert (await client.post(URL, json=future, headers=AUTH)).status_code == 202
    # after a backdated time, but before now: the router applies an action no earlier
    # than the ticket's last change, so this had been a 202 that changed nothing
    backdated = {
        "type": "ticket.postponed",
        "time": (datetime.now(UTC) - timedelta(days=6)).isoformat(),
        "data": {"ticket_id": "T-1", "until": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
    }
    stale = assert_problem(await client.post(URL, json=backdated, headers=AUTH), 400, "/data/until")
    assert "not in the future" in stale["detail"]


@pytest.mark.parametrize(
    ("data", "pointer"),
    [
        ({"ticket_id": "T-1", "until": "9999-12-31T23:59:59Z"}, "/data/until"),
        ({"ticket_id": "T-1", "agent_id": "a-1", "public": True, "handle_seconds": 1e308}, None),
        ({"ticket_id": "T-1", "agent_id": "a-1", "public": "yes"}, "/data/public"),
        ({"ticket_id": "T-1", "agent_id": "a-1", "public": 1}, "/data/public"),
    ],
)
async def test_values_the_router_could_not_use_are_400_not_202(
    client: httpx.AsyncClient, settings: Settings, data: dict[str, Any], pointer: str | None
) -> None:
    """A postponement to 9999-12-31 was answered 202 and then dead-lettered by the router
    (OverflowError); a reply's 1e308 seconds overflowed the ticket's handle time to inf;
    ``public: "yes"`` was read as true."""
    await create_tickets(settings, "T-1")
    type_ = "ticket.postponed" if "until" in data else "agent.replied"
    resp = await client.post(URL, json={"type": type_, "data": data}, headers=AUTH)
    assert_problem(resp, 400, pointer or "/data/handle_seconds")
    await assert_nothing_written(settings)


async def test_json_declared_in_another_charset_is_415(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A UTF-16 body was read as if it were UTF-8, without a word about why it failed."""
    body = orjson.dumps({"type": "ticket.closed", "data": {"ticket_id": "T-1"}})
    headers = {**AUTH, "content-type": "application/json; charset=utf-16"}
    resp = await client.post(URL, content=body.decode().encode("utf-16"), headers=headers)
    problem = assert_problem(resp, 415)
    assert "utf-16" in problem["detail"]
    utf8 = {**AUTH, "content-type": "application/json; charset=UTF-8"}
    await create_tickets(settings, "T-1")
    assert (await client.post(URL, content=body, headers=utf8)).status_code == 202


async def test_one_action_and_a_list_of_it_under_one_key_are_the_same_request(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The same note as an object, then as a one-item list, under one Idempotency-Key:
    it was written twice, with two ids."""
    await create_tickets(settings, "T-1")
    note = {"type": "ticket.note_added", "data": {"ticket_id": "T-1", "text": "called"}}
    keyed = {**AUTH, "Idempotency-Key": "k-1"}
    first = await client.post(URL, json=note, headers=keyed)
    assert first.json() == {"id": first.json()["id"], "duplicate": False}
    spelt_out = [
        {**note, "type": "switchboard.ticket.note_added", "source": "/switchboard/actions"}
    ]
    again = await client.post(URL, json=spelt_out, headers=keyed)
    assert again.status_code == 202, again.text
    assert again.json() == {
        "id": first.json()["id"],
        "duplicate": True,
        "events": [{"id": first.json()["id"], "duplicate": True}],
    }
    more = [note, {"type": "ticket.closed", "data": {"ticket_id": "T-1"}}]
    problem = assert_problem(await client.post(URL, json=more, headers=keyed), 422)
    assert problem["type"].endswith("/idempotency-key-reused")
    assert len(await read_topic(settings, Topic.ACTIONS, expect=1, settle=0.3)) == 1


async def test_two_sources_may_use_one_id_for_different_actions(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """CloudEvents names an event by source and id together: two helpdesk tools may
    both number their actions from 1. Each is written, answered with the id it gave."""
    await create_tickets(settings, "T-1")
    a = {
        "type": "ticket.note_added",
        "id": "1",
        "source": "/desk-a",
        "data": {"ticket_id": "T-1", "text": "a"},
    }
    b = {**a, "source": "/desk-b", "data": {"ticket_id": "T-1", "text": "b"}}
    for action in (a, b):
        answer = await client.post(URL, json=action, headers=AUTH)
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"id": "1", "duplicate": False}
    assert (await client.post(URL, json=b, headers=AUTH)).json()["duplicate"] is True
    written = await read_topic(settings, Topic.ACTIONS, expect=2, settle=0.3)
    assert sorted(orjson.loads(r.value)["source"] for r in written) == ["/desk-a", "/desk-b"]


async def test_an_event_id_reused_for_other_content_is_refused(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A given ``id`` with other data, or on another ticket, was answered
    ``duplicate: true`` and dropped."""
    await create_tickets(settings, "T-1", "T-2")
    note = {"type": "ticket.note_added", "id": "fixed-1", "data": {"ticket_id": "T-1", "text": "x"}}
    assert (await client.post(URL, json=note, headers=AUTH)).json()["duplicate"] is False
    assert (await client.post(URL, json=note, headers=AUTH)).json()["duplicate"] is True
    # a retry rebuilt by a CloudEvents SDK carries the time it was built at: the same event
    rebuilt = {**note, "time": (datetime.now(UTC) - timedelta(minutes=1)).isoformat()}
    assert (await client.post(URL, json=rebuilt, headers=AUTH)).json()["duplicate"] is True
    other = {**note, "data": {"ticket_id": "T-2", "text": "x"}}
    problem = assert_problem(await client.post(URL, json=other, headers=AUTH), 422, "/id")
    assert problem["type"].endswith("/id-reused")
    fresh = {"type": "ticket.closed", "data": {"ticket_id": "T-1"}}
    later = assert_problem(await client.post(URL, json=[fresh, other], headers=AUTH), 422, "/1/id")
    assert later["type"].endswith("/id-reused")  # and the first item is not written either
    twins = {"type": "ticket.resolved", "id": "fixed-2", "data": {"ticket_id": "T-1"}}
    clash = [twins, {**twins, "data": {"ticket_id": "T-2"}}]
    assert_problem(await client.post(URL, json=clash, headers=AUTH), 400, "/1/id")
    copies = await client.post(URL, json=[twins, twins], headers=AUTH)
    assert [e["duplicate"] for e in copies.json()["events"]] == [False, True]
    assert len(await read_topic(settings, Topic.ACTIONS, expect=2, settle=0.3)) == 2


async def test_idempotency_keys_belong_to_the_token_that_sent_them(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Two helpdesks with their own tokens may pick the same key for their own requests."""
    await create_tickets(settings, "T-1")
    note = {"type": "ticket.note_added", "data": {"ticket_id": "T-1", "text": "called"}}
    one = await client.post(
        URL, json=note, headers={"Authorization": "Bearer tok-1", "Idempotency-Key": "k-2"}
    )
    two = await client.post(URL, json=note, headers={**AUTH, "Idempotency-Key": "k-2"})
    assert [one.json()["duplicate"], two.json()["duplicate"]] == [False, False]
    assert one.json()["id"] != two.json()["id"]
    assert len(await read_topic(settings, Topic.ACTIONS, expect=2)) == 2


async def test_action_answers_are_never_stored_by_caches(client: httpx.AsyncClient) -> None:
    ok = {"type": "agent.presence", "data": {"agent_id": "a-1", "status": "online"}}
    for resp in (
        await client.post(URL, json=ok, headers=AUTH),
        await client.post(URL, json=ok),
        await client.post(URL, json={"type": "nope", "data": {}}, headers=AUTH),
        await client.get(URL, headers=AUTH),  # 405: no route answers it
        await client.post(URL + "/", json=ok, headers=AUTH),  # 404: no route either
    ):
        assert resp.headers["cache-control"] == "no-store", resp.status_code


async def test_a_blank_idempotency_key_is_no_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """A client template that sends the header empty must not make every action share
    one key: the second, different action was 422 until the key expired."""
    headers = {**AUTH, "Idempotency-Key": ""}
    online = {"type": "agent.presence", "data": {"agent_id": "a-1", "status": "online"}}
    away = {"type": "agent.presence", "data": {"agent_id": "a-2", "status": "away"}}
    assert (await client.post(URL, json=online, headers=headers)).status_code == 202
    resp = await client.post(URL, json=away, headers={**AUTH, "Idempotency-Key": "   "})
    assert resp.status_code == 202, resp.text
    assert len(await read_topic(settings, Topic.ACTIONS, expect=2)) == 2


async def test_an_address_guessing_tokens_gets_429_and_a_right_token_still_passes(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """Two thousand wrong tokens a second had each been a 401, none logged. Past the limit
    a wrong token is 429; a right one from the same address (behind a load balancer,
    every integration's) is never held back."""
    from channels.auth_failures import LIMIT

    wrong = {"Authorization": "Bearer guess"}
    for _ in range(LIMIT):
        assert (await client.get("/v1/queues", headers=wrong)).status_code == 401
    refused = await client.get("/v1/queues", headers=wrong)
    problem = assert_problem(refused, 429)
    assert problem["type"].endswith("too-many-failed-tokens")
    assert int(refused.headers["retry-after"]) > 0
    assert (await client.get("/v1/queues", headers=AUTH)).status_code == 200


async def test_each_action_says_which_token_sent_it_and_a_client_cannot_say_otherwise(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The CloudEvents authcontext extension: ``authtype`` api_key and ``authid`` a digest
    of the token (never the token), so the actions topic tells integrations apart."""
    import hashlib

    await create_tickets(settings, "T-5")
    forged = {
        "specversion": "1.0",
        "id": "note-1",
        "source": "/helpdesk",
        "type": "switchboard.agent.replied",
        "authtype": "system",
        "authid": "someone-else",
        "data": {"ticket_id": "T-5", "agent_id": "a-1", "public": True},
    }
    headers = {**AUTH, "content-type": CE_JSON}
    resp = await client.post(URL, content=orjson.dumps(forged), headers=headers)
    assert resp.status_code == 202, resp.text
    [event] = values(await read_topic(settings, Topic.ACTIONS, expect=1))
    assert event["authtype"] == "api_key"
    assert event["authid"] == hashlib.sha256(b"tok-2").hexdigest()[:12]
    assert "tok-2" not in orjson.dumps(event).decode()
