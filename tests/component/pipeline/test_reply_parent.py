"""A reply joins the ticket of the message it answers, found by its parent: In-Reply-To,
else the last id of References (RFC 5322 section 3.6.4), else the newest reference
Switchboard knows. End to end on the real broker and valkey: a conversation that moved
to a follow-up ticket stays there, whichever of these headers the mail client wrote."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from pydantic import SecretStr

from router.settings import Settings
from router.topics import Topic
from router.vocabulary import EventType
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"authorization": "Bearer tok"}
RFC822 = {"content-type": "message/rfc822"}
PLACED = {EventType.TICKET_CREATED, EventType.TICKET_MESSAGE_ADDED}
Events = list[dict[str, Any]]


@pytest.fixture
async def helpdesk(settings: Settings) -> AsyncIterator[Running]:
    update = {"rules_path": RULES, "api_tokens": SecretStr("tok")}
    async with run_switchboard(settings.model_copy(update=update)) as running:
        yield running


def mail(message_id: str, text: str, *, in_reply_to: str = "", references: str = "") -> bytes:
    headers = [
        "From: Hans Becker <hans@example.com>",
        "To: support@acme.test",
        "Subject: Drucker",
        f"Message-ID: {message_id}",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    if references:
        headers.append(f"References: {references}")
    return ("\r\n".join([*headers, "Content-Type: text/plain", "", text, ""])).encode()


async def wait_for(running: Running, done: Callable[[Events], bool], timeout: float = 20) -> Events:
    """The tickets topic once ``done`` holds for it (or what there is at the timeout, for
    the assertions to show)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    found: Events = []
    while loop.time() < deadline:
        found = values(await read_topic(running.settings, Topic.TICKETS, expect=1, timeout=2))
        if done(found):
            break
        await asyncio.sleep(0.1)
    return found


def placements(events: Events) -> list[dict[str, Any]]:
    """The ticket each customer message was placed on, in order (its created or
    message_added event's snapshot)."""
    return [e["data"]["ticket"] for e in events if e["type"] in PLACED]


async def ticket_events(running: Running) -> Events:
    """The tickets topic as it is now."""
    return values(await read_topic(running.settings, Topic.TICKETS, expect=0, timeout=5))


async def send(running: Running, raw: bytes) -> dict[str, Any]:
    """Post one email and wait until the router has placed it: the ticket it went to."""
    before = len(placements(await ticket_events(running)))
    resp = await running.http.post("/v1/channels/email", content=raw, headers=RFC822)
    assert resp.status_code == 202, resp.text
    placed = placements(await wait_for(running, lambda e: len(placements(e)) > before))
    assert len(placed) == before + 1, placed
    return placed[-1]


@pytest.mark.slow
async def test_a_reply_by_references_or_to_an_unseen_message_stays_on_the_follow_up(
    helpdesk: Running,
) -> None:
    a = await send(helpdesk, mail("<a@hans.example>", "Der Drucker druckt nicht."))
    b = await send(
        helpdesk, mail("<b@hans.example>", "Immer noch nicht.", in_reply_to="<a@hans.example>")
    )
    assert b["id"] == a["id"]
    t1 = a["id"]

    close = {"type": "ticket.closed", "data": {"ticket_id": t1, "agent_id": "a1"}}
    resp = await helpdesk.http.post("/v1/actions", json=[close], headers=AUTH)
    assert resp.status_code == 202, resp.text
    await wait_for(helpdesk, lambda e: any(x["type"] == EventType.TICKET_CLOSED for x in e))

    c = await send(
        helpdesk, mail("<c@hans.example>", "Wieder kaputt.", in_reply_to="<b@hans.example>")
    )
    assert (c["id"] != t1, c["follow_up_of"]) == (True, t1)
    t2 = c["id"]
    d = await send(helpdesk, mail("<d@hans.example>", "Und?", in_reply_to="<c@hans.example>"))
    assert d["id"] == t2

    # Outlook and some webmail clients: no In-Reply-To, the parent last in References
    chain = "<a@hans.example> <b@hans.example> <c@hans.example> <d@hans.example>"
    e = await send(helpdesk, mail("<e@hans.example>", "Hallo?", references=chain))
    assert (e["id"], e["contacts"]) == (t2, 3)

    # an answer to an agent reply the helpdesk sent and Switchboard never saw
    agent = "<agent-reply-555@helpdesk.acme.test>"
    refs = f"<a@hans.example> <c@hans.example> {agent}"
    f = await send(helpdesk, mail("<f@hans.example>", "Danke.", in_reply_to=agent, references=refs))
    assert (f["id"], f["contacts"]) == (t2, 4)

    # a second answer to the old, closed, conversation: it goes on in the follow-up
    g = await send(helpdesk, mail("<g@hans.example>", "Noch was.", in_reply_to="<b@hans.example>"))
    assert (g["id"], g["contacts"]) == (t2, 5)

    created = [x for x in await ticket_events(helpdesk) if x["type"] == EventType.TICKET_CREATED]
    assert [x["data"]["ticket"]["id"] for x in created] == [t1, t2]  # one follow-up, no more
