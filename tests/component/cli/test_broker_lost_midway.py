"""A broker lost after the tools' start-up check, part way through reading a topic: one
line naming the setting, exit 1, as any other backend failure; it had been a traceback
(``KafkaConnectionError``) and an unclosed consumer."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaConnectionError
from typer.testing import CliRunner

from router.app import cli, tools_cli
from router.app.console import run_until_signal
from router.app.embedded import EmbeddedServices
from router.errors import BackendUnavailable
from router.topic_admin import ensure_topics
from tests.conftest import make_settings, settings_env

pytestmark = pytest.mark.component


@pytest.mark.parametrize(
    "command",
    [
        ["export", "inbound", "--from", "2026-11-22", "--to", "2026-11-22"],
        ["report", "--from", "2026-11-22", "--to", "2026-11-22"],
    ],
    ids=["export", "report"],
)
def test_a_broker_lost_part_way_is_one_line_and_exit_1(
    services: EmbeddedServices,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    command: list[str],
) -> None:
    settings = make_settings(services, f"t{os.getpid()}lost{len(command)}")
    asyncio.run(ensure_topics(settings))

    async def lost(*_: Any, **__: Any) -> Any:
        raise KafkaConnectionError("Unable connect to node with id 1")

    monkeypatch.setattr(AIOKafkaConsumer, "getmany", lost)
    # the runner's stderr is closed after the command: loggers bound to it would fail later
    monkeypatch.setattr(tools_cli, "configure_logging", lambda *_: None)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli.app, [*command, "--out", str(out)], env=settings_env(settings, COLUMNS="200")
    )

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = [x for x in result.output.splitlines() if x.startswith("error:")]
    assert line.startswith("error: SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS: kafka: ")
    assert line.endswith("run it again")
    assert not out.exists()


def test_a_role_losing_a_backend_is_not_told_to_run_it_again() -> None:
    """The one line is the tools' (a run part way, to be run again): a role's loss stops
    it as before, with its own lines, not a tool's advice."""

    async def role(stop: asyncio.Event) -> None:
        del stop
        raise BackendUnavailable("redis", "Connection refused")

    with pytest.raises(BackendUnavailable):
        run_until_signal(role)
    with pytest.raises(typer.Exit) as done:
        run_until_signal(role, tool=True)
    assert done.value.exit_code == 1
