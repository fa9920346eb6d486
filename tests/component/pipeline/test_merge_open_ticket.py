"""An identity merge carries the absorbed customer's open ticket over to the survivor:
a later message from either of their identities joins it instead of opening another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from router.topics import Topic
from tests.component.pipeline.conftest import RULES, Running, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

AUTH = {"Authorization": "Bearer tok"}
EMAIL, PHONE = "jack@aud.example", "+15550004444"


async def eventually(
    probe: Callable[[], Awaitable[httpx.Response]],
    ok: Callable[[httpx.Response], bool],
    timeout: float = 15.0,
) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if ok(value) or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def sms(sb: Running, sid: str, body: str) -> None:
    form = {"MessageSid": sid, "From": PHONE, "To": "+15550000000", "Body": body}
    resp = await sb.http.post("/v1/channels/sms", data=form)
    assert resp.status_code == 202, resp.text


async def act(sb: Running, action: dict[str, Any]) -> None:
    resp = await sb.http.post("/v1/actions", json=action, headers=AUTH)
    assert resp.status_code == 202, resp.text


async def test_after_a_merge_a_message_joins_the_open_ticket_only_the_absorbed_had(
    settings: Settings,
) -> None:
    """Audit: the email's customer (the survivor) had only a closed ticket, the phone's
    customer (absorbed by the CRM upsert) the open one. The next SMS opened a third
    ticket, the open one was orphaned and the one customer had two open tickets."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr("tok")})
    async with run_switchboard(settings) as sb:

        async def customer(who: str) -> httpx.Response:
            return await sb.http.get(f"/v1/customers/{who}/tickets", headers=AUTH)

        async def ticket(ticket_id: str) -> httpx.Response:
            return await sb.http.get(f"/v1/tickets/{ticket_id}", headers=AUTH)

        def listed(r: httpx.Response) -> bool:
            return r.status_code == 200 and bool(r.json()["tickets"])

        form = {"email": EMAIL, "message": "question about shipping costs to norway"}
        assert (await sb.http.post("/v1/channels/webform", json=form)).status_code == 202
        by_email = await eventually(lambda: customer(f"email:{EMAIL}"), listed)
        await sms(sb, "SMaud44", "hello, about my shipping costs")
        by_phone = await eventually(lambda: customer(f"phone:{PHONE}"), listed)
        [t1] = [t["id"] for t in by_email.json()["tickets"]]
        [t2] = [t["id"] for t in by_phone.json()["tickets"]]
        survivor = by_email.json()["customer_id"]
        assert by_phone.json()["customer_id"] != survivor

        await act(sb, {"type": "ticket.closed", "data": {"ticket_id": t1}})
        closed = await eventually(lambda: ticket(t1), lambda r: r.json()["status"] == "closed")
        assert closed.json()["status"] == "closed"
        upsert = {"type": "customer.upserted", "data": {"email": EMAIL, "phone": PHONE}}
        await act(sb, upsert)
        merged = await eventually(
            lambda: customer(f"phone:{PHONE}"), lambda r: r.json()["customer_id"] == survivor
        )
        assert merged.json()["customer_id"] == survivor

        await sms(sb, "SMaud45", "any news about shipping?")
        joined = await eventually(lambda: ticket(t2), lambda r: r.json()["contacts"] == 2)
        assert (joined.json()["contacts"], joined.json()["status"]) == (2, "new")
        # the email joins it too, and an agent's action on it still finds it
        again = {"email": EMAIL, "message": "still waiting on the norway shipping costs"}
        assert (await sb.http.post("/v1/channels/webform", json=again)).status_code == 202
        joined = await eventually(lambda: ticket(t2), lambda r: r.json()["contacts"] == 3)
        assert joined.json()["contacts"] == 3
        reply = {"ticket_id": t2, "agent_id": "a-1", "public": True}
        await act(sb, {"type": "agent.replied", "data": reply})
        answered = await eventually(lambda: ticket(t2), lambda r: r.json()["status"] == "pending")
        assert answered.json()["status"] == "pending"

        events = values(await read_topic(sb.settings, Topic.TICKETS, expect=8, timeout=15))
        created = [e["data"]["ticket"]["id"] for e in events if e["type"].endswith(".created")]
        assert sorted(created) == sorted([t1, t2])  # no third ticket (partitions: any order)
        listing = (await customer(f"email:{EMAIL}")).json()
        assert listing["customer_id"] == survivor
        statuses = sorted((t["id"], t["status"]) for t in listing["tickets"])
        assert statuses == sorted([(t1, "closed"), (t2, "pending")])
