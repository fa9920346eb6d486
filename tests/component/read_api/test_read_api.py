"""The read API against the real broker and valkey: events routed by the real roles, then
read back over HTTP (tickets, customers, queues, the waiting line, agents)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from router.settings import Settings
from tests.component.pipeline.conftest import RULES, WITHOUT_TIMERS, run_switchboard

pytestmark = pytest.mark.component

TOKEN = "read-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
EVERY_ROLE = WITHOUT_TIMERS | {"timers"}


async def eventually(
    probe: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool], timeout: float = 15.0
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if ok(value) or loop.time() > deadline:
            return value
        await asyncio.sleep(0.1)


async def webform(http: httpx.AsyncClient, email: str, message: str) -> None:
    resp = await http.post("/v1/channels/webform", json={"email": email, "message": message})
    assert resp.status_code == 202, resp.text


async def read_api_scenario(settings: Settings) -> None:
    """One billing agent with one webform seat; two billing tickets and a general one:
    the first is assigned, the other two wait in their queues' lines."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr(TOKEN)})
    async with run_switchboard(settings, EVERY_ROLE) as sb:
        http = sb.http
        presence = {
            "type": "agent.presence",
            "data": {
                "agent_id": "a-1",
                "status": "online",
                "skills": ["billing"],
                "capacity": {"webform": 1},
            },
        }
        resp = await http.post("/v1/actions", json=presence, headers=AUTH)
        assert resp.status_code == 202, resp.text

        async def agent() -> httpx.Response:
            return await http.get("/v1/agents/a-1", headers=AUTH)

        first = await eventually(agent, lambda r: r.status_code == 200)
        assert first.json()["status"] == "online", first.text

        await webform(http, "ada@example.com", "my invoice is wrong")
        held = await eventually(agent, lambda r: r.json()["load"]["webform"] == 1)
        assert held.json()["load"]["webform"] == 1, held.text
        assert held.json()["free"]["webform"] == 0
        [assigned] = held.json()["tickets"]["webform"]

        await webform(http, "bob@example.com", "refund please")
        await webform(http, "cy@example.com", "hello there")

        async def line(queue: str) -> httpx.Response:
            return await http.get(f"/v1/queues/{queue}/waiting", headers=AUTH)

        billing = await eventually(lambda: line("billing"), lambda r: len(r.json()["tickets"]) == 1)
        general = await eventually(lambda: line("general"), lambda r: len(r.json()["tickets"]) == 1)
        [waiting_billing] = billing.json()["tickets"]
        [waiting_general] = general.json()["tickets"]
        assert waiting_billing["position"] == 1
        assert waiting_billing["ticket"]["queue"] == "billing"
        assert waiting_billing["ticket_id"] != assigned
        assert waiting_general["ticket"]["queue"] == "general"

        # tickets and customers
        ticket = await http.get(f"/v1/tickets/{assigned}", headers=AUTH)
        assert ticket.status_code == 200, ticket.text
        body = ticket.json()
        assert body["id"] == assigned
        assert body["assignee"] == "a-1"
        assert body["queue"] == "billing"
        by_identity = await http.get("/v1/customers/email:ada@example.com/tickets", headers=AUTH)
        assert by_identity.status_code == 200, by_identity.text
        assert [t["id"] for t in by_identity.json()["tickets"]] == [assigned]
        customer = by_identity.json()["customer_id"]
        by_id = await http.get(f"/v1/customers/{customer}/tickets", headers=AUTH)
        assert by_id.json() == by_identity.json()
        as_shown = await http.get("/v1/customers/email:Ada@Example.COM/tickets", headers=AUTH)
        assert as_shown.json() == by_identity.json()  # spelt as a helpdesk displays it

        # queues: backlog (metrics role), the line (timers role), agents and seats
        async def queues() -> dict[str, Any]:
            resp = await http.get("/v1/queues", headers=AUTH)
            assert resp.status_code == 200, resp.text
            return {q["name"]: q for q in resp.json()}

        summary = await eventually(
            queues, lambda q: q["billing"]["open"] == 2 and q["general"]["open"] == 1
        )
        assert summary["billing"]["open"] == 2, summary
        assert summary["billing"]["unassigned"] == 1
        assert summary["billing"]["skills"] == ["billing"]
        assert summary["billing"]["agents_online"] == 1
        assert summary["billing"]["free_seats"]["webform"] == 0
        assert summary["general"]["unassigned"] == 1
        assert summary["general"]["agents_online"] == 1  # no skills needed

        agents = await http.get("/v1/agents", headers=AUTH)
        assert [a["id"] for a in agents.json()] == ["a-1"]

        # unknown ids, missing token
        for path in (
            "/v1/tickets/T-nope",
            "/v1/customers/C-nope/tickets",
            "/v1/customers/email:nobody@example.com/tickets",
            "/v1/queues/nope/waiting",
            "/v1/agents/nobody",
        ):
            missing = await http.get(path, headers=AUTH)
            assert missing.status_code == 404, (path, missing.text)
            assert missing.headers["content-type"] == "application/problem+json"
            assert missing.json()["status"] == 404
        # a customer known from the CRM alone has no tickets yet: an empty list, not 404
        crm = {"type": "customer.upserted", "data": {"email": "crm-only@example.com"}}
        assert (await http.post("/v1/actions", json=crm, headers=AUTH)).status_code == 202
        known = await eventually(
            lambda: http.get("/v1/customers/email:crm-only@example.com/tickets", headers=AUTH),
            lambda r: r.status_code == 200,
        )
        assert known.status_code == 200, known.text
        assert known.json()["tickets"] == []
        denied = await http.get(f"/v1/tickets/{assigned}")
        assert denied.status_code == 401
        assert denied.headers["content-type"] == "application/problem+json"


