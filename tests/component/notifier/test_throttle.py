"""Auto-replies to one mailbox are capped per window: a web form is unverified, and forty
posts as ``victim+1@`` .. ``victim+40@`` would otherwise mail one inbox forty times with
text the poster chose. Counted per delivery in Redis: a redelivered batch counts
nothing twice, and every notifier process shares the count."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from consumers.notify.plan import Delivery
from consumers.notify.throttle import ReplyThrottle, counted_as, mailbox
from router.app.embedded import EmbeddedServices
from tests.component.notifier.test_backlog import Notifier, notifier_on

pytestmark = pytest.mark.component


@pytest.fixture
async def throttled(services: EmbeddedServices) -> AsyncIterator[Notifier]:
    """A notifier whose mailboxes get at most 3 auto-replies an hour."""
    async with notifier_on(services, "throttle", throttle_limit=3) as made:
        yield made


def test_a_mailbox_is_the_address_without_its_tag_in_lower_case() -> None:
    assert mailbox("Victim+17@Mailbox.Example") == "victim@mailbox.example"
    assert mailbox(" ann@example.com ") == "ann@example.com"
    assert mailbox("+4930901820") == "+4930901820"


@pytest.mark.parametrize(
    "address",
    [
        "v.ictim@gmail.com",
        "Vi.c.tim+x@GoogleMail.com",
        "victim@gmail.com.",
        "v.i.c.t.i.m@googlemail.com.",
    ],
)
def test_gmail_dots_googlemail_and_a_trailing_dot_reach_one_mailbox(address: str) -> None:
    """Gmail ignores dots in the local part and answers to googlemail.com as well; a
    domain with its root dot is the same domain: each was a fresh share of auto-replies
    into one inbox."""
    assert mailbox(address) == "victim@gmail.com"


def test_dots_elsewhere_are_part_of_the_mailbox() -> None:
    assert mailbox("v.ictim@example.com") == "v.ictim@example.com"
    assert mailbox("v.ictim@example.com.") == "v.ictim@example.com"
    assert mailbox("v.ictim@gmail.com.evil.example") == "v.ictim@gmail.com.evil.example"


async def test_gmail_dot_variants_share_one_mailboxs_auto_replies(throttled: Notifier) -> None:
    variants = ["victim@gmail.com", "v.ictim@gmail.com", "vi.ctim@gmail.com"]
    variants += ["victim@googlemail.com", "victim@gmail.com.", "vic.tim@gmail.com"]
    for address in variants:
        await throttled.notify(address)
    assert throttled.transport.to() == variants[:3]


async def test_forty_posts_as_one_inbox_under_plus_tags_get_three_auto_replies(
    throttled: Notifier,
) -> None:
    for n in range(40):
        await throttled.notify(f"victim+{n}@mailbox.example")
    await throttled.notify("someone.else@example.com")  # another mailbox: its own share
    assert throttled.transport.to() == [
        "victim+0@mailbox.example",
        "victim+1@mailbox.example",
        "victim+2@mailbox.example",
        "someone.else@example.com",
    ]


async def test_a_delivery_counted_before_is_allowed_again_and_counts_once(
    throttled: Notifier,
) -> None:
    """A batch redelivered after a crash asks again for the deliveries it counted."""
    throttle = ReplyThrottle(throttled.redis, prefix=throttled.keys.prefix, limit=2, window_s=60)
    first, second, third = (
        Delivery(f"d-{n}", f"e-{n}", "auto_reply", "after-hours", "email", "ann@example.com")
        for n in range(3)
    )
    assert [await throttle.allow(d) for d in (first, second)] == [True, True]
    assert await throttle.allow(first)  # the same delivery again: not a third
    assert not await throttle.allow(third)
    key = throttled.keys.auto_replies(counted_as(first))
    assert "ann" not in key  # no address in a key: `forget` does not look for it
    assert 0 < await throttled.redis.ttl(key) <= 60  # the window passes: a new share


async def test_a_batch_sends_its_pages_before_its_auto_replies(throttled: Notifier) -> None:
    """A burst of web-form auto-replies ahead of an outage's page on the topic: on a slow
    provider the page waited behind every one of them (47 s behind 200)."""
    batch = [await throttled.record(f"customer-{n}@example.com") for n in range(3)]
    batch.append(await throttled.record("ignored@example.com", template="oncall", kind="notify"))
    await throttled.handler.handle(batch)
    sent = throttled.transport.to()
    assert sent[:2] == ["oncall@acme.example", "+4930901820"]  # the page, by both media
    assert sorted(sent[2:]) == [f"customer-{n}@example.com" for n in range(3)]
