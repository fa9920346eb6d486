"""An auto-reply to a sender that says no one reads its mail (``noreply@``,
``do-not-reply@``...) is not sent: a shop's shipping notice or a newsletter that reaches
the support address opens a ticket as any message does, but our acknowledgement would
go nowhere (or bounce back). Recorded as skipped; a page to such an address still goes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from consumers.notify.plan import no_reply
from router.app.embedded import EmbeddedServices
from router.ids import derived_id
from tests.component.notifier.test_backlog import Notifier, notifier_on

pytestmark = pytest.mark.component

NO_ONE = [
    "noreply@shop.example",
    "No-Reply@Shop.Example",
    "DoNotReply+orders@shop.example",
    "do-not-reply@bank.example",
    "do_not_reply@bank.example",
]


@pytest.fixture
async def notifier(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    async with notifier_on(services, "no-reply") as made:
        yield made


@pytest.mark.parametrize("address", NO_ONE)
def test_no_reply_addresses(address: str) -> None:
    assert no_reply(address)


@pytest.mark.parametrize(
    "address", ["reply@shop.example", "noreplies@x.example", "ann@noreply.example", "+4930901820"]
)
def test_addresses_someone_reads(address: str) -> None:
    assert not no_reply(address)


async def test_no_auto_reply_goes_to_a_no_reply_sender(notifier: Notifier) -> None:
    for address in [*NO_ONE, "ann@example.com"]:
        await notifier.notify(address)
    assert notifier.transport.to() == ["ann@example.com"]
    ledger = notifier.handler._ledger  # noqa: SLF001 - what the ledger recorded
    state = await ledger.state(derived_id("e-0", "deliver", "email", NO_ONE[0]))
    assert state["state"] == "skipped"
    assert "no-reply" in state["answer"]
