"""Redis work per event: commands and network bytes the server counted while a role
worked alone, divided by the records it worked through (``INFO stats``)."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from router.redis import make_redis
from router.settings import Settings


@dataclass(frozen=True)
class RedisCounts:
    commands: int
    net_bytes: int

    def per(self, later: RedisCounts, records: int) -> dict[str, float] | None:
        """What happened between ``self`` and ``later``, per record."""
        if records <= 0:
            return None
        return {
            "commands": round((later.commands - self.commands) / records, 1),
            "bytes": round((later.net_bytes - self.net_bytes) / records),
        }


async def redis_counts(settings: Settings) -> RedisCounts | None:
    """The server's counters now; None on a cluster (no single server counts it all)."""
    client = make_redis(settings)
    try:
        if not isinstance(client, Redis):
            return None
        stats = await client.info("stats")
        return RedisCounts(
            int(stats["total_commands_processed"]),
            int(stats["total_net_input_bytes"]) + int(stats["total_net_output_bytes"]),
        )
    finally:
        await client.aclose()
