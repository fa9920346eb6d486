"""Two helpdesks writing actions under the actions' source, each under its own
(``/switchboard/actions/zendesk``, ``/switchboard/actions/freshdesk``), number their
events alike: CloudEvents names an event by source and id together, so each is applied,
and the records each causes have ids of their own."""

from __future__ import annotations

from datetime import timedelta

import pytest

from consumers.state.memory import InMemoryThreadStore
from router.events import CloudEvent
from router.ids import action_key, event_id, scoped_id
from router.topics import Topic
from router.vocabulary import EventType
from tests.unit.core.test_merge_in_poll import record
from tests.unit.core.test_routing_handler import AT, Broker, event, handler, inbound, snapshot

pytestmark = pytest.mark.unit


def resolve(ticket_id: str, source: str, offset: int) -> CloudEvent:
    return CloudEvent(
        id="1001",
        source=source,
        type="ticket.resolved",
        time=AT + timedelta(minutes=offset),
        data={"ticket_id": ticket_id},
    )


async def test_the_same_id_from_two_helpdesks_resolves_both_tickets() -> None:
    store, broker = InMemoryThreadStore(), Broker()
    router = handler(store, broker)
    await router.handle([inbound("ann@example.com", "about shipping", 0)])
    first = snapshot(broker.take())
    await router.handle([inbound("bob@example.com", "about billing", 1)])
    second = snapshot(broker.take())
    zendesk = resolve(first.id, "/switchboard/actions/zendesk", 2)
    freshdesk = resolve(second.id, "/switchboard/actions/freshdesk", 3)
    await router.handle([record(Topic.ACTIONS, first.id, zendesk, 2)])
    await router.handle([record(Topic.ACTIONS, second.id, freshdesk, 3)])
    resolved = [
        event(r) for r in broker.take() if event(r)["type"] == EventType.TICKET_RESOLVED.value
    ]
    assert [e["data"]["ticket"]["id"] for e in resolved] == [first.id, second.id]
    assert resolved[0]["id"] != resolved[1]["id"]


def test_an_action_under_an_inbound_channels_source_cannot_name_its_next_message() -> None:
    source = "/switchboard/channels/email"
    next_message = event_id(source, "<next@example.com>")
    assert scoped_id(source, next_message) == next_message  # the message's own key
    assert action_key(source, next_message) != next_message  # an action's: scoped
    # the ingress's own actions keep the ids their clients chose, as before
    assert action_key("/switchboard/actions", "order-17") == "order-17"


def test_a_crm_number_beyond_any_float_is_a_validation_error_not_a_crash() -> None:
    from pydantic import ValidationError

    from router.actions import CustomerUpserted

    huge = "1" + "0" * 400
    raw = '{"id": "c-1", "attributes": {"account": ' + huge + ', "n": 2}}'
    with pytest.raises(ValidationError, match="too large to keep"):
        CustomerUpserted.model_validate_json(raw)
    fits = CustomerUpserted.model_validate_json(
        '{"id": "c-1", "attributes": {"a": [1' + "0" * 30 + "]}}"
    )
    assert fits.attributes == {"a": [1e30]}
