"""The routing consumer: inbound interactions -> tickets, routed by the rules.

Per record: resolve the customer (only looked up for a record that can open no ticket:
the unknown sender of one stays unknown and the record is skipped), read the thread (one
round trip), decide placement and run the rules (pure), then commit ticket + dedupe
marker + outbox in one Lua call. After the whole poll, the outbox records are produced
and acknowledged, and only then are the offsets committed (by the runner). A redelivered
record finds its dedupe marker and re-publishes its stored outbox (same event ids)
instead of doing anything twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from consumers.crm import upsert_customer
from consumers.deadletter import parked
from consumers.domain.assignment import requeued
from consumers.domain.decisions import apply_decision, notifications, routed_data
from consumers.domain.lifecycle import apply_action, reopen_takes_back
from consumers.domain.outputs import LifecycleOutputs
from consumers.domain.threading import Placed, handle_seconds, opens_tickets, place, thread_key
from consumers.notify.replies import trimmed
from consumers.outbox import Delivery, Send
from consumers.runner import Record
from consumers.state.agents import AgentStore
from consumers.state.thread_reads import MessageOwner
from consumers.state.threads import Commit, ThreadStore, ThreadView, ViewRequest
from consumers.work import (
    ActionWork,
    Inbound,
    Work,
    answers_wait,
    in_arrival_order,
    parse_action_record,
    parse_record,
    rounds,
)
from router.actions import (
    Action,
    AgentPresence,
    AssignmentAccepted,
    AssignmentDeclined,
    CustomerUpserted,
    TicketTransferred,
)
from router.errors import InvalidEvent
from router.events import Interaction, Ticket
from router.limits import Limits
from router.observability import Telemetry
from router.topics import OutRecord, Topic, TopicNames
from router.vocabulary import RULES_CHECKED, EventType
from rules import RuleSet
from rules.facts import facts, message_of
from rules.language import Known, detect_many, detection_text, fill_language

TRIGGERS = {"new": "ticket.created", "join": "message.received", "reopen": "ticket.reopened"}
MAX_CONFLICT_RETRIES = 10
MAX_PARTICIPANTS = 200
"""How many other senders a ticket's snapshot names, the latest: a reply-all storm or a
mailing list's thread would otherwise grow every record of the ticket past the record
size limit, and its messages would all be dead-lettered. Each sender still finds the
ticket in their own list (their participations are kept apart)."""
DETECT_AHEAD_MIN = 2  # one message is detected in place: a thread hop would cost more
log = structlog.get_logger("switchboard.router")


class RoutingHandler:
    name = "router"

    def __init__(
        self,
        store: ThreadStore,
        send: Send,
        names: TopicNames,
        rules: Callable[[], RuleSet],
        *,
        agents: AgentStore,
        reopen_window: timedelta,
        telemetry: Telemetry | None = None,
        limits: Limits | None = None,
    ) -> None:
        self._limits = limits or Limits()
        self._store = store
        self._agents = agents
        self._send = send
        self._names = names
        self._rules = rules
        self._reopen_window = reopen_window
        self._telemetry = telemetry
        self._redelivered = [0, 0]
        self._counters: dict[str, Any] = {}

    async def park(self, record: Record, error: Exception) -> None:
        """Dead-letter a record whose handling failed for good (``run_consumer``)."""
        await self._send([parked(record, self.name, error, self._limits, self._telemetry)])

    async def tick(self) -> None:
        return None

    async def handle(self, records: list[Record]) -> None:
        """Route one poll. Work goes in rounds (the k-th message of every customer), so
        each round costs a few pipelined Redis round trips, not a few per record, while
        one customer's messages still apply in offset order."""
        delivery = Delivery(self._store, self._send)
        self._redelivered = [0, 0]  # records of this poll already applied; outboxes pending
        parsed: list[Work] = []
        actions: list[ActionWork] = []
        for record in records:
            try:
                self._limits.check_inbound(record.value)
                if self._names.parse(record.topic) is Topic.ACTIONS:
                    actions.append(parse_action_record(record))
                else:
                    parsed.append(parse_record(record))
            except InvalidEvent as exc:
                delivery.add([self._deadletter(record, exc)])
            except Exception as exc:  # a bug must not stop the line: park the record
                log.exception(
                    "routing_failed",
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                )
                delivery.add([self._deadletter(record, exc)])
        located = await self._locate(actions)  # CRM upserts first: messages see them
        await self._identify([p for p in parsed if isinstance(p, Inbound)])
        await self._follow_replies([p for p in parsed if isinstance(p, Inbound) and p.refs])
        for work, problem in located:
            if problem is not None:
                delivery.add([self._deadletter(work.record, problem)])
            elif work.ticket_id:
                parsed.append(work)
        await self._route_all(in_arrival_order(parsed), delivery)
        await delivery.flush()
        if self._redelivered[0]:
            self._log_redelivered(records)

    def _log_redelivered(self, records: list[Record]) -> None:
        """One line when a poll held records already applied: a restart after a crash (or
        a rebalance) re-read them from the last committed offset, or a producer sent an
        event again under the same (source, id). Their stored outboxes were published
        again under the same ids, and nothing was applied twice."""
        applied, republished = self._redelivered
        log.info(
            "redelivered_records_skipped",
            records=applied,
            outboxes_republished=republished,
            first_offset=min(r.offset for r in records),
        )

    async def _route_all(self, parsed: list[Work], delivery: Delivery) -> None:
        """Every item in rounds; replies to a message of this same poll after it."""
        published: set[str] = set()
        pending, later = answers_wait(parsed)
        while pending:
            for batch in rounds(self._of_known_customers(pending)):
                for item, outs in await self._round(batch, MAX_CONFLICT_RETRIES):
                    if isinstance(outs, Exception):
                        delivery.add([self._deadletter(item.record, outs)])
                    elif outs and item.cause not in published:  # a copy in a poll: once
                        published.add(item.cause)
                        delivery.publish(item.customer_id, item.cause, outs)
            # replies to messages routed just now find their tickets in the index
            await self._follow_replies([p for p in later if isinstance(p, Inbound) and p.refs])
            pending, later = answers_wait(later)

    async def _identify(self, items: list[Inbound]) -> None:
        """The customer of each message. A message that can open no ticket whatever the
        state (``opens_tickets``) links no identity: its customer is only looked up, after
        the others have linked theirs (a missed call and its answer in one poll), and
        stays "" when unknown. Every caller who let the phone ring, every mailer-daemon,
        would otherwise become a stored customer with their personal data."""
        contacts = [i for i in items if opens_tickets(i.interaction)]
        others = [i for i in items if not opens_tickets(i.interaction)]
        if contacts:
            resolved = await self._store.resolve_customers([i.identities for i in contacts])
            for item, customer_id in zip(contacts, resolved, strict=True):
                item.customer_id = customer_id
        if others:
            known = await self._store.known_customers([i.identities for i in others])
            for item, found in zip(others, known, strict=True):
                item.customer_id = found or ""

    def _of_known_customers(self, items: list[Work]) -> list[Work]:
        """The items to route: a message whose sender is unknown and that answers no
        known thread can open no ticket (``_identify``), so it changes nothing, stores
        nothing and publishes nothing: a skip."""
        kept = []
        for item in items:
            if item.customer_id:
                kept.append(item)
            else:
                self._count("skipped")
                log.debug("skipped_unknown_sender", event_id=item.cause)
        return kept

    def _deadletter(self, record: Record, exc: Exception) -> OutRecord:
        if not isinstance(exc, InvalidEvent):  # a bug: the traceback was logged where caught
            log.error(
                "routing_failed",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=type(exc).__name__,
            )
        return parked(record, self.name, exc, self._limits, self._telemetry)

    def _count(self, outcome: str) -> None:
        if self._telemetry:
            counter = self._counters.get(outcome)
            if counter is None:  # labels() takes a lock and builds a key: once per outcome
                counter = self._counters[outcome] = self._telemetry.records.labels(
                    self.name, outcome
                )
            counter.inc()

    async def _locate(self, actions: list[ActionWork]) -> list[tuple[ActionWork, Exception | None]]:
        """Find the customer behind each action: the ticket's owner. CRM upserts and
        agent presence are applied here: both are idempotent and publish nothing."""
        located: list[tuple[ActionWork, Exception | None]] = []
        for work in actions:
            if isinstance(work.action, CustomerUpserted):
                await upsert_customer(self._store, work.action)
                located.append((work, None))
            elif isinstance(work.action, AgentPresence):
                a = work.action
                capacity = {str(k): v for k, v in (a.capacity or {}).items()} or None
                await self._agents.presence(a.agent_id, a.status, a.skills, capacity)
                located.append((work, None))
        # after the upserts: a merge among them moves tickets to the surviving customer
        ticketed = [a for a in actions if a.ticket_id]
        owners = await self._store.ticket_owners([a.ticket_id or "" for a in ticketed])
        for work, owner in zip(ticketed, owners, strict=True):
            work.customer_id = owner or ""
            problem = None if owner else InvalidEvent(f"unknown ticket {work.ticket_id!r}")
            located.append((work, problem))
        return await self._refuse_unknown_agents(located)

    async def _moved(self, items: list[Work], views: list[ThreadView]) -> set[int]:
        """The actions whose ticket was not under the owner they were located at, because a
        merge (another router process's) moved it to the surviving customer since: each
        takes its owner now, to be tried again. An action on a ticket that is gone (or
        that moved to nobody) is not among them: it stays unknown."""
        lost = [
            (index, item)
            for index, (item, view) in enumerate(zip(items, views, strict=True))
            if isinstance(item, ActionWork)
            and item.ticket_id
            and view.ticket is None
            and not view.done
            and not view.unreadable
        ]
        if not lost:
            return set()
        owners = await self._store.ticket_owners([item.ticket_id or "" for _, item in lost])
        moved = set()
        for (index, item), owner in zip(lost, owners, strict=True):
            if owner and owner != item.customer_id:
                item.customer_id = owner
                moved.add(index)
        return moved

    async def _refuse_unknown_agents(
        self, located: list[tuple[ActionWork, Exception | None]]
    ) -> list[tuple[ActionWork, Exception | None]]:
        """A transfer to an agent no ``agent.presence`` ever named (this poll's count, as
        a request's over HTTP, which refuses it with 400) is dead-lettered: applied, it
        would take the ticket from its assignee to be offered to nobody until the accept
        timeout, and the read API would show a made-up agent."""
        named = [
            (index, agent)
            for index, (work, problem) in enumerate(located)
            if problem is None
            and isinstance(work.action, TicketTransferred)
            and (agent := work.action.agent_id) is not None
        ]
        if not named:
            return located
        wanted = list(dict.fromkeys(agent for _, agent in named))
        known = dict(zip(wanted, await self._agents.known(wanted), strict=True))
        for index, agent in named:
            if not known[agent]:
                why = f"/data/agent_id: unknown agent {agent!r}: an agent.presence names one"
                located[index] = (located[index][0], InvalidEvent(why))
        return located

    async def _follow_replies(self, items: list[Inbound]) -> None:
        """A reply joins the ticket of the message it answers whoever sends it (a
        colleague in copy, a shared mailbox): such a message is routed as the ticket
        owner's, and its sender becomes a participant. One read for the whole poll, and
        one more when a reply names a message another customer's thread holds: a sender
        whose own thread files one of its refs answers their own message. The global
        index is first writer wins, so a Message-ID two customers' mails share (a shop
        system stamping one id on every mail, or one copied on purpose) had routed a
        customer's reply to their own mail into the other customer's ticket."""
        refs = [ref for item in items for ref in item.refs]
        found = iter(await self._store.message_tickets(refs))
        others: list[tuple[Inbound, MessageOwner]] = []
        for item in items:
            owners = [owner for _ in item.refs if (owner := next(found)) is not None]
            if owners and owners[0].customer_id != item.customer_id:
                others.append((item, owners[0]))
        asked = [(item, owner) for item, owner in others if item.customer_id]
        own = await self._store.own_replies([(item.customer_id, item.refs) for item, _ in asked])
        answering_own = {id(item) for (item, _), mine in zip(asked, own, strict=True) if mine}
        survivors: dict[str, str] = {}  # a thread's holder, looked up once per poll
        for item, owner in others:
            if id(item) in answering_own:  # its own thread: found there by ``views``
                continue
            holder = owner.customer_id
            if holder not in survivors:
                survivors[holder] = await self._store.survivor_of(holder)
            # "": unknown, no participant; nor is the holder's survivor (merged since)
            ours = survivors[holder] == item.customer_id
            item.sender_id = None if ours else item.customer_id or None
            item.customer_id = holder
            item.ticket_id = owner.ticket_id

    async def _round(
        self, items: list[Work], retries: int
    ) -> list[tuple[Work, list[OutRecord] | Exception]]:
        views = await self._store.views(
            [ViewRequest(i.customer_id, i.cause, i.refs, i.ticket_id) for i in items]
        )
        known = await self._detect_ahead(items, views)
        moved = await self._moved(items, views)
        done: list[tuple[Work, list[OutRecord] | Exception]] = []
        commits: list[Commit] = []
        pending: list[tuple[Work, list[OutRecord]]] = []
        again = [item for index, item in enumerate(items) if index in moved]
        staying = [
            pair for index, pair in enumerate(zip(items, views, strict=True)) if index not in moved
        ]
        for item, view in staying:
            if view.done:  # redelivered: publish what is still pending, change nothing
                self._count("duplicate")
                self._redelivered[0] += 1
                self._redelivered[1] += bool(view.outbox)
                done.append((item, view.outbox or []))
                continue
            if view.unreadable:
                done.append((item, InvalidEvent(view.unreadable)))
                continue
            try:
                decided = self._decide(item, view, known)
            except InvalidEvent as exc:
                done.append((item, exc))
                continue
            except Exception as exc:  # a bug must not stop the line: park the record
                log.exception("routing_failed", offset=item.record.offset)
                done.append((item, exc))
                continue
            if decided is None:  # nothing to change: nothing to remember either
                self._count("no_change")
                done.append((item, []))
                continue
            commit, outs = decided
            commits.append(commit)
            pending.append((item, outs))
        results = await self._store.commit_many(commits) if commits else []
        for (item, outs), result, commit in zip(pending, results, commits, strict=True):
            if result == "OK":
                self._log_routed(item, commit)
                done.append((item, outs))
            else:  # the ticket moved under us (CONFLICT) or someone else applied it (DUP)
                again.append(item)
        for item in again:
            if retries <= 0:
                message = f"gave up after {MAX_CONFLICT_RETRIES} concurrent-update conflicts"
                done.append((item, InvalidEvent(message)))
            else:
                done.extend(await self._round([item], retries - 1))
        return done

    async def _detect_ahead(self, items: list[Work], views: list[ThreadView]) -> Known | None:
        """The languages of the round's messages that will need detecting (no language
        said, none on their ticket yet), all at once in a worker thread: the detector's
        parallel API lets go of the GIL, so this runs on the other cores. A message this
        misses is detected when it is routed, with the same answer."""
        codes = self._rules().languages
        texts = [
            detection_text(message_of(item.interaction))
            for item, view in zip(items, views, strict=True)
            if isinstance(item, Inbound)
            and not view.done
            and item.interaction.language is None
            and (view.ticket is None or view.ticket.language is None)
        ]
        if len(codes) < 2 or len(texts) < DETECT_AHEAD_MIN:
            return None
        try:
            return await asyncio.to_thread(detect_many, texts, codes)
        except Exception:  # a bug must not stop the line: each is detected in place, where
            log.exception("language_detection_failed")  # a failure parks that record alone
            return None

    def _log_routed(self, item: Work, commit: Commit) -> None:
        ticket = commit.ticket
        self._count("routed" if ticket else "skipped")
        log.debug(
            "routed",
            ticket_id=ticket.id if ticket else None,
            customer_id=item.customer_id,
            event_id=item.cause,
            queue=ticket.queue if ticket else None,
        )

    def _decide(
        self, item: Work, view: ThreadView, known: Known | None = None
    ) -> tuple[Commit, list[OutRecord]] | None:
        """Placement and rules for a message, or an action's change: pure, given what
        Redis said."""
        if isinstance(item, ActionWork):
            return self._decide_action(item, view)
        placed, at = self._placed(item, view)
        if item.sender_id and placed.ticket and item.sender_id not in placed.ticket.participants:
            participants = [*placed.ticket.participants, item.sender_id][-MAX_PARTICIPANTS:]
            placed = replace(
                placed, ticket=placed.ticket.model_copy(update={"participants": participants})
            )
        said = message_of(item.interaction)  # read by the rules, kept with the ticket
        if placed.kind == "call" and placed.ticket is not None:
            out: LifecycleOutputs | None = self._call(
                item, placed.ticket, at, handled=placed.handled
            )
        else:
            out = self._route(
                item.cause,
                item.interaction,
                placed,
                at,
                view,
                said=said,
                known=known,
                participant=item.sender_id is not None,
            )
        ticket = out.ticket if out else None
        outputs = out.records if out else []
        key = thread_key(item.interaction)
        contact = ticket is not None and placed.kind != "call"
        commit = Commit(
            customer_id=item.customer_id,
            event_id=item.cause,
            ticket=ticket,
            expected_version=view.ticket_version if placed.kind != "new" else 0,
            outbox=outputs,
            message_ids=[key] if ticket and key else [],
            open_ticket=ticket.id if contact and ticket else None,
            message=_kept_message(said, ticket) if contact else None,
            ticket_json=out.ticket_json if out else None,
            participant=item.sender_id if ticket else None,
            # a new ticket only while no other process opened one for the customer since
            # the view (a message on another channel, on another partition): else the
            # commit conflicts, and the retry reads and joins that ticket
            open_seen=view.open_ticket if placed.kind == "new" and contact else None,
        )
        return commit, outputs

    def _placed(self, item: Inbound, view: ThreadView) -> tuple[Placed, datetime]:
        """The message's placement and the time its changes are recorded at.

        A message cannot change a ticket before the state it changes, as an action
        cannot (``_decide_action``): one sent before the ticket's last change (a chat's
        ``sent_at`` or an email's ``Date`` a little before the resolution it reopens) is
        taken as then, so its ``.reopened`` and the metrics counted from it land in the
        window of the reopen, never before the resolution it takes back. Whether it
        reopens is still judged by when the customer wrote (the reopen window is
        widened by the gap), and a message that opens a new ticket keeps its own time:
        it changes no existing ticket. The message keeps its own sent time in its data.
        """
        clamped = item.at if view.ticket is None else max(item.at, view.ticket.updated_at)
        placed = self._place(item, view, clamped)
        if placed.kind == "new" and clamped != item.at:
            return self._place(item, view, item.at), item.at
        return placed, clamped

    def _place(self, item: Inbound, view: ThreadView, at: datetime) -> Placed:
        return place(
            item.interaction,
            view.ticket,
            event_id=item.cause,
            customer_id=item.customer_id,
            at=at,
            reopen_window=self._reopen_window + (at - item.at),
            rules=self._rules(),
            by_reply=view.by_reply or item.ticket_id is not None,
        )

    def _decide_action(
        self, item: ActionWork, view: ThreadView
    ) -> tuple[Commit, list[OutRecord]] | None:
        if view.ticket is None:
            raise InvalidEvent(f"unknown ticket {item.ticket_id!r}")
        # An action cannot come before the state it changes: a helpdesk's time older than
        # the ticket's last change (a clock behind, a backlog sent late) is taken as then.
        at = max(item.at, view.ticket.updated_at)
        seen = (view.message, view.profile)
        rules = self._rules()
        change = apply_action(
            view.ticket, item.action, at, rules, seen=seen, queue_checked=_checked(item, rules)
        )
        if change is None:
            _log_not_offered(view.ticket, item.action)
            return None
        out = LifecycleOutputs(item.cause, change.ticket, at, self._limits)
        for etype, data in change.events:
            out.add(etype, **data)
        out.snapshot()
        commit = Commit(
            customer_id=item.customer_id,
            event_id=item.cause,
            ticket=change.ticket,
            expected_version=view.ticket_version,
            outbox=out.records,
            ticket_json=out.ticket_json,
        )
        return commit, out.records

    def _call(
        self, item: Inbound, ticket: Ticket, at: datetime, *, handled: bool
    ) -> LifecycleOutputs:
        """An answered or ended call on a ticket: recorded with its handling time, no
        customer contact, no rules (nothing the customer wrote). ``handled``: whether
        it is the call's first part with seconds, the one the workload metric counts as
        a handled call (the others add their seconds to it)."""
        out = LifecycleOutputs(item.cause, ticket, at, self._limits)
        message = published_message(item.interaction, item.cause)
        out.add(
            EventType.TICKET_MESSAGE_ADDED,
            interaction=message,
            contact=False,
            handle_seconds=handle_seconds(item.interaction),
            handled=handled,
            agent_id=item.interaction.metadata.get("agent_id"),
        )
        out.snapshot()
        return out

    def _route(
        self,
        cause: str,
        interaction: Interaction,
        placed: Placed,
        at: datetime,
        view: ThreadView,
        *,
        said: dict[str, Any],
        known: Known | None = None,
        participant: bool = False,
    ) -> LifecycleOutputs | None:
        """``said``: ``message_of(interaction)``, read here and not changed. ``participant``:
        the sender is not the ticket's customer (a reply joining the thread of the message
        it answers, ``_follow_replies``)."""
        if placed.ticket is None:
            return None
        rules = self._rules()
        trigger = TRIGGERS[placed.kind]
        seen = facts(placed.ticket, said, view.profile)
        if not seen["language"] and placed.ticket.language:  # detected once per ticket
            seen["language"] = placed.ticket.language
            seen["language_source"] = placed.ticket.language_source
        language = fill_language(seen, rules.languages, known)
        decision = rules.evaluate(seen, trigger=trigger, now=at)
        settled = placed.ticket.language is None and language.language is not None
        ticket = apply_decision(
            placed.ticket,
            decision,
            rules,
            fill_defaults=placed.kind == "new",
            also={"language": language.language, "language_source": language.source}
            if settled
            else None,
        )
        moved = None
        if placed.kind != "new" and not decision.assign:
            # a rule moved a ticket that had a queue: as a transfer, it leaves its
            # assignee (who may lack the new queue's skills) for that queue's line
            moved = requeued(placed.ticket, ticket, "rerouted", at)
            ticket = moved.ticket
        out = LifecycleOutputs(cause, ticket, at, self._limits)
        message = published_message(interaction, cause)
        if language.language is not None and interaction.language is None:
            message["language"] = language.language
            message["language_source"] = language.source
        if placed.kind == "new":
            out.add(EventType.TICKET_CREATED, interaction=message)
        elif placed.kind == "reopen":
            out.add(
                EventType.TICKET_REOPENED,
                interaction=message,
                by="customer",
                reason=placed.reason,
                # the queue it was reopened in, before a rule below moves it: where the
                # metrics count the reopen and its FCR takeback (the snapshot is after)
                queue=placed.ticket.queue,
                was_first_contact=view.ticket is not None
                and reopen_takes_back(view.ticket, at, rules.metrics.fcr),
                fcr_definition=rules.metrics.fcr.hash,
            )
        else:
            out.add(EventType.TICKET_MESSAGE_ADDED, interaction=message)
        if placed.kind == "new" or decision.matched:
            out.add(EventType.TICKET_ROUTED, **routed_data(decision))
        for etype, data in [*(moved.events if moved else []), *notifications(decision)]:
            reply = data.get("kind") == "auto_reply"
            if reply and interaction.metadata.get("opt_out_type"):
                # a STOP, START or HELP keyword: Twilio answers it (Advanced Opt-Out), and
                # refuses (21610) any other message to a number that sent STOP
                continue
            email_reply = reply and interaction.channel == "email"
            out.add(
                etype,
                **data,
                **({"thread": answered(interaction)} if email_reply else {}),
                **({"reply_to": reply_to(interaction, participant=participant)} if reply else {}),
            )
        out.snapshot()
        return out


