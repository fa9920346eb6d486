"""Meta payload shapes whose sender is no phone or page-scoped id: WhatsApp users known
only by their business-scoped user id (BSUID), Messenger checkbox plugin opt-ins and chat
plugin guests; ``standby`` events; Messenger attachments of every type.

Shapes as Meta documents them: "Business-scoped user IDs" (WhatsApp Cloud API; a contact
may carry only ``profile`` and ``user_id``, messages ``from_user_id``), the Messenger
Platform webhook references for ``messaging_optins`` ("The sender object is not included
for messaging_optins events triggered by the checkbox plugin"), ``messages``
(``sender.user_ref`` for the chat plugin, attachment types) and ``standby``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from channels.meta import extract
from consumers.state.memory import InMemoryThreadStore
from router.codec import CONTENT_TYPE_HEADER, encode_event
from router.events import CloudEvent, Interaction
from router.ids import event_id
from router.topics import Topic
from router.vocabulary import EventType
from tests.unit.core.test_routing_handler import AT, NAMES, Broker, handler, snapshot

pytestmark = pytest.mark.unit

BSUID = "US.13491208655302741918"


def whatsapp(contacts: list[dict[str, Any]], messages: list[dict[str, Any]]) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550953877", "phone_number_id": "106"},
        "contacts": contacts,
        "messages": messages,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA1", "changes": [{"field": "messages", "value": value}]}],
    }


def text(wamid: str, body: str, **sender: str) -> dict[str, Any]:
    return {
        **sender,
        "id": wamid,
        "timestamp": "1764942000",
        "type": "text",
        "text": {"body": body},
    }


def test_a_username_user_known_only_by_bsuid_is_published_as_a_whatsapp_handle() -> None:
    hook = whatsapp(
        [{"profile": {"name": "Jane", "username": "@jane"}, "user_id": BSUID}],
        [text("wamid.AUD4bsuid", "hi", from_user_id=BSUID)],
    )
    _, found = extract(hook)
    [(provider_id, interaction)] = found.messages
    assert (provider_id, found.ignored) == ("wamid.AUD4bsuid", 0)
    customer = interaction.customer
    assert (customer.phone, customer.name, customer.handles) == (None, "Jane", {"whatsapp": BSUID})
    assert interaction.sender_key() == f"whatsapp:{BSUID}"
    assert interaction.thread.conversation_id == BSUID
    assert interaction.text == "hi"


def test_a_phone_with_a_bsuid_beside_it_stays_the_phone_path() -> None:
    """As Meta sends it to users who have no username: both ids; the customer is the
    phone as before, the BSUID kept in ``metadata.user_id``."""
    hook = whatsapp(
        [{"profile": {"name": "Krish"}, "wa_id": "919810218674", "user_id": "IN.1410018717833190"}],
        [text("wamid.both", "Hey", **{"from": "919810218674"}, from_user_id="IN.1410018717833190")],
    )
    [(_, interaction)] = extract(hook)[1].messages
    assert interaction.customer.phone == "+919810218674"
    assert interaction.customer.name == "Krish"
    assert interaction.sender_key() == "phone:+919810218674"
    assert interaction.metadata["user_id"] == "IN.1410018717833190"


def test_a_message_with_phone_and_bsuid_names_both_identities() -> None:
    """The user id is the ``whatsapp`` handle beside the phone, so the message links the
    two; a later message with only the user id carries that same identity."""
    both = whatsapp(
        [{"profile": {"name": "Krish"}, "wa_id": "919810218674", "user_id": "IN.14100187"}],
        [text("wamid.both", "Hey", **{"from": "919810218674"}, from_user_id="IN.14100187")],
    )
    only = whatsapp(
        [{"profile": {"name": "Krish", "username": "@krish"}, "user_id": "IN.14100187"}],
        [text("wamid.only", "Still there?", from_user_id="IN.14100187")],
    )
    [(_, first)] = extract(both)[1].messages
    [(_, later)] = extract(only)[1].messages
    assert first.customer.identities() == ["phone:+919810218674", "whatsapp:IN.14100187"]
    assert later.customer.identities() == ["whatsapp:IN.14100187"]


def inbound_record(interaction: Interaction, offset: int) -> ConsumerRecord[bytes, bytes]:
    """The inbound record the Meta ingress writes for one WhatsApp message."""
    event = CloudEvent(
        id=event_id("/v1/channels/messenger", interaction.thread.message_id or ""),
        source="/v1/channels/messenger",
        type=EventType.INTERACTION_RECEIVED,
        subject=interaction.sender_key(),
        time=AT + timedelta(minutes=offset),
        data=interaction.model_dump(mode="json", exclude_none=True),
    )
    key, value = interaction.sender_key().encode(), encode_event(event)
    stamp = int((AT + timedelta(minutes=offset)).timestamp() * 1000)
    topic = NAMES(Topic.INBOUND)
    return ConsumerRecord(
        topic, 0, offset, stamp, 0, key, value, None, len(key), len(value), (CONTENT_TYPE_HEADER,)
    )


async def test_a_user_who_later_withholds_the_phone_stays_on_the_same_ticket() -> None:
    """First message with phone and user id, the next (after adopting a username) with
    the user id only: one customer, one ticket, as the same person on WhatsApp."""
    first = whatsapp(
        [{"profile": {"name": "Krish"}, "wa_id": "919810218674", "user_id": "IN.14100187"}],
        [text("wamid.1", "My order", **{"from": "919810218674"}, from_user_id="IN.14100187")],
    )
    second = whatsapp(
        [{"profile": {"name": "Krish", "username": "@krish"}, "user_id": "IN.14100187"}],
        [text("wamid.2", "Any news?", from_user_id="IN.14100187")],
    )
    store, broker = InMemoryThreadStore(), Broker()
    [(_, one)] = extract(first)[1].messages
    await handler(store, broker).handle([inbound_record(one, 0)])
    opened = snapshot(broker.take())
    [(_, two)] = extract(second)[1].messages
    await handler(store, broker).handle([inbound_record(two, 1)])
    joined = snapshot(broker.take())
    assert (joined.id, joined.contacts) == (opened.id, 2)
    assert await store.customer_of("whatsapp:IN.14100187") == opened.customer_id
    assert await store.customer_of("phone:+919810218674") == opened.customer_id


def test_a_message_without_any_sender_id_is_ignored_and_the_rest_published() -> None:
    hook = whatsapp(
        [{"profile": {"name": "Jane"}, "user_id": BSUID}],
        [text("wamid.nobody", "who am I"), text("wamid.ok", "hi", from_user_id=BSUID)],
    )
    _, found = extract(hook)
    assert [pid for pid, _ in found.messages] == ["wamid.ok"]
    assert found.ignored == 1


def messenger(*events: dict[str, Any], **entry: Any) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": "PAGE1", "messaging": list(events), **entry}]}


MESSAGE = {
    "sender": {"id": "PSID-1"},
    "recipient": {"id": "PAGE1"},
    "timestamp": 1762164000000,
    "message": {"mid": "m_1", "text": "my order"},
}
CHECKBOX_OPTIN = {
    "recipient": {"id": "PAGE1"},
    "timestamp": 1762164000000,
    "optin": {"ref": "r", "user_ref": "UREF"},
}


def test_a_checkbox_opt_in_without_sender_is_ignored_and_the_message_published() -> None:
    hook = {
        "object": "page",
        "entry": [messenger(MESSAGE)["entry"][0], messenger(CHECKBOX_OPTIN)["entry"][0]],
    }
    _, found = extract(hook)
    assert [pid for pid, _ in found.messages] == ["m_1"]
    assert found.ignored == 1


def test_a_chat_plugin_guest_is_published_under_its_user_ref() -> None:
    guest = {
        **MESSAGE,
        "sender": {"user_ref": "guest-abc"},
        "message": {"mid": "m_g", "text": "hi"},
    }
    _, found = extract(messenger(guest, MESSAGE))
    assert found.ignored == 0
    first, second = (m for _, m in found.messages)
    assert first.customer.handles == {"messenger": "user_ref:guest-abc"}
    assert first.sender_key() == "messenger:user_ref:guest-abc"
    assert first.thread.conversation_id == "PAGE1:user_ref:guest-abc"
    assert second.customer.handles == {"messenger": "PSID-1"}


def test_a_sender_with_neither_id_nor_user_ref_is_ignored() -> None:
    _, found = extract(messenger({**MESSAGE, "sender": {}}))
    assert (found.messages, found.ignored) == ([], 1)


def test_a_malformed_sender_id_ignores_only_its_event() -> None:
    """A control character makes no id (never published), but refusing the delivery
    would lose the messages beside it: Meta only redelivers a 400."""
    bad = {**MESSAGE, "sender": {"id": "PSID\x00"}, "message": {"mid": "m_bad", "text": "x"}}
    _, found = extract(messenger(bad, MESSAGE))
    assert ([pid for pid, _ in found.messages], found.ignored) == (["m_1"], 1)


def test_standby_events_are_counted_as_ignored_not_published() -> None:
    standby = {
        "sender": {"id": "PSID-9"},
        "recipient": {"id": "PAGE1"},
        "timestamp": 1762164000000,
        "message": {"mid": "m_standby", "text": "for the other app"},
    }
    _, found = extract(messenger(standby=[standby, standby]))
    assert (found.messages, found.ignored) == ([], 2)
    _, mixed = extract(messenger(MESSAGE, standby=[standby]))
    assert ([pid for pid, _ in mixed.messages], mixed.ignored) == (["m_1"], 1)


def attached(*attachments: dict[str, Any]) -> dict[str, Any]:
    return messenger({**MESSAGE, "message": {"mid": "m_a", "attachments": list(attachments)}})


@pytest.mark.parametrize(
    ("attachment", "media"),
    [
        (
            {"type": "file", "payload": {"url": "https://cdn.example/f.pdf"}},
            {"type": "file", "url": "https://cdn.example/f.pdf"},
        ),
        ({"type": "template", "payload": {"template_type": "generic"}}, {"type": "template"}),
        (
            {"type": "story_mention", "payload": {"url": "https://cdn.example/s"}},
            {"type": "story_mention", "url": "https://cdn.example/s"},
        ),
        (
            {"type": "image", "payload": {"url": "https://cdn.example/i.jpg"}},
            {"type": "image", "url": "https://cdn.example/i.jpg"},
        ),
    ],
)
def test_messenger_attachments_keep_their_type(
    attachment: dict[str, Any], media: dict[str, Any]
) -> None:
    [(_, interaction)] = extract(attached(attachment))[1].messages
    assert interaction.metadata["media"] == [media]
    assert len(interaction.attachments) == 1


@pytest.mark.parametrize(
    "link",
    [  # as Messenger has sent it (messenger4j's webhook tests), and with the URL in payload
        {"type": "fallback", "payload": None, "title": "A page", "URL": "https://ex.test/a"},
        {"type": "fallback", "payload": {"url": "https://ex.test/a", "title": "A page"}},
    ],
)
def test_a_shared_link_is_its_title_and_url_as_text_not_a_nameless_file(
    link: dict[str, Any],
) -> None:
    [(_, interaction)] = extract(attached(link))[1].messages
    assert interaction.text == "A page\nhttps://ex.test/a"
    assert interaction.attachments == []
    assert interaction.metadata["media"] == [
        {"type": "fallback", "url": "https://ex.test/a", "title": "A page"}
    ]


def test_a_messenger_location_is_its_coordinates_as_text() -> None:
    place = {
        "type": "location",
        "title": "Pinned Location",
        "payload": {"coordinates": {"lat": 52.52, "long": 13.405}},
    }
    [(_, interaction)] = extract(attached(place))[1].messages
    assert interaction.text == "52.52, 13.405"
    assert interaction.attachments == []
    assert interaction.metadata["media"] == [{"type": "location", "title": "Pinned Location"}]


def test_an_instagram_unsend_is_ignored_not_published() -> None:
    """Instagram's "unsend" (``is_deleted``) once became an empty customer message, which
    opened a ticket once its message had left the dedupe window."""
    unsend = {**MESSAGE, "message": {"mid": "m_1", "is_deleted": True}}
    _, found = extract({**messenger(unsend), "object": "instagram"})
    assert (found.messages, found.ignored) == ([], 1)


def test_a_messenger_edit_is_published_as_its_new_text_naming_the_message_it_replaces() -> None:
    """As a WhatsApp edit is; it had been dropped, so the corrected words never reached
    the ticket."""
    edit = {**MESSAGE, "message_edit": {"mid": "m_1", "text": "my order #124", "num_edit": 1}}
    del edit["message"]
    _, found = extract(messenger(MESSAGE, edit))
    [(_, original), (provider_id, edited)] = found.messages
    assert provider_id == "m_1:edit:1"  # Meta's retry of the edit is a duplicate
    assert edited.text == "my order #124"
    assert edited.thread.references == ["m_1"]  # finds the original's ticket
    assert edited.metadata["edited_message_id"] == "m_1"
    assert edited.sender_key() == original.sender_key() == "messenger:PSID-1"
    again = {**edit, "message_edit": {**edit["message_edit"], "num_edit": 2}}
    assert extract(messenger(again))[1].messages[0][0] == "m_1:edit:2"


def test_a_whatsapp_catalog_order_lists_its_items_and_keeps_the_order() -> None:
    """The text had been "Order with 2 item(s)." with no item, and the order was gone
    (shape from Meta's Cloud API webhook reference for ``type: order``)."""
    order = {
        "catalog_id": "cat-1",
        "text": "please gift-wrap",
        "product_items": [
            {"product_retailer_id": "SKU-1", "quantity": 2, "item_price": 9.5, "currency": "EUR"},
            {"product_retailer_id": "SKU-2", "quantity": 1, "item_price": 20, "currency": "EUR"},
        ],
    }
    message = {"from": "4915112345678", "id": "wamid.order1", "timestamp": "1764942000"}
    hook = whatsapp([], [{**message, "type": "order", "order": order}])
    [(_, interaction)] = extract(hook)[1].messages
    assert interaction.text == (
        "Order with 2 item(s):\n- 2 x SKU-1 at 9.5 EUR\n- 1 x SKU-2 at 20 EUR\nplease gift-wrap"
    )
    assert interaction.metadata["order"] == order


@pytest.mark.parametrize("timestamp", ["2021-09-08T06:34:04+0000", None, True, "later"])
def test_a_messenger_message_with_a_timestamp_of_another_shape_is_still_published(
    timestamp: object,
) -> None:
    """Meta sends milliseconds; an ISO string (a relay's, Chatwoot's test factory) had
    dropped the whole message as an ignored event."""
    event = {**MESSAGE, "timestamp": timestamp, "message": {"mid": "m_t", "text": "hi"}}
    [(provider_id, interaction)] = extract(messenger(event))[1].messages
    assert (provider_id, interaction.text, interaction.sent_at) == ("m_t", "hi", None)


def test_an_instagram_message_keeps_its_ad_its_story_and_that_it_was_unsupported() -> None:
    """Shapes of Meta's Instagram messaging webhook reference: a message's own
    ``referral`` (a postback's was kept, a message's dropped), a story reply and an
    ``is_unsupported`` message, which comes in without text."""
    referral = {"ref": "spring", "ad_id": "6761", "source": "ADS", "type": "OPEN_THREAD"}
    story = {"id": "179", "url": "https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=179"}
    event = {
        **MESSAGE,
        "message": {
            "mid": "m_ig",
            "text": "love it",
            "referral": referral,
            "reply_to": {"story": story},
            "is_unsupported": True,
        },
    }
    [(_, interaction)] = extract({**messenger(event), "object": "instagram"})[1].messages
    assert interaction.metadata["referral"] == referral
    assert interaction.metadata["story"] == story
    assert interaction.metadata["unsupported"] is True
