"""Whether Redis still holds the state this ingress has seen: the marker key the roles
write on their first start (``consumers/state/epoch.py``). Redis restarted empty (no
persistence, a lost volume) takes every ticket and customer with it: the consumer roles
stop, naming the repair (``switchboard state rebuild``), and the ingress must not answer
meanwhile that a ticket or a customer does not exist. A helpdesk takes a 404 as final
and drops the reply or the resolution it sent; a 503 with Retry-After it sends again,
after the rebuild."""

from __future__ import annotations

from router.redis import RedisClient, read_marker, redis_errors


class StateMarker:
    def __init__(self, redis: RedisClient, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix
        self._seen: bytes | str | None = None

    async def lost(self) -> bool:
        """Whether the marker this process saw is gone (on a cluster: or its copy on any
        primary, ``read_marker``). One round trip. A marker found again, the same or a
        new one (``state rebuild`` restored the state), ends the loss; before this
        process saw any, nothing was lost."""
        with redis_errors():
            current = await read_marker(self._redis, self._prefix)
        if current is not None:
            self._seen = current
            return False
        return self._seen is not None
