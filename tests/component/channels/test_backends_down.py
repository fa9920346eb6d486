"""Broker or Redis not answering: 503 with Retry-After and nothing half-written; after the
broker is back, the provider's retry succeeds."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from router.app.embedded import EmbeddedServices, free_port
from router.settings import RedisSettings, Settings
from router.topic_admin import ensure_topics
from router.topics import Topic
from tests.component.channels.support import assert_problem, client_for
from tests.conftest import read_topic, values

pytestmark = pytest.mark.component

FORM = {"email": "a@example.com", "message": "hello"}


@pytest.fixture
def own_broker() -> Iterator[EmbeddedServices]:
    """A broker of this test's own, so stopping it does not disturb the session's."""
    svc = EmbeddedServices()
    svc.start_kafka()
    try:
        yield svc
    finally:
        svc.stop()


async def test_broker_down_is_503_and_retry_after_restart_succeeds(
    settings: Settings, own_broker: EmbeddedServices
) -> None:
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": own_broker.bootstrap_servers, "request_timeout_ms": 1000}
    )
    local = settings.model_copy(update={"kafka": kafka})
    await ensure_topics(local)
    headers = {"Idempotency-Key": "outage-1"}
    async with client_for(local) as client:
        # SIGKILL, as in a crash; Tansu lingers on SIGTERM while clients are connected.
        os.kill(own_broker.pids[0], signal.SIGKILL)
        own_broker.kill_kafka()
        down = await client.post("/v1/channels/webform", json=FORM, headers=headers)
        problem = assert_problem(down, 503)
        assert down.headers["retry-after"].isdigit()
        assert "kafka" in problem["detail"]
        own_broker.start_kafka()
        await ensure_topics(local)
        for _ in range(20):  # a client honouring Retry-After, faster: the broker is back
            retry = await client.post("/v1/channels/webform", json=FORM, headers=headers)
            if retry.status_code != 503:
                break
            await asyncio.sleep(0.5)
        assert retry.status_code == 202, retry.text
        assert retry.json()["duplicate"] is False
    # A 503 "outcome-unknown" may still be written late by the producer: then under the
    # same id as the retry, which every consumer drops. Never a second event.
    records = values(await read_topic(local, Topic.INBOUND, expect=1))
    assert {r["id"] for r in records} == {retry.json()["id"]}


async def test_with_no_broker_listening_the_answer_is_immediate_and_nothing_written(
    settings: Settings, own_broker: EmbeddedServices
) -> None:
    """Once the topic watch finds no broker accepting connections, a request is not held
    for the produce deadline to end as "may have been written": it is refused at once
    as backend-unavailable (nothing was written), with Retry-After."""
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": own_broker.bootstrap_servers, "request_timeout_ms": 5000}
    )
    local = settings.model_copy(update={"kafka": kafka})
    await ensure_topics(local)
    async with client_for(local) as client:
        os.kill(own_broker.pids[0], signal.SIGKILL)
        own_broker.kill_kafka()
        answers = []
        for _ in range(40):  # the watch looks every 2 s
            began = asyncio.get_running_loop().time()
            resp = await client.post("/v1/channels/webform", json=FORM)
            took = asyncio.get_running_loop().time() - began
            answers.append((assert_problem(resp, 503)["type"], took))
            if answers[-1][0].endswith("/backend-unavailable") and took < 1.0:
                break
            await asyncio.sleep(0.25)
        kind, took = answers[-1]
        assert kind.endswith("/backend-unavailable"), answers
        assert took < 1.0, answers  # well inside the 5 s produce deadline
        assert resp.headers["retry-after"].isdigit()


async def test_redis_down_is_503_and_nothing_is_written(settings: Settings) -> None:
    dead = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    async with client_for(settings.model_copy(update={"redis": dead})) as client:
        with capture_logs() as logs:
            resp = await client.post("/v1/channels/webform", json=FORM)
        problem = assert_problem(resp, 503)
        assert resp.headers["retry-after"].isdigit()
        assert "redis" in problem["detail"]
    # the operator's side of it: one warning naming the backend
    [line] = [e for e in logs if e["event"] == "backend_unavailable"]
    assert (line["log_level"], line["backend"], line["path"]) == (
        "warning",
        "redis",
        "/v1/channels",
    )
    assert await read_topic(settings, Topic.INBOUND, expect=0, settle=0.3) == []


async def test_redis_down_while_looking_up_an_actions_ticket_is_503(settings: Settings) -> None:
    dead = RedisSettings(url=f"redis://127.0.0.1:{free_port()}/0", socket_timeout_s=0.5)
    local = settings.model_copy(update={"redis": dead, "api_tokens": SecretStr("t")})
    resolve = {"type": "ticket.resolved", "data": {"ticket_id": "T-1"}}
    async with client_for(local) as client:
        resp = await client.post("/v1/actions", json=resolve, headers={"Authorization": "Bearer t"})
        problem = assert_problem(resp, 503)
        assert resp.headers["retry-after"].isdigit()
        assert "redis" in problem["detail"]
    assert await read_topic(settings, Topic.ACTIONS, expect=0, settle=0.3) == []


async def test_ingress_serves_again_once_topics_exist_on_a_replaced_broker(
    settings: Settings, own_broker: EmbeddedServices
) -> None:
    """The broker comes back empty (a new cluster id) and ``topics ensure`` runs: the
    ingress, which holds nothing tied to the old broker, adopts the new cluster and
    serves again without a restart, and its ``/readyz`` turns ready."""
    kafka = settings.kafka.model_copy(
        update={"bootstrap_servers": own_broker.bootstrap_servers, "request_timeout_ms": 1000}
    )
    local = settings.model_copy(update={"kafka": kafka})
    await ensure_topics(local)
    async with client_for(local) as client:
        assert (await client.post("/v1/channels/webform", json=FORM)).status_code == 202
        os.kill(own_broker.pids[0], signal.SIGKILL)
        own_broker.kill_kafka()
        own_broker.start_kafka()
        for _ in range(40):  # the watch looks every 2 s: wait until it saw the new broker
            ready = await client.get("/readyz")
            if "topics missing" in ready.text:
                break
            await asyncio.sleep(0.25)
        assert "topics missing" in ready.text, ready.text
        await ensure_topics(local)
        for _ in range(60):
            resp = await client.post("/v1/channels/webform", json={**FORM, "message": "again"})
            if resp.status_code == 202:
                break
            assert "does not exist" in assert_problem(resp, 503)["detail"]
            await asyncio.sleep(0.5)
        assert resp.status_code == 202, resp.text
        assert resp.json()["duplicate"] is False
        assert (await client.get("/readyz")).status_code == 200
    records = values(await read_topic(local, Topic.INBOUND, expect=1))
    assert {r["id"] for r in records} == {resp.json()["id"]}
