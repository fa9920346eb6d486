"""SLA clocks (contract sections 6-8): when each target's clock starts, is due, warns, is met,
and how a postponement pauses it. Pure; durations come from the ticket's SLA policy.

``first_response`` and ``resolution`` run from the ticket's creation. ``next_response``
runs in cycles: a customer message that arrives after a public agent reply starts one
(``customer_wrote``), the next public reply meets it, and the message after that reply
starts a fresh clock, so each cycle has its own due time (and so its own timer event ids).
A second message while a cycle runs, answered or breached, does not restart it: the
customer has been waiting since the first unanswered message. A closure stops a running
cycle (``stopped``); a resolution pauses it with the other clocks. A customer message
that reopens the ticket afterwards starts a new one, as any customer message after a
public reply does; an agent's reopen resumes the paused one, or starts none when no
customer was waiting. Only the public reply that
answers a waiting customer is a response (``answers``), timed by a clock or not.

A postponement (``paused``) moves every running clock on by the pause planned. A customer
message, a resolution or closure, or a reopen ends it early (``resumed``): the clocks give
back the part of the pause that never happened.

No clock runs while the ticket is settled (resolved or closed): a reopen (``resumed`` of a
resolved ticket) moves every running clock on by the business time the ticket spent
resolved, as a postponement does, so a clock keeps the time it had left, and a warning or
breach is never due before the reopening (one already due when the ticket was resolved,
but not fired, is due at the reopening). The same holds for an offer not yet accepted:
its ``assigned_at`` moves on by the (wall-clock) time spent resolved, so the accept
timeout counts open time only and the agent is not skipped for a deadline that passed
while nobody could work the ticket.

A rule or escalation that changes the policy or priority re-times the running clocks
(``sla_clocks``); met and breached ones stay on record, even when a rules reload has
removed the ticket's policy: its targets are then unknown, so the running clocks are kept
as they were timed.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from router.events import SlaClock, Ticket
from router.vocabulary import SETTLED, SLA_TARGETS
from rules import RuleSet, SlaPolicy

NEXT_RESPONSE = "next_response"
_ZERO = timedelta(0)


def sla_clocks(
    ticket: Ticket, rules: RuleSet, start: datetime, *, before: Ticket | None = None
) -> dict[str, SlaClock]:
    """Every clock for the ticket's policy and priority: ``first_response`` and
    ``resolution`` from ``start``; a running ``next_response`` from the moment its cycle
    started (``before`` is the ticket under the policy and priority its clock was timed
    with), a just-started one from the customer's message. Settled clocks are kept: a
    later priority change cannot undo them. A policy no longer in the rules (a reload
    renamed or removed it) has no targets to time by: the timed clocks are kept as they
    are, and a cycle not timed yet is dropped, as ``time_next_response`` drops it."""
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    if policy is None:
        return {
            target: clock
            for target, clock in ticket.sla.items()
            if clock.due is not None or clock.met_at or clock.breached
        }
    clocks: dict[str, SlaClock] = {}
    for target in SLA_TARGETS:
        previous = ticket.sla.get(target)
        if previous and (previous.met_at or previous.breached):
            clocks[target] = previous
            continue
        begin = start
        if target == NEXT_RESPONSE:
            if previous is None:
                continue  # nobody waits for a next reply
            begin = ticket.last_customer_at or ticket.updated_at
        if previous is not None:
            begin = _counted_from(previous, target, ticket, before or ticket, rules, fallback=begin)
        timed = _timed(policy, target, ticket.priority, begin, previous, now=ticket.updated_at)
        if timed is not None:
            clocks[target] = timed
    return clocks


def customer_wrote(ticket: Ticket, *, reopened: bool) -> dict[str, SlaClock]:
    """The clocks after a customer message (``ticket`` is the one it joined, with
    ``last_customer_at`` at the message): after a public agent reply a next_response
    cycle starts unless one is already running for an earlier unanswered message. A
    message that reopens a settled ticket always starts one: the resolution ended the
    previous cycle. The new clock has no due time yet; ``time_next_response`` gives it one
    from the ticket's policy once the rules have run."""
    if ticket.agent_replies == 0:
        return ticket.sla  # the first response is still owed
    running = ticket.sla.get(NEXT_RESPONSE)
    if running is not None and running.met_at is None and not reopened:
        return ticket.sla
    return {**ticket.sla, NEXT_RESPONSE: SlaClock()}