def answered(interaction: Interaction) -> dict[str, Any]:
    """The thread of the message an auto-reply answers, for its In-Reply-To and References
    (RFC 5322 section 3.6.4: the parent's References, then the parent's Message-ID),
    its References cut as the reply's will be (the email channel keeps up to 100)."""
    return {
        "message_id": interaction.thread.message_id,
        "in_reply_to": interaction.thread.in_reply_to,
        "references": trimmed(interaction.thread.references),
        "subject": interaction.subject,  # what the default subject answers
    }


def reply_to(interaction: Interaction, *, participant: bool = False) -> dict[str, Any]:
    """Whom an auto-reply answers, as the message it answers names them: its channel,
    sender, the inbox it was written to and the provider it came through. The notifier
    sends later, when the ticket's last message may be another's (a colleague's
    reply-all), and answers from the number the customer wrote to. ``participant``: the
    sender is not the ticket's customer, so nothing of the customer's (their CRM profile,
    the ticket's subject) goes into what the notifier sends them."""
    answers = {
        "channel": interaction.channel,
        "customer": interaction.customer.model_dump(mode="json", exclude_none=True),
        "inbox": interaction.inbox,
        "provider": interaction.metadata.get("provider"),
    }
    return {**answers, "participant": True} if participant else answers


def _kept_message(said: dict[str, Any], ticket: Ticket | None) -> dict[str, Any]:
    """The message kept for escalations (``message_of``), with the language routing
    settled on."""
    if said["language"] is None and ticket is not None:
        return {**said, "language": ticket.language}
    return said


