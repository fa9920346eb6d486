"""Which of our topics the broker has, known without asking it on every request."""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from router.kafka import make_admin
from router.settings import Settings
from router.topics import Topic, TopicNames

log = structlog.get_logger("switchboard.kafka")


class TopicWatch:
    """Which registry topics exist, refreshed in the background every few seconds.

    Readiness, the ingress (it refuses to write to a topic nobody can read) and every
    consumer (a topic that vanished means the broker lost its data) read the cached
    answer without waiting on the broker.

    A broker replaced by an empty one (another cluster id) makes every topic count as
    missing, so every consumer role of the process stops (their offsets and Redis state
    describe the old broker) and the process ends with them. ``adopt`` is for a process
    that runs only the ingress, which holds nothing tied to the old broker: once every
    registry topic exists on the new cluster (``switchboard topics ensure``), the watch
    adopts it and the ingress serves again, with no restart."""

    def __init__(self, settings: Settings, *, every_s: float = 2.0, adopt: bool = False) -> None:
        self._settings = settings
        self._names = TopicNames(settings.topic_prefix)
        self._every_s = every_s
        self._timeout_s = min(settings.kafka.request_timeout_ms / 1000, 5.0)
        self._adopt = adopt
        self.existing: set[str] | None = None  # None: not known yet
        self.error: str | None = None
        self.unreachable = False  # the last refresh found no broker listening at all
        self.cluster_id: str | None = None  # the cluster whose topics are ours
        self.replaced: str | None = None  # why the broker is not that cluster
        self._admin: AIOKafkaAdminClient | None = None

    def missing(self, *topics: Topic) -> list[str]:
        """Registry topics known to be missing (empty while nothing is known yet)."""
        if self.existing is None:
            return []
        wanted = [self._names(t) for t in topics] if topics else list(self._names.all())
        if self.replaced is not None:  # auto-created look-alikes are not our topics
            return sorted(wanted)
        return sorted(set(wanted) - self.existing)

    async def refresh(self) -> None:
        try:
            if self._admin is None:
                self._admin = make_admin(self._settings)
                await asyncio.wait_for(self._admin.start(), self._timeout_s)
            found = await asyncio.wait_for(self._admin.list_topics(), self._timeout_s)
            cluster = await asyncio.wait_for(self._admin.describe_cluster(), self._timeout_s)
            self._check_cluster(str(cluster.get("cluster_id")), set(found))
            self.existing = set(found)
            self.error = None
            self.unreachable = False
        except (KafkaError, OSError, TimeoutError) as exc:
            self.error = type(exc).__name__
            # Refused connections say for sure that nothing can be written; a timeout
            # may be a busy broker that still takes records.
            self.unreachable = isinstance(exc, KafkaConnectionError | ConnectionError)
            await self.close()

    def _check_cluster(self, cluster_id: str, found: set[str]) -> None:
        """A broker that comes back with another cluster id lost its data (or is another
        cluster). A consumer's metadata request may meanwhile have auto-created topics
        of the same names, so the names alone would not tell; only every registry topic
        (``topics ensure`` creates them all, a consumer's metadata request at most the few
        it reads) says the new cluster was set up for us."""
        if self.cluster_id is None:
            self.cluster_id = cluster_id
        elif cluster_id == self.cluster_id:
            return
        elif self.replaced is None:
            self.replaced = f"cluster id changed from {self.cluster_id} to {cluster_id}"
            log.error("broker_replaced", reason=self.replaced)
        elif self._adopt and found >= set(self._names.all()):
            log.warning("broker_adopted", cluster_id=cluster_id, previous=self.cluster_id)
            self.cluster_id, self.replaced = cluster_id, None

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:  # a broker gone mid-close must not hang the watch
            with contextlib.suppress(KafkaError, OSError, TimeoutError):
                await asyncio.wait_for(admin.close(), self._timeout_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh every few seconds until ``stop``; the first listing is the caller's."""
        try:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self._every_s)
                if not stop.is_set():
                    await self.refresh()
        finally:
            await self.close()
