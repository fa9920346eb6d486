"""A Google Group as the support address: for a DMARC-strict sender the group rewrites
From to its own address ("Person via Support" <support@acme.test>) and names the writer
in X-Original-Sender and Reply-To. The writer is the customer, never our own inbox."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

import httpx
import pytest
from pydantic import SecretStr

from channels.email import interpret
from consumers.state.memory import InMemoryThreadStore
from router.events import Interaction
from router.settings import Settings
from tests.unit.channels import test_email_threading as threading_tests
from tests.unit.channels.support import Remembering, ingress_client
from tests.unit.channels.test_email_threading import record
from tests.unit.core.test_routing_handler import Broker, customer, handler, snapshot

pytestmark = pytest.mark.unit

GROUP = "support@acme.test"
#: SWITCHBOARD_EMAIL_GROUP_ADDRESSES: the group is our support address.
GROUPS = frozenset({GROUP})


def group_mail(n: int, *, headers: str | None = None, to: str = GROUP) -> bytes:
    """What the group delivers for person ``n``, as in the audit's repro."""
    if headers is None:
        headers = (
            f"Reply-To: person{n}@outside.example\r\n"
            f"X-Original-Sender: person{n}@outside.example\r\n"
        )
    return (
        f'From: "Person{n} via Support" <{GROUP}>\r\n{headers}'
        f"To: {to}\r\nList-Id: <support.acme.test>\r\nSubject: Question {n}\r\n"
        f"Message-ID: <gg-{n}@outside.example>\r\n\r\nQuestion number {n}.\r\n"
    ).encode()


def event(raw: bytes) -> Interaction:
    _, interaction = interpret(raw, group_addresses=GROUPS)
    assert interaction is not None
    return interaction


def test_two_people_writing_through_the_group_are_two_customers() -> None:
    first, second = event(group_mail(1)), event(group_mail(2))
    assert (first.customer.email, first.customer.name) == ("person1@outside.example", "Person1")
    assert (second.customer.email, second.customer.name) == ("person2@outside.example", "Person2")
    assert first.sender_key() != second.sender_key()
    assert first.metadata["customer_from"] == "x-original-sender"
    assert first.inbox == GROUP


async def test_the_second_persons_question_opens_a_ticket_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ``record`` writes what the ingress writes, here with the group configured
    monkeypatch.setattr(threading_tests, "interpret", partial(interpret, group_addresses=GROUPS))
    store, broker = InMemoryThreadStore(), Broker()
    await handler(store, broker).handle([record(group_mail(1), 0)])
    first = snapshot(broker.take())
    await handler(store, broker).handle([record(group_mail(2), 1)])
    second = snapshot(broker.take())
    assert second.id != first.id
    assert first.customer_id == await customer(store, "person1@outside.example")
    assert second.customer_id == await customer(store, "person2@outside.example")
    assert await store.customer_of(f"email:{GROUP}") is None


def test_a_single_reply_to_names_the_writer_when_there_is_no_x_original_sender() -> None:
    mail = event(group_mail(1, headers="Reply-To: Person One <person1@outside.example>\r\n"))
    assert (mail.customer.email, mail.customer.name) == ("person1@outside.example", "Person One")
    assert mail.metadata["customer_from"] == "reply-to"


def test_x_original_sender_wins_over_reply_to() -> None:
    headers = (
        "Reply-To: helpdesk-replies@outside.example\r\n"
        "X-Original-Sender: person1@outside.example\r\n"
    )
    assert event(group_mail(1, headers=headers)).customer.email == "person1@outside.example"


def test_the_lists_group_address_is_ours_even_when_the_mail_was_written_to_another() -> None:
    """The customer wrote to sales@ with the support group in copy; From names the group
    that distributed it, which its List-Id identifies."""
    mail = event(group_mail(1, to=f"sales@acme.test\r\nCc: {GROUP}"))
    assert mail.inbox == "sales@acme.test"
    assert mail.customer.email == "person1@outside.example"