def time_next_response(ticket: Ticket, rules: RuleSet) -> dict[str, SlaClock]:
    """The clocks with a just-started next_response cycle timed by the ticket's policy and
    priority; a policy without that target (at that priority) drops it. Other clocks are
    left as they are (a postponement may have moved them)."""
    clock = ticket.sla.get(NEXT_RESPONSE)
    if clock is None or clock.due is not None or clock.met_at or clock.breached:
        return ticket.sla
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    clocks = {k: v for k, v in ticket.sla.items() if k != NEXT_RESPONSE}
    if policy is None:
        return clocks
    # it starts at the customer's message (which ended any postponement: ``resumed``)
    begin = ticket.last_customer_at or ticket.updated_at
    timed = _timed(policy, NEXT_RESPONSE, ticket.priority, begin, None, now=ticket.updated_at)
    return clocks if timed is None else {**clocks, NEXT_RESPONSE: timed}


def answers(ticket: Ticket) -> str | None:
    """The target a public reply to ``ticket`` answers: ``first_response`` for its first
    public reply, ``next_response`` when a customer message came after the last public
    reply (a ticket from before ``last_reply_at`` was kept: any later reply), None for a
    further reply in a row: no customer waited for it."""
    if ticket.agent_replies == 0:
        return "first_response"
    replied, wrote = ticket.last_reply_at, ticket.last_customer_at
    waiting = replied is None or (wrote is not None and wrote > replied)
    return NEXT_RESPONSE if waiting else None


def running_due(clock: SlaClock | None) -> datetime | None:
    """The due time a reply or resolution is judged against; None without a clock or
    once it is met (a target is met once: a later reply or resolution meets nothing)."""
    return clock.due if clock is not None and clock.met_at is None else None


def within(clock: SlaClock | None, at: datetime) -> bool | None:
    """Whether a reply or resolution at ``at`` met its target (``within_sla``): None
    without a running clock; never once the breach is on record, whatever time the
    action claims (counted ``breached`` already, it cannot be ``met`` as well). A reply
    at the due time itself is late: the breach falls due at that instant (``fire``)."""
    due = running_due(clock)
    if clock is None or due is None:
        return None
    return at < due and not clock.breached


def stopped(clocks: dict[str, SlaClock]) -> dict[str, SlaClock]:
    """The clocks of a ticket being closed: a running next_response cycle ends without a
    verdict (nobody is owed a reply any more); a breached one stays on record. Resolving
    keeps it, paused: an agent's reopen resumes it with the time it had left, a customer's
    message starts a new one."""
    clock = clocks.get(NEXT_RESPONSE)
    if clock is None or clock.met_at or clock.breached:
        return clocks
    return {k: v for k, v in clocks.items() if k != NEXT_RESPONSE}


def waited(
    ticket: Ticket, rules: RuleSet, at: datetime, target: str = NEXT_RESPONSE
) -> timedelta | None:
    """Business time the customer has waited at ``at`` on the running clock of ``target``
    (the next_response cycle, or the first response), postponed time excluded (what the
    clock counted: the allowed time less what is left); None without a running, timed
    clock."""
    clock = ticket.sla.get(target)
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    if clock is None or clock.met_at or clock.due is None or policy is None:
        return None
    priority = clock.priority or ticket.priority  # as timed: an escalation may have moved it
    begin = _effective_start(clock, policy, priority, ticket.created_at, target)
    if begin is None:
        return None
    wait = policy.elapsed(begin, at)
    if ticket.postponed_until is not None and at < ticket.postponed_until and not clock.breached:
        # the clock moved on by the whole pause planned; only what passed of it is not
        # waiting (answered while postponed, the rest of the pause never happens). A
        # breached clock was not moved (a postponement pauses running clocks only)
        wait += policy.elapsed(at, ticket.postponed_until)
    return max(wait, _ZERO)


