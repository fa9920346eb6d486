"""The topic watch after the broker was replaced by an empty one (a new cluster id): every
topic counts as missing, so consumer roles stop; an ingress-only process adopts the new
cluster once ``topics ensure`` created every topic there."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import router.topic_watch
from router.settings import Settings
from router.topic_watch import TopicWatch
from router.topics import Topic, TopicNames

pytestmark = pytest.mark.unit


class FakeAdmin:
    """The two answers the watch asks for, as a test sets them."""

    cluster_id: ClassVar[str] = "old"
    topics: ClassVar[set[str]] = set()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def list_topics(self) -> list[str]:
        return sorted(FakeAdmin.topics)

    async def describe_cluster(self) -> dict[str, Any]:
        return {"cluster_id": FakeAdmin.cluster_id}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> type[FakeAdmin]:
    monkeypatch.setattr(router.topic_watch, "make_admin", lambda _settings: FakeAdmin())
    FakeAdmin.cluster_id, FakeAdmin.topics = "old", set()
    return FakeAdmin


async def test_an_ingress_alone_adopts_a_replaced_broker_once_every_topic_exists(
    broker: type[FakeAdmin],
) -> None:
    settings = Settings()
    names = TopicNames(settings.topic_prefix)
    every = set(names.all())
    watch = TopicWatch(settings, adopt=True)
    broker.topics = every
    await watch.refresh()
    assert watch.missing() == []

    broker.cluster_id, broker.topics = "new", {names(Topic.INBOUND)}  # auto-created look-alike
    await watch.refresh()
    assert watch.replaced is not None
    assert watch.missing(Topic.INBOUND) == [names(Topic.INBOUND)]  # not ours: still missing

    broker.topics = every  # switchboard topics ensure
    await watch.refresh()
    assert watch.replaced is None
    assert watch.cluster_id == "new"
    assert watch.missing() == []


async def test_a_process_with_consumer_roles_never_adopts_a_replaced_broker(
    broker: type[FakeAdmin],
) -> None:
    """Their offsets and Redis state describe the old broker: they must stop, not go on."""
    settings = Settings()
    every = set(TopicNames(settings.topic_prefix).all())
    watch = TopicWatch(settings)
    broker.topics = every
    await watch.refresh()
    broker.cluster_id = "new"
    for _ in range(3):
        await watch.refresh()
    assert watch.replaced is not None
    assert watch.missing() == sorted(every)