async def test_read_api_answers_from_the_roles_state(settings: Settings) -> None:
    await read_api_scenario(settings)


async def test_openapi_lists_the_read_routes_with_models(settings: Settings) -> None:
    async with run_switchboard(settings.model_copy(update={"rules_path": RULES})) as sb:
        doc = (await sb.http.get("/openapi.json")).json()
    wanted = {
        "/v1/tickets/{ticket_id}": "Ticket",
        "/v1/customers/{customer_id}/tickets": "CustomerTickets",
        "/v1/queues": "QueueSummary",
        "/v1/queues/{name}/waiting": "WaitingLineBody",
        "/v1/agents": "Agent",
        "/v1/agents/{agent_id}": "Agent",
    }
    for path, model in wanted.items():
        op = doc["paths"][path]["get"]
        schema = str(op["responses"]["200"]["content"]["application/json"]["schema"])
        assert model in schema, (path, schema)
        assert "401" in op["responses"]
        assert op["security"], path


def email(sender: str, message_id: str, text: str, *, in_reply_to: str | None = None) -> bytes:
    reply = f"In-Reply-To: <{in_reply_to}>\r\n" if in_reply_to else ""
    return (
        f"From: {sender}\r\nTo: support@example.com\r\nSubject: printer\r\n"
        f"Message-ID: <{message_id}>\r\n{reply}"
        f"Content-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
    ).encode()