def published_message(interaction: Interaction, event_id: str) -> dict[str, Any]:
    """The customer message as lifecycle events carry it (``data.interaction``)."""
    message = interaction.model_dump(mode="json", exclude_none=True)
    message["event_id"] = event_id
    return message


def _log_not_offered(ticket: Ticket, action: Action) -> None:
    """One line for an accept or decline that changes nothing because the ticket is not
    offered to its agent (any longer: the ingress refuses the others with 409, and the
    offer can move between its check and here). Ids only: no customer data."""
    if isinstance(action, AssignmentAccepted | AssignmentDeclined) and (
        ticket.assignee != action.agent_id
    ):
        log.info(
            "assignment_answer_not_offered",
            answer="accepted" if isinstance(action, AssignmentAccepted) else "declined",
            ticket_id=ticket.id,
            agent_id=action.agent_id,
            offered_to=ticket.assignee,
        )


def _checked(item: ActionWork, rules: RuleSet) -> bool:
    """Whether the ingress found the queue ``item`` names in other rules than these
    (``RULES_CHECKED``): a rules change that reached it first, which these are taken to
    lag; logged when these lack that queue."""
    checked = (item.event.model_extra or {}).get(RULES_CHECKED)
    elsewhere = isinstance(checked, str) and checked != rules.version
    queue = getattr(item.action, "queue", None)
    if elsewhere and queue is not None and queue not in rules.queues:
        log.warning(
            "queue_from_other_rules",
            ticket_id=item.ticket_id,
            queue=queue,
            checked_in=checked,
            rules_version=rules.version,
        )
    return elsewhere
