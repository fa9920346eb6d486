"""The read API on a Redis Cluster: every read keeps to one hash tag per command."""

from __future__ import annotations

import pytest

from router.settings import Settings
from tests.component.cluster.conftest import Cluster
from tests.component.read_api.test_read_api import read_api_scenario

pytestmark = pytest.mark.component


async def test_read_api_on_a_cluster(settings: Settings, cluster: Cluster) -> None:
    assert settings.redis.url == cluster.url
    await read_api_scenario(settings)