async def test_a_colleague_who_replied_in_a_thread_finds_that_ticket(settings: Settings) -> None:
    """A reply joins the ticket of the message it answers whoever sends it (contract
    section 10); the sender's own ticket list shows that ticket, with its owner."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr(TOKEN)})
    async with run_switchboard(settings, WITHOUT_TIMERS) as sb:
        http = sb.http
        headers = {"content-type": "message/rfc822"}
        first = email("ada@example.com", "m-1@example.com", "the printer is broken")
        resp = await http.post("/v1/channels/email", content=first, headers=headers)
        assert resp.status_code == 202, resp.text

        async def tickets(who: str) -> httpx.Response:
            return await http.get(f"/v1/customers/email:{who}/tickets", headers=AUTH)

        # the customer is known (200) as soon as their identity is linked, a moment
        # before their ticket is committed: wait for the ticket itself
        owned = await eventually(
            lambda: tickets("ada@example.com"),
            lambda r: r.status_code == 200 and r.json()["tickets"],
        )
        [ticket] = owned.json()["tickets"]
        reply = email(
            "cy@example.com", "m-2@example.com", "same here", in_reply_to="m-1@example.com"
        )
        resp = await http.post("/v1/channels/email", content=reply, headers=headers)
        assert resp.status_code == 202, resp.text

        joined = await eventually(
            lambda: tickets("cy@example.com"),
            lambda r: r.status_code == 200 and r.json()["tickets"],
        )
        assert joined.status_code == 200, joined.text
        [seen] = joined.json()["tickets"]
        assert (seen["id"], seen["customer_id"]) == (ticket["id"], ticket["customer_id"])
        assert seen["contacts"] == 2
        assert joined.json()["customer_id"] != ticket["customer_id"]
        # the owner's list is unchanged: one ticket, theirs
        again = await tickets("ada@example.com")
        assert [t["id"] for t in again.json()["tickets"]] == [ticket["id"]]


async def test_a_crm_update_linking_two_known_customers_merges_them(settings: Settings) -> None:
    """A web form from an email and an SMS from a phone are two customers; the CRM then
    says they are one person (contract section 7: identities merge when a
    ``customer.upserted`` links an email and a phone). From then on a message from
    either joins the one customer's thread, and the customer lists both tickets."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr(TOKEN)})
    async with run_switchboard(settings, WITHOUT_TIMERS) as sb:
        http = sb.http
        await webform(http, "uma@example.com", "my invoice is wrong")
        sms = {"MessageSid": "SM-uma-1", "From": "+15552220000", "To": "+15550000000"}
        resp = await http.post("/v1/channels/sms", data={**sms, "Body": "uma by sms"})
        assert resp.status_code == 202, resp.text

        async def tickets(who: str) -> httpx.Response:
            return await http.get(f"/v1/customers/{who}/tickets", headers=AUTH)

        def routed(r: httpx.Response) -> bool:  # the customer is known before it is routed
            return r.status_code == 200 and bool(r.json()["tickets"])

        by_email = await eventually(lambda: tickets("email:uma@example.com"), routed)
        by_phone = await eventually(lambda: tickets("phone:+15552220000"), routed)
        [email_ticket] = by_email.json()["tickets"]
        [sms_ticket] = by_phone.json()["tickets"]
        assert by_email.json()["customer_id"] != by_phone.json()["customer_id"]

        link = {
            "type": "customer.upserted",
            "data": {"email": "uma@example.com", "phone": "+15552220000", "tier": "gold"},
        }
        assert (await http.post("/v1/actions", json=link, headers=AUTH)).status_code == 202
        merged = await eventually(
            lambda: tickets("phone:+15552220000"),
            lambda r: r.json()["customer_id"] == by_email.json()["customer_id"],
        )
        assert merged.json()["customer_id"] == by_email.json()["customer_id"]
        ids = {t["id"] for t in merged.json()["tickets"]}
        assert ids == {email_ticket["id"], sms_ticket["id"]}

        again = {**sms, "MessageSid": "SM-uma-2", "Body": "any news?"}
        assert (await http.post("/v1/channels/sms", data=again)).status_code == 202
        joined = await eventually(
            lambda: http.get(f"/v1/tickets/{email_ticket['id']}", headers=AUTH),
            lambda r: r.json()["contacts"] == 2,
        )
        assert joined.json()["contacts"] == 2  # the one open thread of the one customer
        assert "sms" in joined.json()["channels_seen"]
        # the absorbed customer's own id (on its old ticket) answers as the survivor
        absorbed = await tickets(by_phone.json()["customer_id"])
        assert absorbed.json()["customer_id"] == by_email.json()["customer_id"]
        assert {t["id"] for t in absorbed.json()["tickets"]} == ids


async def test_a_ticket_both_merged_and_written_on_is_listed_once(settings: Settings) -> None:
    """Cy, with an open ticket of their own, replies in Ada's thread (a participant),
    then the CRM says Ada and Cy are one person: Cy's list holds Ada's ticket as a
    merged customer's and as one Cy wrote on, and shows it once, counted once."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr(TOKEN)})
    async with run_switchboard(settings, WITHOUT_TIMERS) as sb:
        http = sb.http
        headers = {"content-type": "message/rfc822"}

        async def tickets(who: str) -> httpx.Response:
            return await http.get(f"/v1/customers/{who}/tickets", headers=AUTH)

        def listed(n: int) -> Callable[[httpx.Response], bool]:
            return lambda r: r.status_code == 200 and len(r.json()["tickets"]) >= n

        own = email("cy@example.com", "c-1@example.com", "my own printer problem")
        assert (await http.post("/v1/channels/email", content=own, headers=headers)).is_success
        await eventually(lambda: tickets("email:cy@example.com"), listed(1))
        first = email("ada@example.com", "a-1@example.com", "the printer is broken")
        assert (await http.post("/v1/channels/email", content=first, headers=headers)).is_success
        await eventually(lambda: tickets("email:ada@example.com"), listed(1))
        reply = email(
            "cy@example.com", "c-2@example.com", "same here", in_reply_to="a-1@example.com"
        )
        assert (await http.post("/v1/channels/email", content=reply, headers=headers)).is_success
        await eventually(lambda: tickets("email:cy@example.com"), listed(2))

        for link in (
            {"email": "ada@example.com", "phone": "+15553330000"},
            {"email": "cy@example.com", "phone": "+15553330000"},  # Ada's phone: one person
        ):
            upsert = {"type": "customer.upserted", "data": link}
            assert (await http.post("/v1/actions", json=upsert, headers=AUTH)).is_success
        cy_id = (await tickets("email:cy@example.com")).json()["customer_id"]
        merged = await eventually(  # Cy's email is the upsert's strongest identity
            lambda: tickets("email:ada@example.com"),
            lambda r: r.json()["customer_id"] == cy_id and len(r.json()["tickets"]) >= 2,
        )
        ids = [t["id"] for t in merged.json()["tickets"]]
        assert len(ids) == len(set(ids)) == merged.json()["total"] == 2, merged.text
