"""The state marker: how a role notices that Redis lost its data.

Thread state, dedupe markers, outboxes and metric windows live in Redis. A Redis that
restarts empty would let the router open a second ticket for every customer and the
metrics role start its windows again from zero, silently. So the first role to start
writes a marker key (the *epoch*); every role remembers the marker it saw at start and
checks it before every batch. A marker that is missing while the deployment has history
(its consumer groups have committed offsets) means the state vanished: the role refuses
to start, or stops, naming the repair (``switchboard state rebuild``) and the explicit
way to go on regardless (``--accept-empty-state``).
"""

from __future__ import annotations

import uuid

from router.errors import ConfigError, Unrecoverable
from router.events import iso, utcnow
from router.keys import Keys
from router.redis import RedisClient, redis_errors

REPAIR = (
    "stop every role, run `switchboard state rebuild` to restore it from Kafka, then start "
    "them again (or start with --accept-empty-state to go on with empty state)"
)


class StateEpoch:
    """The marker this process saw at start, checked before every batch."""

    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self.key = Keys(prefix).epoch
        self.value: bytes | None = None

    async def establish(self, *, has_history: bool, accept_empty: bool = False) -> bytes:
        """Read the marker, or write it when this is a first start (or the operator said
        so). ConfigError when the state vanished: the role must not start."""
        with redis_errors():
            found = await self._redis.get(self.key)
            if found is None:
                if has_history and not accept_empty:
                    raise ConfigError(
                        "SWITCHBOARD_REDIS_URL",
                        f"the state marker {self.key} is missing although this deployment "
                        f"has processed records before: Redis lost its data; {REPAIR}",
                    )
                await self._redis.set(self.key, new_epoch().encode(), nx=True)
                found = await self._redis.get(self.key)
        self.value = found.encode() if isinstance(found, str) else found
        return self.value or b""

    async def check(self) -> None:
        """Unrecoverable when the marker changed or vanished since start."""
        with redis_errors():
            current = await self._redis.get(self.key)
        if isinstance(current, str):
            current = current.encode()
        if current != self.value:
            what = "is missing" if current is None else "changed"
            raise Unrecoverable(
                f"Redis state vanished: the state marker {self.key} {what} since this role started",
                REPAIR,
            )

    async def renew(self) -> None:
        """Write a new marker (``switchboard state rebuild``): roles that saw the old one
        stop, and roles started afterwards accept the rebuilt state."""
        with redis_errors():
            await self._redis.set(self.key, new_epoch().encode())


def new_epoch() -> str:
    return f"{iso(utcnow())}/{uuid.uuid4().hex[:12]}"
