"""A node that lost its scripts (restarted, or a replica promoted by a failover) answers
NOSCRIPT: that is said at info as a reload, naming the node, not as Redis being down. The
batch it failed is retried as before (``BackendUnavailable``, retriable) and the next one
goes through. Run on one server here, and on the cluster by
``tests/component/cluster/test_cluster_scripts_reloaded.py``."""

from __future__ import annotations

import re

import pytest
from structlog.testing import capture_logs

from consumers.state.counters import Increment, WindowCounters
from router.errors import BackendUnavailable
from router.redis import RedisClient
from router.settings import Settings

pytestmark = pytest.mark.component


def _increment(event: str) -> Increment:
    return Increment("w/1", event, "created", 1, {"metric": "m"}, end=1.0)


async def test_a_script_flush_is_logged_as_a_reload_at_info(
    redis: RedisClient, settings: Settings
) -> None:
    counters = WindowCounters(redis, prefix=settings.topic_prefix, ttl_s=600)
    assert await counters.add([_increment("e1")]) == [True]
    await redis.script_flush()  # as a promoted replica: no script cache
    with capture_logs() as logs:
        with pytest.raises(BackendUnavailable) as failed:
            await counters.add([_increment("e2")])
        assert await counters.add([_increment("e2")]) == [True]
    assert failed.value.retriable
    assert "NOSCRIPT" in str(failed.value)
    [reload] = [e for e in logs if e["event"] == "redis_scripts_reloaded"]
    assert reload["log_level"] == "info"
    assert re.fullmatch(r"127\.0\.0\.1:\d+", reload["node"]), reload
    assert not [e for e in logs if e["log_level"] in ("warning", "error", "critical")]
