"""The state marker: how a role notices that Redis lost its data.

Thread state, dedupe markers, outboxes and metric windows live in Redis. A Redis that
restarts empty would let the router open a second ticket for every customer and the
metrics role start its windows again from zero, silently. So the first role to start
writes a marker key (the *epoch*); every role remembers the marker it saw at start and
checks it before every batch. A marker that is missing while the deployment has history
(its consumer groups have committed offsets) means the state vanished: the role refuses
to start, or stops, naming the repair (``switchboard state rebuild``) and the explicit
way to go on regardless (``--accept-empty-state``).

On a Redis Cluster one key lives on one node, and a node that restarts empty takes only
its own slots with it: the marker would survive the loss of the others' state. So there
the marker also has copies spread over the slots (``Keys.epoch_copies``), and the check
reads the marker and one copy on each primary, in one pipelined round trip.
"""

from __future__ import annotations

import uuid

import structlog
from redis.asyncio.cluster import RedisCluster

from router.errors import ConfigError, Unrecoverable
from router.events import iso, utcnow
from router.keys import Keys
from router.redis import (
    RedisClient,
    delete_many,
    get_many,
    marker_keys,
    redis_errors,
    run_batch,
)

REPAIR = (
    "stop every role, run `switchboard state rebuild` to restore it from Kafka, then start "
    "them again (or start with --accept-empty-state to go on with empty state)"
)

log = structlog.get_logger("switchboard.state")


class StateEpoch:
    """The marker this process saw at start, checked before every batch."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        keys = Keys(prefix)
        self._prefix = prefix
        self.key = keys.epoch
        self._copies = keys.epoch_copies if isinstance(redis, RedisCluster) else ()
        self.value: bytes | None = None

    async def establish(self, *, has_history: bool, accept_empty: bool = False) -> bytes:
        """Read the marker, or write it when this is a first start (or the operator said
        so). ConfigError when the state vanished (the marker or any copy of it is
        missing): the role must not start."""
        with redis_errors():
            found = dict(zip(self._keys, await self._read(self._keys), strict=True))
            missing = [key for key, value in found.items() if value is None]
            if len(missing) == len(self._copies) and self.key not in missing:
                missing = []  # written by a version without copies: the node holding
                # the marker holds copies too, so a lost node cannot look like this
            if missing and has_history and not accept_empty:
                raise ConfigError(
                    "SWITCHBOARD_REDIS_URL",
                    f"the state marker {missing[0]} is missing although this deployment "
                    f"has processed records before: Redis lost its data; {REPAIR}",
                )
            value = found[self.key]
            if value is None:
                await self._redis.set(self.key, new_epoch().encode(), nx=True)
                value = await self._redis.get(self.key)
            if any(copy != value for key, copy in found.items() if key != self.key):
                await self._write_copies(value)
        self.value = _as_bytes(value)
        self._warn_uncovered()
        return self.value or b""

    async def check(self) -> None:
        """Unrecoverable when the marker (or its copy on any primary) changed or vanished
        since start."""
        keys = self.checked_keys()
        with redis_errors():
            values = await self._read(keys)
        for key, current in zip(keys, values, strict=True):
            if _as_bytes(current) != self.value:
                what = "is missing" if current is None else "changed"
                raise Unrecoverable(
                    f"Redis state vanished: the state marker {key} {what} since this role started",
                    REPAIR,
                )

    async def renew(self) -> None:
        """Write a new marker (``switchboard state rebuild``): roles that saw the old one
        stop, and roles started afterwards accept the rebuilt state."""
        value = new_epoch().encode()
        with redis_errors():
            await self._redis.set(self.key, value)
            await self._write_copies(value)

    async def clear(self) -> None:
        """Delete the marker and its copies (the start of ``switchboard state rebuild``):
        until ``renew`` writes the next one, a role refuses to start, so a rebuild cut
        short leaves no half-restored state that looks whole."""
        with redis_errors():
            await delete_many(self._redis, list(self._keys))

    @property
    def _keys(self) -> tuple[str, ...]:
        return (self.key, *self._copies)

    def checked_keys(self) -> list[str]:
        """The marker, and on a cluster one copy on each primary: the fewest keys that
        reach every node (a read of all copies would cost a command for each)."""
        return marker_keys(self._redis, self._prefix)

    async def _read(self, keys: tuple[str, ...] | list[str]) -> list[bytes | str | None]:
        """One GET on one server, as ever; on a cluster one pipelined round trip."""
        if len(keys) == 1:
            return [await self._redis.get(keys[0])]
        return await get_many(self._redis, keys)

    async def _write_copies(self, value: bytes | str | None) -> None:
        if self._copies and value is not None:
            await run_batch(self._redis, [("SET", key, value) for key in self._copies])

    def _warn_uncovered(self) -> None:
        """A primary holding no copy (only scattered slots) is not checked: say so."""
        if not isinstance(self._redis, RedisCluster):
            return
        holders = {getattr(self._redis.get_node_from_key(k), "name", None) for k in self._copies}
        unchecked = [p.name for p in self._redis.get_primaries() if p.name not in holders]
        if unchecked:
            log.warning("state_marker_uncovered", key=self.key, primaries=unchecked)


def _as_bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def new_epoch() -> str:
    return f"{iso(utcnow())}/{uuid.uuid4().hex[:12]}"
