"""The broker comes back empty (memory storage, or a wiped cluster): every consumer role
stops with one line naming ``switchboard topics ensure`` instead of waiting forever on
topics that are gone, and the ingress turns not-ready and refuses writes that nobody
could read back."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from router.topics import Topic
from tests.conftest import read_topic
from tests.faults.harness import (
    ChildServer,
    Deployment,
    RoleProcess,
    Scale,
    error_lines,
    line_text,
    wait_until,
)

pytestmark = pytest.mark.faults

ENSURE = "switchboard topics ensure"
CONSUMER_ROLES = ("router", "timers", "metrics")


def names_lost_topics(line: dict[str, Any]) -> bool:
    text = line_text(line)
    return ENSURE in text and "topic" in text.lower()


@pytest.mark.slow
async def test_roles_stop_and_ingress_refuses_when_the_broker_lost_its_topics(
    deployment: Deployment, broker: ChildServer, scale: Scale
) -> None:
    roles = {role: deployment.spawn(role) for role in CONSUMER_ROLES}
    ingress = deployment.spawn("ingress")
    await asyncio.gather(*(p.wait_ready(45) for p in [*roles.values(), ingress]))

    async with httpx.AsyncClient(base_url=ingress.url, timeout=15) as http:
        form = {"email": "ida@example.com", "message": "is anyone there?"}
        for n in range(scale.pick(1, 200)):  # large: the roles are mid-stream at the restart
            before = await http.post(
                "/v1/channels/webform", json={**form, "email": f"ida{n}@example.com"}
            )
            assert before.status_code == 202, before.text
        # the pipeline is live: the router turned it into ticket records
        assert await read_topic(deployment.settings(), Topic.TICKETS, expect=1, timeout=20)

        broker.restart_empty()
        restarted = time.monotonic()

        async def exit_of(process: RoleProcess) -> int | None:
            return await process.wait_exit(22)

        codes = await asyncio.gather(*(exit_of(p) for p in roles.values()))
        for (role, process), code in zip(roles.items(), codes, strict=True):
            assert code is not None, f"{role} still running 22 s after: {process.describe()}"
            assert code != 0, process.describe()
            said = [line for line in error_lines(process.log_lines()) if names_lost_topics(line)]
            assert len(said) == 1, f"{role}: one line naming `{ENSURE}`: {process.describe()}"
        assert time.monotonic() - restarted < 25

        async def not_ready() -> dict[str, str] | None:
            # 503 naming the topics; before that, while the broker restarts, it may say
            # the broker is not answering (a loaded machine restarts it slowly)
            resp = await ingress.readyz()
            checks: dict[str, str] = resp.json()["checks"]
            named = any("topic" in f"{name} {state}".lower() for name, state in checks.items())
            return checks if resp.status_code == 503 and named else None

        await wait_until(not_ready, 20, "ingress /readyz turning 503, naming the topics")

        after = await http.post("/v1/channels/webform", json={**form, "message": "hello again"})
        assert after.status_code == 503, after.text
        assert after.headers["content-type"] == "application/problem+json"
        assert after.headers.get("retry-after", "").isdigit()
    assert ingress.returncode is None, "the ingress stays up and says why it is not ready"
