"""The one Redis key registry: every key the product writes is spelled here, nowhere else.

All keys start with the deployment's prefix (``SWITCHBOARD_TOPIC_PREFIX``), so deployments
and tests sharing one Redis stay apart. Keys that a Lua script touches together share a
hash tag ``{...}``, so each script runs in one slot and works on Redis Cluster. Every key
a script touches is passed to it in ``KEYS``: a script builds no key name of its own.

========================================  ==========  =========================================
key                                       type        what it holds
========================================  ==========  =========================================
``p:id:<identity>``                       string      the customer an identity belongs to
``p:ticket:<ticket>``                     string      the customer a ticket belongs to
``p:msg:<message id>``                    string      ``<customer>`` US ``<ticket>``: the
                                                      ticket a message opened or joined,
                                                      whoever wrote it (replies from others)
``p:{c:<customer>}:ticket-data``          hash        every ticket of the customer, three
                                                      fields each (``TICKET_FIELDS``):
                                                      ``<ticket>:v`` version,
                                                      ``<ticket>:json`` snapshot,
                                                      ``<ticket>:message`` last customer
                                                      message (facts)
``p:{c:<customer>}:open``                 string      the customer's open ticket
``p:{c:<customer>}:msgs``                 hash        message id -> ticket (reply threading)
``p:{c:<customer>}:profile``              string      CRM profile (JSON)
``p:{c:<customer>}:ids``                  set         identity keys linked to the customer
``p:{c:<customer>}:archived``             set         ids of the customer's tickets archived
                                                      out of Redis (``forget`` erases them)
``p:{c:<customer>}:participates``         set         ``<customer>`` US ``<ticket>``: tickets
                                                      of others this customer wrote on
``p:{c:<customer>}:wrote``                set         the same US ``<message id>``: their
                                                      message ids there (``forget``)
``p:{c:<customer>}:done:<event>``         string      dedupe marker of an applied event (TTL)
``p:{c:<customer>}:outbox:<event>``       string      records of an event not yet acked (TTL)
``p:{c:<customer>}:pub:<ticket>``         string      the writer whose records of the ticket
                                                      are not acked yet (``PUBLISH_LEASE_MS``)
``p:{agents}:agent:<agent>``              hash        status, skills, capacity
``p:{agents}:online``                     set         online agents
``p:{agents}:everyone``                   set         every agent ever seen (the read API's
                                                      list; no scan of the keyspace)
``p:{agents}:everyone-indexed``           string      set once the agents recorded without
                                                      that set were added to it (TTL 1 h)
``p:{agents}:load:<agent>:<channel>``     set         tickets an agent holds on a channel
``p:{agents}:holder:<ticket>``            string      the agent holding a ticket's capacity
``p:{agents}:holder-channel:<ticket>``    string      the channel of that capacity
``p:{agents}:rr:<queue>``                 string      round-robin pointer
``p:{agents}:changes``                    counter     bumps when an assignment may be possible
``p:{agents}:left``                       hash        agents gone away or offline since the last
                                                      sweep: status and a marker
``{p:timers:<s>}``                        sorted set  timer shard ``s``: ``ticket|target|kind``
                                                      by due time (``shard_of`` the ticket)
``{p:timers:<s>}:claims``                 sorted set  timers of shard ``s`` being fired, by
                                                      when the claim lapses
``{p:waiting:<s>}``                       sorted set  waiting line shard ``s``, ``ticket|round``
``{p:waiting:<s>}:needs|counts|recheck``  hash/zset   see ``consumers/state/waiting.py``
``{p:waiting}:sweeper``                   string      the timers process sweeping the line
                                                      (held for a few seconds, renewed)
``p:shards``                              string      the shard count the timers role last
                                                      worked with (re-homing on a change)
``p:timers``, ``p:waiting``,              zset/hash   the single-key layout of earlier
``{p:waiting}:needs|counts|recheck``                  versions: read only to move members
                                                      into their shards
``p:m:{<metric key>}``                    hash        a metric window: ``c:<counter>``,
                                                      ``meta``, ``revision``, ``final``
``p:m:{<metric key>}:done:<e>:<c>``       string      dedupe of one counter increment (TTL)
``p:m:dirty``                             hash        window -> change mark: to publish
``p:m:windows``                           zset        windows to close (final), by time
``p:m:publisher``                         string      the publishing process's lease (TTL)
``p:m:backlog:where``                     hash        ticket -> the queue it counts in
``p:m:backlog:queues``                    set         queues ever seen
``p:m:backlog:done:<e>``                  string      a lifecycle record the backlog followed (TTL)
``p:m:backlog:open|waiting:<queue>``      zset        open / waiting tickets of a queue
``p:notify:<delivery>``                   hash        one notification delivery: state, sends
                                                      of unknown outcome, attempts, answer (TTL)
``p:notify:replies:<medium>:<digest>``    set         auto-replies sent to a mailbox (its
                                                      digest) in the window (TTL: the window)
``{p:notify-retry}``                      sorted set  parked deliveries (temporary provider
                                                      failure) by when to send them again
``{p:notify-retry}:claims|data``          zset/hash   those being sent, by claim lapse; each
                                                      one's message and record (JSON)
``{p:notify-retry}:ticket:<t>``           set         the parked deliveries of ticket ``t``
                                                      (what ``forget`` removes)
``{p:notify-retry}:medium:<m>``           sorted set  the parked deliveries of a medium, by
                                                      when they were first parked
``p:epoch``                               string      the state marker (lost-state detection)
``p:epoch:{<tag>}``                       string      its copies on a cluster, one per
                                                      ``EPOCH_BANDS`` band of the slots
``p:ingress:seen:<event>``                string      an accepted event id (TTL)
``p:ingress:content:<digest>``            string      recent content without a provider id (TTL)
``p:dlq:replayed``                        hash        ``<partition>:<offset>`` of a dead letter
                                                      -> when ``deadletter replay`` sent it
========================================  ==========  =========================================

Why shards for the timers and the waiting line: one key per set would put every timers
process's work on one slot, so one node of a cluster. ``SWITCHBOARD_TIMERS_SHARDS`` keys
(each its own hash tag) spread them over the slots; a ticket's members always live in the
shard ``shard_of(ticket id)`` names, so each script still touches one slot.

Why one hash per customer for the tickets: the view script finds the ticket (by reply
reference or by the open pointer) while it runs, so a key per ticket could not be
declared in ``KEYS`` beforehand. Fields of one declared hash can.
"""

