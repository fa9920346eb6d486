"""Redis losing its data is never silent: a running role stops, a starting role refuses,
and `switchboard state rebuild` restores threads and metric truth from Kafka."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from pydantic import SecretStr

from router.app import roles
from router.app.rebuild import read_all, rebuild
from router.errors import ConfigError, Unrecoverable
from router.kafka import make_producer
from router.redis import make_redis
from router.settings import Settings
from router.topics import Topic, TopicNames
from tests.component.pipeline.conftest import RULES, run_switchboard
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

CUSTOMERS = 5


async def _post_round(settings: Settings, url_client: Any, round_no: int) -> None:
    del settings
    for i in range(CUSTOMERS):
        resp = await url_client.post(
            "/v1/channels/webform",
            json={"email": f"c{i}@example.com", "message": f"round {round_no}"},
        )
        assert resp.status_code == 202, resp.text


async def _wipe(settings: Settings) -> int:
    """What a Redis restarted empty looks like to this deployment."""
    redis = make_redis(settings)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{settings.topic_prefix}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        return len(keys)
    finally:
        await redis.aclose()


def _latest_created(records: list[dict[str, Any]]) -> int:
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        dims = orjson.dumps(r["dimensions"], option=orjson.OPT_SORT_KEYS).decode()
        key = f"{r['window']['start']}/{dims}"
        if key not in latest or r["revision"] >= latest[key]["revision"]:
            latest[key] = r
    return sum(
        r["counters"].get("created", 0) for r in latest.values() if "channel" in r["dimensions"]
    )


@pytest.mark.slow
async def test_state_loss_stops_the_role_and_rebuild_restores_it(settings: Settings) -> None:
    settings = settings.model_copy(update={"rules_path": RULES})
    async with run_switchboard(settings) as sb:
        await _post_round(settings, sb.http, 1)
        created = await read_topic(settings, Topic.TICKETS, expect=CUSTOMERS * 3, timeout=15)
        assert sum(v["type"].endswith(".created") for v in values(created)) == CUSTOMERS

    # Redis loses everything while nothing runs: a role refuses to start
    assert await _wipe(settings) > 0
    with pytest.raises(ConfigError) as refused:
        await roles.run_roles(
            settings.model_copy(update={"http_port": 0}), {"router"}, asyncio.Event()
        )
    assert "switchboard state rebuild" in refused.value.message
    assert "--accept-empty-state" in refused.value.message

    done = await rebuild(settings)
    assert done.tickets == CUSTOMERS
    assert done.identities >= CUSTOMERS
    await roles.replay_tickets(settings, await read_all(settings, Topic.TICKETS))

    async with run_switchboard(settings) as sb:
        await _post_round(settings, sb.http, 2)
        kinds = await _kinds_once(settings, "message_added", CUSTOMERS)
        workload = values(await read_topic(settings, Topic.METRICS_WORKLOAD, expect=1))
    assert kinds.count("created") == CUSTOMERS  # the second round joined the old tickets
    assert kinds.count("message_added") == CUSTOMERS
    assert _latest_created(workload) == CUSTOMERS  # replayed, counted once


async def _kinds_once(settings: Settings, kind: str, count: int) -> list[str]:
    """The lifecycle kinds on ``tickets`` once ``count`` records of ``kind`` arrived."""
    kinds: list[str] = []
    for _ in range(40):
        records = values(await read_topic(settings, Topic.TICKETS, expect=0, settle=0.5))
        kinds = [v["type"].rsplit(".", 1)[1] for v in records]
        if kinds.count(kind) >= count:
            break
    return kinds


async def test_a_running_role_stops_when_redis_state_vanishes(settings: Settings) -> None:
    settings = settings.model_copy(update={"rules_path": RULES})
    stop = asyncio.Event()
    task = asyncio.create_task(
        roles.run_roles(settings.model_copy(update={"http_port": 0}), {"router"}, stop)
    )
    redis = make_redis(settings)
    try:
        for _ in range(200):  # the marker is written at start
            if await redis.exists(f"{settings.topic_prefix}:epoch"):
                break
            await asyncio.sleep(0.05)
        await _wipe(settings)
        with pytest.raises(Unrecoverable) as stopped:
            await asyncio.wait_for(task, 10)
    finally:
        stop.set()
        await redis.aclose()
    assert "state marker" in stopped.value.message
    assert "switchboard state rebuild" in stopped.value.hint


async def _kinds(settings: Settings, expect: int) -> list[str]:
    records = values(await read_topic(settings, Topic.TICKETS, expect=expect, timeout=20))
    return [v["type"].rsplit(".", 1)[1] for v in records]


async def _redeliver(settings: Settings, *topics: Topic) -> None:
    """Every record of ``topics`` written again as it was: what a consumer group reset,
    or a retry whose first attempt's marker was lost, hands the router."""
    names = TopicNames(settings.topic_prefix)
    producer = make_producer(settings)
    await producer.start()
    try:
        for topic in topics:
            for r in await read_topic(settings, topic, expect=1):
                await producer.send_and_wait(
                    names(topic), r.value, key=r.key, headers=list(r.headers)
                )
    finally:
        await producer.stop()


