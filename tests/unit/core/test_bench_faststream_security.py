"""The bench's FastStream passthrough reaches the broker as every client does: with the
security protocol, TLS context and SASL login of the settings. Its broker had been built
without them, so against a TLS or SASL listener it spoke PLAINTEXT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from router.app.bench import fs_passthrough
from router.settings import KafkaSettings, Settings
from tests.broker_stubs import certificate

pytestmark = pytest.mark.unit
pytest.importorskip("faststream.kafka")


class Built(Exception):
    """Raised by the stand-in broker's start: what it was built with is all we need."""


async def broker_options(monkeypatch: pytest.MonkeyPatch, kafka: KafkaSettings) -> dict[str, Any]:
    """What ``faststream_passthrough`` hands FastStream's KafkaBroker, as aiokafka options."""
    import faststream.kafka
    from faststream.kafka.security import parse_security

    built: dict[str, Any] = {}

    class Broker:
        def __init__(self, servers: str, **options: Any) -> None:
            built.update(options, servers=servers)

        def subscriber(self, _topic: str, **_options: Any) -> Any:
            return lambda handler: handler

        async def start(self) -> None:
            raise Built

    monkeypatch.setattr(faststream.kafka, "KafkaBroker", Broker)
    with pytest.raises(Built):
        await fs_passthrough.faststream_passthrough(Settings(kafka=kafka), "in", "out", 1)
    return parse_security(built.get("security"))


@pytest.mark.parametrize(
    ("protocol", "mechanism"),
    [("SSL", None), ("SASL_SSL", "SCRAM-SHA-512"), ("SASL_PLAINTEXT", "PLAIN")],
)
async def test_the_faststream_broker_gets_the_security_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, protocol: str, mechanism: str | None
) -> None:
    ca, _ = certificate(tmp_path, "ca", san="DNS:kafka")
    sasl = {"sasl_mechanism": mechanism, "sasl_username": "svc", "sasl_password": "pw"}
    kafka = KafkaSettings(
        bootstrap_servers="kafka:9093",
        security_protocol=protocol,  # type: ignore[arg-type]
        ssl_cafile=ca if "SSL" in protocol else None,
        **(sasl if mechanism else {}),  # type: ignore[arg-type]
    )
    options = await broker_options(monkeypatch, kafka)
    assert options["security_protocol"] == protocol
    assert (options["ssl_context"] is not None) == ("SSL" in protocol)
    if mechanism:
        assert options["sasl_mechanism"] == mechanism
        assert options["sasl_plain_username"] == "svc"
        assert options["sasl_plain_password"] == "pw"


async def test_plaintext_stays_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    options = await broker_options(monkeypatch, KafkaSettings(bootstrap_servers="kafka:9092"))
    assert options == {}
