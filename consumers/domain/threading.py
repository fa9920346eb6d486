"""Where a customer message goes: a new ticket, an open one, or a reopened one. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from consumers.domain.assignment import worked_by
from consumers.domain.sla import customer_wrote, resumed
from router.actions import MAX_HANDLE_SECONDS
from router.events import Interaction, Ticket
from router.ids import message_key, ticket_id
from router.vocabulary import CONTACT_CALLS, SETTLED
from rules import RuleSet

Placement = Literal["new", "join", "reopen", "call", "skip"]
OPEN_STATUSES = ("new", "open", "pending")
HANDLE_PARTS = ("talk_seconds", "hold_seconds", "wrap_seconds")
MAX_PART_S = MAX_HANDLE_SECONDS  # a day at most, as the ingress takes it
MAX_MESSAGE_IDS = 50  # a ticket's latest thread keys (``Ticket.message_ids``)


@dataclass(frozen=True, slots=True)
class Placed:
    kind: Placement
    ticket: Ticket | None
    reason: str
    # a call part that counts as one handled call (``.message_added``'s ``handled``):
    # the first of its call to report seconds on the ticket
    handled: bool = False


def place(  # noqa: PLR0911 - one return per placement rule reads best
    interaction: Interaction,
    current: Ticket | None,
    *,
    event_id: str,
    customer_id: str,
    at: datetime,
    reopen_window: timedelta,
    rules: RuleSet,
    by_reply: bool = False,
) -> Placed:
    """Decide the ticket for one message (the ticket *before* rules run).

    - an auto-reply or bounce never opens a ticket (it may not reopen one either);
    - a call that was answered or ended is no customer contact: it adds its handling
      time to the ticket it belongs to (found by its call id, whatever that ticket's
      status, else the customer's ticket unless resolved or closed) and changes nothing
      else; a ringing call changes nothing at all;
    - a missed call or voicemail of a call already on the open ticket (the voicemail
      after its missed call) joins it as the same contact: ``contacts`` stays as it is;
    - the ticket found by reply headers or the customer's open ticket is joined;
    - a resolved ticket within the reopen window is reopened;
    - a reply to a ticket that can no longer be reopened opens a follow-up ticket
      (``follow_up_of``), as the large helpdesks do;
    - anything else opens a new ticket, named after this event.

    A message joined or reopened ends a postponement (``sla.resumed``: the clocks give
    back the part of the pause still to come), as a customer's reply takes a ticket off
    hold in the large helpdesks, so a next reply is owed from the message itself. A
    reopen resumes the clocks paused while the ticket was resolved (``sla.resumed``),
    the offer not yet accepted among them: its agent has the accept time it had left. A
    message joined or reopened after a public agent reply starts a next_response SLA
    cycle (``sla.customer_wrote``), timed when the rules have run. A reopen starts one
    even if the last cycle breached unanswered: the resolution ended that cycle, and
    the contract's next_response is owed for every customer message after a public
    reply, whether or not the ticket was resolved in between.
    """
    call = call_event(interaction)
    if call is not None and call not in CONTACT_CALLS:
        return _call(interaction, current, call, at, by_call_id=by_reply)
    if current is not None and current.status in OPEN_STATUSES:
        if interaction.auto_reply:
            return Placed("skip", None, "auto-reply to an open ticket")
        current = resumed(current, rules, at)
        if call is not None and thread_key(interaction) in current.message_ids:
            same = _joined(current, interaction, at, contacts=current.contacts)
            return Placed("join", same, f"{call} of a call already on the ticket")
        # customer_wrote reads the replies and clocks, which joining leaves as they are:
        # one copy of the ticket instead of two
        sla = customer_wrote(current, reopened=False)
        return Placed("join", _joined(current, interaction, at, sla=sla), "open ticket")
    if interaction.auto_reply:
        return Placed("skip", None, "auto-reply or bounce never opens a ticket")
    if (
        current is not None
        and current.status == "resolved"
        and current.resolved_at is not None
        and at - current.resolved_at <= reopen_window
    ):
        # resolving ends a postponement; a snapshot stored before that did may hold one
        current = resumed(current, rules, at)
        reopened = _joined(
            current,
            interaction,
            at,
            status="open",
            reopen_count=current.reopen_count + 1,
            resolved_at=None,
            resolved_first_contact=None,
            sla=customer_wrote(current, reopened=True),
        )
        return Placed("reopen", reopened, "resolved within the reopen window")
    new = _new(interaction, event_id, customer_id, at)
    if by_reply and current is not None:
        follow_up = new.model_copy(update={"follow_up_of": current.id})
        return Placed("new", follow_up, f"follow-up of {current.status} ticket {current.id}")
    return Placed("new", new, "no open ticket")


def call_event(interaction: Interaction) -> object:
    """The phone system's event of a voice message (``ringing``, ``missed``, ...); None
    for any other message."""
    return interaction.metadata.get("call_event") if interaction.channel == "voice" else None


def opens_tickets(interaction: Interaction) -> bool:
    """Whether a message could open a ticket in some state: neither an auto-reply or
    bounce nor a call event that is no customer contact (``place``: only missed calls
    and voicemail are; an answered or ended call adds handling time to a ticket there
    is, a ringing one changes nothing)."""
    if interaction.auto_reply:
        return False
    call = call_event(interaction)
    return call is None or call in CONTACT_CALLS


def thread_key(interaction: Interaction) -> str | None:
    """What later messages of this thread refer to: the email's Message-ID, or the
    call's id (``call:<id>``), so the events of one call find its ticket."""
    thread = interaction.thread
    if thread.message_id:
        return message_key(thread.message_id)
    return f"call:{thread.call_id}" if thread.call_id else None


def reply_refs(interaction: Interaction) -> list[str]:
    """The ids a message may answer, in the order to look them up, each once: its
    In-Reply-To, then its References newest first (RFC 5322 section 3.6.4: the last one
    is the parent; Outlook and some webmail clients send References alone), then its
    call (``call:<id>``). The first one Switchboard knows names the ticket: oldest first,
    a reply would land on the conversation's first, long closed, ticket and open yet
    another follow-up beside the one the conversation moved to."""
    thread = interaction.thread
    ordered = [thread.in_reply_to, *reversed(thread.references)]
    ordered = [message_key(r) for r in ordered if r]
    if thread.call_id:
        ordered.append(f"call:{thread.call_id}")
    return list(dict.fromkeys(r for r in ordered if r))


def handle_seconds(interaction: Interaction) -> float:
    """A call's talk + hold + wrap-up time, as the phone system reported it. A part that
    is no number of seconds a call can last (a flag, infinity, more than a day) counts
    nothing: summed on the ticket it would overflow or swamp its handle time."""
    parts = (interaction.metadata.get(name) for name in HANDLE_PARTS)
    return float(
        sum(
            p
            for p in parts
            if isinstance(p, int | float) and not isinstance(p, bool) and 0 <= p <= MAX_PART_S
        )
    )


def _call(
    interaction: Interaction,
    current: Ticket | None,
    call: object,
    at: datetime,
    *,
    by_call_id: bool,
) -> Placed:
    """A call found by its own id was on that ticket, whatever its status now; the
    customer's ticket found by identity takes it only while still being worked: a new
    call after the resolution is no handling of the resolved ticket. The agent the ticket
    is offered to who answered the call has taken it, as with a public reply."""
    if call == "ringing":
        return Placed("skip", None, "a ringing call changes nothing")
    if current is None:
        return Placed("skip", None, f"{call} call without a ticket")
    if not by_call_id and current.status in SETTLED:
        return Placed("skip", None, f"{call} call, and the customer's ticket is {current.status}")
    seen = current.channels_seen
    if interaction.channel not in seen:
        seen = [*seen, interaction.channel]
    agent = interaction.metadata.get("agent_id")
    seconds = handle_seconds(interaction)
    # one handled call however many of its parts report seconds (talk at `answered`,
    # wrap-up at `ended`): the ticket keeps the call's key once its seconds are counted
    key = thread_key(interaction)
    first = seconds > 0 and (key is None or key not in current.message_ids)
    message_ids = current.message_ids
    if first and key is not None:
        message_ids = [*message_ids, key][-MAX_MESSAGE_IDS:]
    handled = current.model_copy(
        update={
            **worked_by(current, agent if isinstance(agent, str) else None),
            "channels_seen": seen,
            "handle_seconds": current.handle_seconds + seconds,
            "message_ids": message_ids,
            "updated_at": max(at, current.updated_at),
        }
    )
    return Placed("call", handled, f"{call} call on the ticket", handled=first)


def _joined(ticket: Ticket, interaction: Interaction, at: datetime, **more: Any) -> Ticket:
    seen = ticket.channels_seen
    if interaction.channel not in seen:
        seen = [*seen, interaction.channel]
    message_ids = ticket.message_ids
    key = thread_key(interaction)
    if key and key not in message_ids:
        message_ids = [*message_ids, key][-MAX_MESSAGE_IDS:]
    return ticket.model_copy(
        update={
            "status": "open" if ticket.status == "pending" else ticket.status,
            "channels_seen": seen,
            "last_channel": None if interaction.channel == ticket.channel else interaction.channel,
            "contacts": ticket.contacts + 1,
            "message_ids": message_ids,
            "updated_at": max(at, ticket.updated_at),
            "last_customer_at": at,
            **more,
        }
    )


def _new(interaction: Interaction, event_id: str, customer_id: str, at: datetime) -> Ticket:
    return Ticket(
        id=ticket_id(event_id),
        status="new",
        channel=interaction.channel,
        channels_seen=[interaction.channel],
        customer_id=customer_id,
        inbox=interaction.inbox,
        subject=interaction.subject,
        contacts=1,
        message_ids=[key] if (key := thread_key(interaction)) else [],
        created_at=at,
        updated_at=at,
        last_customer_at=at,
    )