def test_a_foreign_lists_mail_keeps_the_list_as_its_sender() -> None:
    """Not our inbox: list traffic, flagged and recorded under the list, as before."""
    raw = (
        b'From: "Person1 via Announce" <announce@lists.example.de>\r\n'
        b"X-Original-Sender: person1@outside.example\r\nTo: support@acme.test\r\n"
        b"List-Id: <announce.lists.example.de>\r\nSubject: Release\r\n\r\n4.2 is out\r\n"
    )
    mail = event(raw)
    assert (mail.customer.email, mail.auto_reply) == ("announce@lists.example.de", True)


def test_an_ordinary_mail_with_another_reply_to_is_still_from_its_sender() -> None:
    raw = (
        b"From: Anna Mueller <anna@example.de>\r\nReply-To: billing@example.de\r\n"
        b"X-Original-Sender: someone@else.example\r\nTo: support@acme.test\r\n"
        b"Subject: Invoice\r\nMessage-ID: <a1@example.de>\r\n\r\nHello\r\n"
    )
    mail = event(raw)
    assert (mail.customer.email, mail.customer.name) == ("anna@example.de", "Anna Mueller")
    assert "customer_from" not in mail.metadata
    assert mail.metadata["reply_to"] == ["billing@example.de"]


def test_reply_to_naming_the_group_again_is_no_writer() -> None:
    headers = f"Reply-To: {GROUP}\r\nX-Original-Sender: {GROUP}\r\n"
    _, interaction = interpret(group_mail(1, headers=headers), group_addresses=GROUPS)
    assert interaction is None


def test_an_original_sender_holding_a_control_character_is_passed_over() -> None:
    """Like From, an X-Original-Sender with a NUL names no mailbox: Reply-To is the writer."""
    headers = "Reply-To: person1@outside.example\r\nX-Original-Sender: p\x00@outside.example\r\n"
    mail = event(group_mail(1, headers=headers))
    assert mail.customer.email == "person1@outside.example"
    assert mail.metadata["customer_from"] == "reply-to"


def test_several_reply_to_addresses_name_no_single_writer() -> None:
    headers = "Reply-To: a@outside.example, b@outside.example\r\n"
    _, interaction = interpret(group_mail(1, headers=headers), group_addresses=GROUPS)
    assert interaction is None


def test_machine_mail_from_our_own_inbox_is_recorded_without_a_customer() -> None:
    """As a bounce from ``<>``: published flagged (it never opens a ticket), but our inbox
    is not made a customer."""
    headers = "Auto-Submitted: auto-replied\r\n"
    mail = event(group_mail(1, headers=headers))
    assert mail.auto_reply
    assert mail.customer.email is None
    assert mail.sender_key() == "email:anonymous"


@pytest.fixture
def publisher() -> Remembering:
    return Remembering()


@pytest.fixture
async def client(publisher: Remembering) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_tokens=SecretStr("t"), email_group_addresses=GROUPS)
    async with ingress_client(settings, publisher) as c:
        yield c


RFC822 = {"content-type": "message/rfc822"}


async def test_the_group_mails_are_published_under_each_writer(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    for n in (1, 2):
        resp = await client.post("/v1/channels/email", content=group_mail(n), headers=RFC822)
        assert resp.status_code == 202, resp.text
    keys = [data.sender_key() for _, data in publisher.published]
    assert keys == ["email:person1@outside.example", "email:person2@outside.example"]
    assert [data.auto_reply for _, data in publisher.published] == [False, False]
    assert all(GROUP not in (pid or "") for pid, _ in publisher.published)


async def test_mail_from_our_own_inbox_naming_nobody_else_is_refused_at_from(
    client: httpx.AsyncClient, publisher: Remembering
) -> None:
    resp = await client.post(
        "/v1/channels/email", content=group_mail(1, headers=""), headers=RFC822
    )
    assert resp.status_code == 400, resp.text
    problem = resp.json()
    assert problem["errors"][0]["pointer"] == "/headers/from"
    assert GROUP in problem["detail"]
    assert publisher.published == []
