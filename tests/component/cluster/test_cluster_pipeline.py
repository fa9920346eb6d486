"""The whole pipeline with its state on a real three-node Redis Cluster.

The pipeline suites (the thin slice, the kill -9 recovery, SLA timers, assignment,
archiving closed tickets) are imported and run unchanged: their ``settings`` fixture
comes from this folder's conftest and names the cluster (the waiting line's suite is in
``test_cluster_waiting_line.py``: its fixture ``desk`` has the name of the assignment
suite's). Below them, a test of its own: webform posts of several customers go through
ingress, router, timers and metrics and become routed tickets, with the customers' state
spread over the nodes."""

from __future__ import annotations

import pytest

from router.settings import Settings
from router.topics import Topic
from tests.component.cluster.conftest import Cluster
from tests.component.pipeline import (
    test_assignment,
    test_recovery,
    test_slice,
    test_timers,
)
from tests.component.pipeline.conftest import RULES, WITHOUT_TIMERS, run_switchboard, switchboard
from tests.component.pipeline.test_archive import (
    test_a_closed_ticket_leaves_redis_after_its_retention_and_a_reply_opens_a_new_one,
)
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

for _suite in (test_slice, test_recovery, test_timers, test_assignment):
    for _name in dir(_suite):
        _item = getattr(_suite, _name)
        if _name.startswith("test_") or type(_item).__name__ == "FixtureFunctionDefinition":
            globals()[_name] = _item
__all__ = [  # the pipeline suites' fixture, used as it is, and archiving end to end
    "switchboard",
    "test_a_closed_ticket_leaves_redis_after_its_retention_and_a_reply_opens_a_new_one",
]

CUSTOMERS = 6


async def test_messages_of_several_customers_become_tickets_on_a_cluster(
    settings: Settings, cluster: Cluster
) -> None:
    assert settings.redis.url == cluster.url
    every_role = WITHOUT_TIMERS | {"timers"}
    async with run_switchboard(settings.model_copy(update={"rules_path": RULES}), every_role) as sb:
        for n in range(CUSTOMERS):
            resp = await sb.http.post(
                "/v1/channels/webform",
                json={
                    "email": f"user{n}@example.com",
                    "subject": "Refund",
                    "message": f"my invoice {n} is wrong",
                },
            )
            assert resp.status_code == 202, resp.text
        again = await sb.http.post(  # the first customer writes again: the same ticket
            "/v1/channels/webform",
            json={"email": "user0@example.com", "subject": "Refund", "message": "any news?"},
        )
        assert again.status_code == 202, again.text
        events = values(await read_topic(settings, Topic.TICKETS, expect=2 * CUSTOMERS + 1))

    created = [e for e in events if e["type"] == "switchboard.ticket.created"]
    routed = [e for e in events if e["type"] == "switchboard.ticket.routed"]
    assert len(created) == CUSTOMERS
    assert len(routed) == CUSTOMERS
    tickets = {e["data"]["ticket"]["id"]: e["data"]["ticket"] for e in created}
    assert {t["queue"] for t in tickets.values()} == {"billing"}
    assert len({t["customer_id"] for t in tickets.values()}) == CUSTOMERS
    follow_up = [
        e
        for e in events
        if e["type"] not in ("switchboard.ticket.created", "switchboard.ticket.routed")
        and e["data"].get("interaction", {}).get("text") == "any news?"
    ]
    assert follow_up, [e["type"] for e in events]
    first = next(
        e["data"]["ticket"]["id"]
        for e in created
        if e["data"]["interaction"]["text"] == "my invoice 0 is wrong"
    )
    assert {e["data"]["ticket"]["id"] for e in follow_up} == {first}

    spread = cluster.keys_per_node(f"{settings.topic_prefix}:*")
    assert sum(1 for n in spread if n) > 1, spread
