"""An embedded server that exits under ``dev`` is named, with its exit code or signal."""

from __future__ import annotations

import pytest

from router.app.embedded import Exited

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("exited", "said"),
    [
        (Exited("redis", -9), "the embedded Redis server (valkey) exited (killed by SIGKILL)"),
        (Exited("kafka", 3), "the embedded Kafka broker (Tansu) exited (exit code 3)"),
        (Exited("kafka", -99), "the embedded Kafka broker (Tansu) exited (killed by signal 99)"),
    ],
)
def test_an_embedded_server_that_exits_is_named_with_how(exited: Exited, said: str) -> None:
    assert str(exited) == said
