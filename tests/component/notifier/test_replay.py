"""A notification the SMTP server refused for good is dead-lettered; once the server takes
mail again, ``deadletter replay`` sends the record back to ``tickets`` for the notifier,
which delivers it once, while the metrics role, which counted the record the first time,
skips the copy."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from router.app.replay import Choice, replay
from router.settings import Settings
from router.topics import Topic
from tests.component.notifier.servers import smtp_server
from tests.component.notifier.test_outage import notifier_settings, until
from tests.component.pipeline.conftest import run_switchboard
from tests.conftest import read_topic

pytestmark = pytest.mark.component

ROLES = frozenset({"ingress", "router", "metrics", "notifier"})


@pytest.mark.slow
async def test_a_replayed_notification_is_delivered_once_and_counted_once(
    settings: Settings, tmp_path: Path
) -> None:
    with smtp_server() as (mailbox, smtp_url):
        configured = notifier_settings(settings, tmp_path, smtp_url)
        mailbox.down = "550 5.7.1 relaying denied"
        async with run_switchboard(configured, ROLES) as sb:
            resp = await sb.http.post(
                "/v1/channels/webform", json={"email": "ada@example.com", "message": "hello"}
            )
            assert resp.status_code == 202, resp.text
            [dead] = await read_topic(configured, Topic.DEADLETTER, expect=1, timeout=20)
            assert dict(dead.headers)["dlq.consumer"] == b"notifier"
            assert dict(dead.headers)["dlq.delivery"]  # the delivery that failed
            assert mailbox.messages == []

            mailbox.down = None  # the relay is allowed now
            done = await replay(configured, Choice(consumer="notifier"))
            assert done.total_sent == 1
            await until(lambda: len(mailbox.messages) >= 1, 10, "never sent after the replay")
            again = await replay(configured, Choice())
            assert (again.total_sent, again.skipped[dead_from(dead)]["replayed before"]) == (0, 1)
            await asyncio.sleep(1.5)  # a duplicate would arrive now
            scraped = (await sb.http.get("/metrics")).text

    assert [str(m["To"]) for m in mailbox.messages] == ["ada@example.com"]
    skipped = 'switchboard_consumer_records_total{consumer="metrics",outcome="skipped"} 1.0'
    assert skipped in scraped


def dead_from(record: object) -> tuple[str, str]:
    headers = dict(record.headers)  # type: ignore[attr-defined]
    return headers["dlq.topic"].decode(), headers["dlq.consumer"].decode()