def paused(
    ticket: Ticket, rules: RuleSet, start: datetime, until: datetime
) -> tuple[dict[str, SlaClock], timedelta]:
    """SLA clocks pause while postponed: every running clock moves on by the business time
    the postponement covers (contract section 6)."""
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    paused = policy.elapsed(start, until) if policy else until - start
    calendar = policy.calendar if policy else None

    def later(moment: datetime) -> datetime:
        return calendar.add(moment, paused) if calendar else moment + paused

    return _running_moved(ticket.sla, later), paused


def resumed(ticket: Ticket, rules: RuleSet, at: datetime) -> Ticket:
    """The ticket with its clocks running again at ``at``: a postponement ended (by a
    customer's message, a resolution or closure, a reopen), or a resolved ticket reopened
    (``_unsettled``; an offer not yet accepted too: ``_offer_unsettled``). A postponement
    ended before its planned end gives back the business time from ``at`` to that end:
    ``paused`` moved the clocks on by the whole pause planned; the rest of it never
    happens. It ends no earlier than the ticket's last change, the postponement among
    them: a message dated before it gives back no more than the pause. The ticket itself
    when it is neither postponed nor settled."""
    at = max(at, ticket.updated_at)
    ended = _unpostponed(ticket, rules, at)
    if ticket.status not in SETTLED:
        return ended
    # a snapshot resolved while postponed (before resolving ended postponements) had its
    # clocks moved on to the postponement's end already
    since = ticket.resolved_at
    if since is not None and ticket.postponed_until is not None:
        since = max(since, ticket.postponed_until)
    return ended.model_copy(
        update={
            "sla": _unsettled(ended.sla, rules, ticket, since, at),
            **_offer_unsettled(ticket, at),
        }
    )


def _offer_unsettled(ticket: Ticket, at: datetime) -> dict[str, datetime]:
    """The ``assigned_at`` of an offer not yet accepted, on a ticket reopened at ``at``:
    moved on by the time the ticket spent resolved after the offer, so its accept timeout
    (``assigned_at`` + ``accept_timeout``) counts only the time it was open, and the agent
    is not skipped for a deadline that passed while nobody could work it. An offer made
    while resolved starts at the reopening. Accept timeouts are wall-clock time, not the
    SLA calendar's business time."""
    offered, since = ticket.assigned_at, ticket.resolved_at
    if offered is None or ticket.accepted or since is None:
        return {}
    return {"assigned_at": offered + max(at - max(since, offered), _ZERO)}


def _unsettled(
    clocks: dict[str, SlaClock],
    rules: RuleSet,
    ticket: Ticket,
    since: datetime | None,
    at: datetime,
) -> dict[str, SlaClock]:
    """The running clocks of a ticket settled (resolved) from ``since`` and reopened at
    ``at``: their due and warning times move on by the business time in between, as a
    postponement's do, so each keeps the time it had left; and none is due before the
    reopening (a moment already passed at ``since``, never fired, is due at it)."""
    if since is None:
        return clocks
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    settled = max(policy.elapsed(since, at) if policy else at - since, _ZERO)
    calendar = policy.calendar if policy else None

    def later(moment: datetime) -> datetime:
        moved = calendar.add(moment, settled) if calendar else moment + settled
        return max(moved, at)

    return _running_moved(clocks, later)


def _unpostponed(ticket: Ticket, rules: RuleSet, at: datetime) -> Ticket:
    until = ticket.postponed_until
    if until is None:
        return ticket
    if at >= until:
        return ticket.model_copy(update={"postponed_until": None})
    policy = rules.sla_policies.get(ticket.sla_policy or "")
    unused = policy.elapsed(at, until) if policy else until - at
    calendar = policy.calendar if policy else None

    def sooner(moment: datetime) -> datetime:
        if calendar is None:
            return moment - unused
        # calendars only add: count forward from a moment before it instead
        origin = min(ticket.created_at, moment)
        return calendar.add(origin, max(calendar.between(origin, moment) - unused, _ZERO))

    clocks = _running_moved(ticket.sla, sooner)
    return ticket.model_copy(update={"postponed_until": None, "sla": clocks})