from __future__ import annotations

import binascii
import functools
import zlib
from dataclasses import dataclass

TICKET_FIELDS = ("v", "json", "message")
"""The fields each ticket has in ``ticket-data``, as ``<ticket>:<field>``; the thread
scripts (``consumers/state/commit.lua``, ``view.lua``) spell the same three."""


def ticket_field(ticket_id: str, field: str) -> str:
    """The ``ticket-data`` field of one ticket: ``<ticket>:v``, ``:json`` or ``:message``."""
    return f"{ticket_id}:{field}"


DEFAULT_SHARDS = 16
"""Shards of the timer schedule and of the waiting line (``SWITCHBOARD_TIMERS_SHARDS``)."""


def shard_of(ticket_id: str, shards: int) -> int:
    """The shard of a ticket's timers and place in line: stable across processes and
    versions (CRC-32, not Python's salted ``hash``)."""
    return zlib.crc32(ticket_id.encode()) % shards


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names for one deployment prefix."""

    prefix: str = "sb"

    # --- threads: identities, tickets, dedupe and outbox (consumers/state/threads.py) ---
    def identity(self, identity: str) -> str:
        return f"{self.prefix}:id:{identity}"

    def ticket_owner(self, ticket_id: str) -> str:
        return f"{self.prefix}:ticket:{ticket_id}"

    def message_owner(self, message_id: str) -> str:
        return f"{self.prefix}:msg:{message_id}"

    def _customer(self, customer_id: str, *parts: str) -> str:
        """``<prefix>:{c:<customer>}:<part>...``; the keys every routed event names spell
        it out as one f-string, which costs less than the join."""
        return ":".join((self.prefix, "{c:" + customer_id + "}", *parts))

    def ticket_data(self, customer_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:ticket-data"

    def open_ticket(self, customer_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:open"

    def message_index(self, customer_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:msgs"

    def profile(self, customer_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:profile"

    def merged_into(self, customer_id: str) -> str:
        """The customer this one was merged into (see ``merged``)."""
        return self._customer(customer_id, "merged-into")

    def merged(self, customer_id: str) -> str:
        """The customers merged into this one (their identities now name it)."""
        return self._customer(customer_id, "merged")

    def archived(self, customer_id: str) -> str:
        """The ids of the customer's tickets archived out of Redis (``forget`` erases
        their snapshots on ``ticket-state``)."""
        return self._customer(customer_id, "archived")

    def participations(self, customer_id: str) -> str:
        """The tickets of others this customer wrote on (a reply in someone's thread)."""
        return self._customer(customer_id, "participates")

    def written(self, customer_id: str) -> str:
        """The message ids this customer wrote on others' tickets, each as ``<customer>``
        US ``<ticket>`` US ``<message id>`` (``forget`` takes them out of those tickets)."""
        return self._customer(customer_id, "wrote")

    def customer_identities(self, customer_id: str) -> str:
        return self._customer(customer_id, "ids")

    def done(self, customer_id: str, event_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:done:{event_id}"

    def publishing(self, customer_id: str, ticket_id: str) -> str:
        """The writer publishing the ticket's records now (``commit.lua``)."""
        return f"{self.prefix}:{{c:{customer_id}}}:pub:{ticket_id}"

    def outbox(self, customer_id: str, event_id: str) -> str:
        return f"{self.prefix}:{{c:{customer_id}}}:outbox:{event_id}"

    def customer_pattern(self, customer_id: str) -> str:
        """A SCAN pattern matching every key of one customer (erasure)."""
        return self._customer(customer_id, "*")

    # --- agents (consumers/state/agents.py) -----------------------------------------
    @property
    def agents(self) -> str:
        """The prefix of every agent key; one hash tag for the assignment scripts."""
        return f"{self.prefix}:{{agents}}:"

    # --- timers and the waiting line (consumers/state/schedule.py, waiting.py) ------
    def timers(self, shard: int) -> str:
        """One shard of the schedule; its name is its hash tag."""
        return "{" + f"{self.prefix}:timers:{shard}" + "}"

    def timer_claims(self, shard: int) -> str:
        return self.timers(shard) + ":claims"

    def waiting(self, shard: int) -> str:
        """One shard of the line; the shard's other keys carry its name as hash tag."""
        return "{" + f"{self.prefix}:waiting:{shard}" + "}"

    def waiting_needs(self, shard: int) -> str:
        return self.waiting(shard) + ":needs"

    def waiting_counts(self, shard: int) -> str:
        return self.waiting(shard) + ":counts"

    def waiting_recheck(self, shard: int) -> str:
        return self.waiting(shard) + ":recheck"

    @property
    def waiting_sweeper(self) -> str:
        """The timers process that sweeps the line now (one at a time)."""
        return "{" + f"{self.prefix}:waiting" + "}:sweeper"

    @property
    def shards(self) -> str:
        return f"{self.prefix}:shards"

    # the single-key layout of earlier versions, read only to move it into the shards
    @property
    def legacy_timers(self) -> str:
        return f"{self.prefix}:timers"

    @property
    def legacy_waiting(self) -> str:
        return f"{self.prefix}:waiting"

    def legacy_waiting_part(self, part: str) -> str:
        """``needs``, ``counts`` or ``recheck``, in the slot of the old line itself."""
        return "{" + self.legacy_waiting + "}:" + part

    # --- metrics (consumers/state/counters.py, backlog.py) --------------------------
    @property
    def _metrics(self) -> str:
        return f"{self.prefix}:m"

    def metric_window(self, metric_key: str) -> str:
        return f"{self._metrics}:{{{metric_key}}}"

    def metric_done(self, metric_key: str, event_id: str, counter: str) -> str:
        """In the window's slot, so the increment script checks it atomically."""
        return f"{self.metric_window(metric_key)}:done:{event_id}:{counter}"

    @property
    def metric_dirty(self) -> str:
        return f"{self._metrics}:dirty"

    @property
    def metric_windows(self) -> str:
        return f"{self._metrics}:windows"

    @property
    def metric_publisher(self) -> str:
        return f"{self._metrics}:publisher"

    @property
    def backlog_where(self) -> str:
        return f"{self._metrics}:backlog:where"

    @property
    def backlog_queues(self) -> str:
        return f"{self._metrics}:backlog:queues"

    def backlog_done(self, event_id: str) -> str:
        return f"{self._metrics}:backlog:done:{event_id}"

    def backlog_open(self, queue: str) -> str:
        return f"{self._metrics}:backlog:open:{queue}"

    def backlog_waiting(self, queue: str) -> str:
        return f"{self._metrics}:backlog:waiting:{queue}"

    # --- notification deliveries (consumers/state/notifications.py) ----------------
    def notification(self, delivery_id: str) -> str:
        return f"{self.prefix}:notify:{delivery_id}"

    def auto_replies(self, mailbox: str) -> str:
        """The auto-replies sent to one mailbox in the current window (delivery ids)."""
        return f"{self.prefix}:notify:replies:{mailbox}"

    def notify_retries(self, part: str = "") -> str:
        """The retry schedule of parked deliveries (``part`` ""), its ``claims`` and its
        ``data``: one hash tag, so the claim script sees them in one slot."""
        return "{" + f"{self.prefix}:notify-retry" + "}" + (f":{part}" if part else "")

    def notify_retry_ticket(self, ticket_id: str) -> str:
        """The parked deliveries of one ticket, in the retry schedule's slot."""
        return self.notify_retries(f"ticket:{ticket_id}")

    def notify_retry_medium(self, medium: str) -> str:
        """The parked deliveries of one medium by parking time, in the schedule's slot."""
        return self.notify_retries(f"medium:{medium}")

    # --- the state marker (consumers/state/epoch.py) --------------------------------
    @property
    def epoch(self) -> str:
        return f"{self.prefix}:epoch"

    @property
    def epoch_copies(self) -> tuple[str, ...]:
        """The marker's copies on a cluster: one key in one slot lives on one node, and a
        node that restarts empty loses only its own slots. One copy per band of
        ``EPOCH_BANDS`` makes every primary that holds a run of at least two bands' worth
        of slots (127) hold one, whatever the layout; the same keys in every process."""
        return tuple(f"{self.prefix}:epoch:{{{tag}}}" for tag in epoch_tags())

    # --- ingress dedupe (channels/publish.py) ---------------------------------------
    def ingress_seen(self, event_id: str) -> str:
        return f"{self.prefix}:ingress:seen:{event_id}"

    def ingress_content(self, digest: str) -> str:
        return f"{self.prefix}:ingress:content:{digest}"

    # --- dead letters sent back (router/app/replay.py) ------------------------------
    def replayed(self) -> str:
        return f"{self.prefix}:dlq:replayed"


CLUSTER_SLOTS = 16384
EPOCH_BANDS = 256


@functools.cache
def epoch_tags() -> tuple[str, ...]:
    """``EPOCH_BANDS`` hash tags, the first whose slot falls in each equal band of the
    cluster's slots (Redis's slot: CRC16/XMODEM of the tag, modulo 16,384)."""
    width = CLUSTER_SLOTS // EPOCH_BANDS
    tags: dict[int, str] = {}
    n = 0
    while len(tags) < EPOCH_BANDS:
        tag = f"e{n}"
        tags.setdefault(binascii.crc_hqx(tag.encode(), 0) % CLUSTER_SLOTS // width, tag)
        n += 1
    return tuple(tags[band] for band in range(EPOCH_BANDS))
