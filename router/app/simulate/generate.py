"""Generated days of traffic, for the shipped example, the tests and the benchmark.

A day is what ``switchboard export inbound`` writes: one inbound CloudEvent per line.
Arrivals are a Poisson process whose rate follows a working-day profile (``profile``) or
stays flat; texts are drawn so that the example rules route them to their queues; a
share of customers write again on the same thread (a reply that joins their ticket).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from router.codec import encode_event
from router.events import CloudEvent, Customer, Interaction, ThreadRef
from router.ids import event_id
from router.vocabulary import EventType

# (weight, channel, inbox, subject, text): what the example rules route to each queue
TOPICS: tuple[tuple[float, str, str, str, str], ...] = (
    (0.30, "email", "billing@acme.example", "Invoice question", "My invoice shows a refund"),
    (0.10, "chat", "chat", "Payment", "I was charged twice, please refund"),
    (0.25, "email", "support@acme.example", "Login problem", "I get an error and cannot log in"),
    (0.15, "chat", "chat", "App crash", "The app shows an error on start"),
    (0.10, "email", "sales@acme.example", "Pricing", "Can I get a quote for 20 seats?"),
    (0.10, "webform", "web", "Question", "How do I change my address?"),
)
# arrivals per hour, relative, from 00:00 to 23:00 (UTC in generated days)
PROFILE = (
    0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.4, 1.8, 1.9, 1.7,
    1.4, 1.6, 1.7, 1.6, 1.3, 1.0, 0.7, 0.5, 0.4, 0.3, 0.2, 0.1,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DaySpec:
    start: datetime
    arrivals: int
    seed: int = 1
    customers: int = 0  # 0: about one per two arrivals
    reply_share: float = 0.1  # arrivals that answer an earlier message of their customer
    flat: bool = False  # a constant rate instead of ``PROFILE``
    topics: Sequence[tuple[float, str, str, str, str]] = TOPICS


def arrival_times(spec: DaySpec, rng: random.Random) -> list[datetime]:
    """``spec.arrivals`` instants over one day: sorted uniform draws weighted by the
    hourly profile, which is the Poisson process given its count."""
    if spec.flat:
        offsets = sorted(rng.random() * 86400 for _ in range(spec.arrivals))
    else:
        hours = rng.choices(range(24), weights=PROFILE, k=spec.arrivals)
        offsets = sorted(h * 3600 + rng.random() * 3600 for h in hours)
    return [spec.start + timedelta(seconds=s) for s in offsets]


def generate(spec: DaySpec) -> Iterator[bytes]:
    """The day's inbound events, one encoded CloudEvent each, in time order."""
    rng = random.Random(spec.seed)
    customers = spec.customers or max(1, spec.arrivals // 2)
    weights = [t[0] for t in spec.topics]
    last_message: dict[int, tuple[str, str]] = {}  # customer -> (message id, subject)
    for n, at in enumerate(arrival_times(spec, rng)):
        who = rng.randrange(customers)
        _, channel, inbox, subject, text = rng.choices(spec.topics, weights=weights)[0]
        message_id = f"<m{spec.seed}.{n}@sample.example>"
        thread = ThreadRef(message_id=message_id)
        earlier = last_message.get(who)
        if earlier is not None and rng.random() < spec.reply_share:
            thread = ThreadRef(message_id=message_id, in_reply_to=earlier[0])
            subject = "Re: " + earlier[1]
        last_message[who] = (message_id, subject)
        interaction = Interaction(
            channel=channel,
            customer=Customer(email=f"customer{who}@sample.example"),
            inbox=inbox,
            thread=thread,
            subject=subject,
            text=text,
        )
        source = f"/v1/channels/{channel}"
        yield encode_event(
            CloudEvent(
                id=event_id(source, message_id),
                source=source,
                type=EventType.INTERACTION_RECEIVED,
                subject=interaction.sender_key(),
                time=at,
                data=interaction.model_dump(mode="json", exclude_none=True),
            )
        )


def write_day(spec: DaySpec, out: Path) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with out.open("wb") as file:
        for line in generate(spec):
            file.write(line + b"\n")
            written += 1
    return written


def day_start(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m router.app.simulate.generate --start 2026-11-23 --arrivals 1500 --out
    examples/staffing/day.jsonl``: how the shipped sample day was made."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", required=True, help="the day, YYYY-MM-DD (UTC)")
    parser.add_argument("--arrivals", type=int, required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    spec = DaySpec(day_start(args.start), args.arrivals, args.seed, args.customers)
    print(f"wrote {write_day(spec, args.out)} events to {args.out}")


if __name__ == "__main__":
    main()