def _running_moved(
    clocks: dict[str, SlaClock], move: Callable[[datetime], datetime]
) -> dict[str, SlaClock]:
    """The clocks with the due and warning times of those still running (neither met
    nor breached) moved by ``move``: a postponement planned, or ended early."""

    def moved(moment: datetime | None) -> datetime | None:
        return None if moment is None else move(moment)

    return {
        target: clock
        if clock.met_at or clock.breached
        else clock.model_copy(update={"due": moved(clock.due), "warn_at": moved(clock.warn_at)})
        for target, clock in clocks.items()
    }


def met(clocks: dict[str, SlaClock], target: str, at: datetime) -> dict[str, SlaClock]:
    clock = clocks.get(target)
    if clock is None or clock.met_at is not None:
        return clocks
    return {**clocks, target: clock.model_copy(update={"met_at": at})}


def _timed(
    policy: SlaPolicy,
    target: str,
    priority: str,
    begin: datetime,
    previous: SlaClock | None,
    *,
    now: datetime,
) -> SlaClock | None:
    """The clock of ``target`` started at ``begin``. Re-timed at ``now`` from ``previous``
    (a policy or priority change), it warns again when its new warning time is still
    ahead: a warning given for the old due time says nothing about the new one. A new
    warning time already passed keeps what the old clock had: warned, it is not warned
    twice nor back-dated; not warned yet, it warns at once. A new due time already passed
    is due at ``now`` (``_not_before_the_change``)."""
    times = policy.times(target, priority, begin)
    if times is None:
        return None
    due, warn_at = times
    allowed = policy.target(target, priority)
    if previous is not None and previous.due is not None:
        later = _not_before_the_change(due, previous.due, now)
        if later != due:  # due at the change: the start is still ``begin``
            allowed, due = policy.elapsed(begin, later), later
    warned = bool(previous and previous.warned) and (warn_at is None or warn_at <= now)
    return SlaClock(
        due=due,
        warn_at=warn_at,
        warned=warned,
        priority=priority,
        allowed_seconds=None if allowed is None else allowed.total_seconds(),
    )


def _not_before_the_change(due: datetime, was_due: datetime, now: datetime) -> datetime:
    """The due time of a clock re-timed at ``now`` (``was_due`` before): never earlier than
    the change that made it due, as a warning made due by a change is dated at that change
    (``consumers.timers.fired_at``). Else a warning escalation that raises the priority
    would date the breach it causes before that warning, in an earlier metric window. A
    clock overdue before the change (the timers were down) stays due when it was."""
    return max(due, min(was_due, now))


def _counted_from(
    clock: SlaClock,
    target: str,
    ticket: Ticket,
    timed_as: Ticket,
    rules: RuleSet,
    *,
    fallback: datetime,
) -> datetime:
    """When a clock being re-timed started counting. A timed one started the allowed time
    before its due, under the policy and priority it was timed with, so the time a
    postponement or a resolution added is kept (re-timed from creation, a reopened
    ticket's clock would count the time it spent resolved). ``fallback`` otherwise: a
    next_response cycle not timed yet starts at the customer's message."""
    policy = rules.sla_policies.get(timed_as.sla_policy or "")
    if clock.due is None or policy is None:
        return fallback
    priority = clock.priority or timed_as.priority
    begin = _effective_start(clock, policy, priority, ticket.created_at, target)
    return fallback if begin is None else begin


def _effective_start(
    clock: SlaClock,
    policy: SlaPolicy,
    priority: str,
    origin: datetime,
    target: str = NEXT_RESPONSE,
) -> datetime | None:
    """The instant the clock would have started to be due when it is, had it never paused:
    ``due`` less the allowed time, in the policy's business time (counted forward from
    ``origin``, a moment before any cycle starts, as calendars only add). The allowed
    time is the clock's own, as it was timed: the policy's target may have changed since
    (a reload), and a clock due at a change was allowed more than its target."""
    allowed = (
        timedelta(seconds=clock.allowed_seconds)
        if clock.allowed_seconds is not None
        else policy.target(target, priority)
    )
    if allowed is None or clock.due is None:
        return None
    if policy.calendar is None:
        return clock.due - allowed
    before_start = max(policy.calendar.between(origin, clock.due) - allowed, _ZERO)
    return policy.calendar.add(origin, before_start)