@pytest.mark.slow
async def test_rebuild_restores_dedupe_markers_so_nothing_handled_is_handled_again(
    settings: Settings,
) -> None:
    """After Redis lost its data and ``state rebuild``, a provider's retry of a message
    handled before is answered ``duplicate``, and a redelivered message or action is
    dropped by the router: no second ``message_added`` or ``note_added``."""
    settings = settings.model_copy(update={"rules_path": RULES, "api_tokens": SecretStr("t")})
    auth = {"authorization": "Bearer t"}
    form = {"email": "dora@example.com", "message": "where is my parcel?"}
    async with run_switchboard(settings) as sb:
        first = await sb.http.post(
            "/v1/channels/webform", json=form, headers={"Idempotency-Key": "k1"}
        )
        assert first.status_code == 202, first.text
        assert await _kinds(settings, 2) == ["created", "routed"]
        ticket_id = values(await read_topic(settings, Topic.TICKETS, expect=2))[0]["subject"]
        note = {"type": "ticket.note_added", "data": {"ticket_id": ticket_id, "text": "VIP"}}
        assert (await sb.http.post("/v1/actions", json=note, headers=auth)).status_code == 202
        assert (await _kinds(settings, 3))[-1] == "note_added"

    await _wipe(settings)
    done = await rebuild(settings)
    assert done.dedupe_markers == 4  # seen: the message and the action; done: both
    await roles.replay_tickets(settings, await read_all(settings, Topic.TICKETS))
    await _redeliver(settings, Topic.INBOUND, Topic.ACTIONS)

    async with run_switchboard(settings) as sb:
        retry = await sb.http.post(
            "/v1/channels/webform", json=form, headers={"Idempotency-Key": "k1"}
        )
        assert retry.json() == {"id": first.json()["id"], "duplicate": True}
        # the same partitions as the redelivered records, so handled after them
        later = {**form, "message": "any news?"}
        resp = await sb.http.post(
            "/v1/channels/webform", json=later, headers={"Idempotency-Key": "k2"}
        )
        assert resp.status_code == 202, resp.text
        assert (await sb.http.post("/v1/actions", json=note, headers=auth)).status_code == 202
        for _ in range(40):
            kinds = await _kinds(settings, 5)
            if kinds.count("message_added") >= 1 and kinds.count("note_added") >= 2:
                break
        kinds = await _kinds(settings, 5)
    assert kinds.count("message_added") == 1, kinds  # the later message only
    assert kinds.count("note_added") == 2, kinds
    assert kinds.count("created") == 1, kinds


async def test_a_rebuild_cut_short_leaves_the_roles_refusing_to_start(settings: Settings) -> None:
    """The marker had been written at the end of the restore, before the CLI replayed
    ``tickets`` into the timers and metrics: a rebuild interrupted in that replay let the
    roles start, and every SLA timer of the tickets before the loss was silently gone. It
    is now deleted first and written last (``mark_rebuilt``), after the replay."""
    from consumers.state.epoch import StateEpoch
    from router.app.rebuild import mark_rebuilt

    settings = settings.model_copy(update={"rules_path": RULES})
    async with run_switchboard(settings) as sb:
        await _post_round(settings, sb.http, 1)
        await read_topic(settings, Topic.TICKETS, expect=CUSTOMERS * 3, timeout=15)

    async def starts() -> bool:
        redis = make_redis(settings)
        try:
            await StateEpoch(redis, settings.topic_prefix).establish(has_history=True)
        except ConfigError:
            return False
        finally:
            await redis.aclose()
        return True

    assert await starts()  # the marker of the running deployment: Redis was not wiped
    await rebuild(settings, force=True, mark=False)  # as the CLI, up to its replay
    assert not await starts()
    await mark_rebuilt(settings)
    assert await starts()
