"""The start-up checks name what to fix: the security protocol when a broker does not
answer in it, a password a Redis wants, the cause when it is more than a refusal, and a
blank setting is no setting at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from router.app.embedded import EmbeddedServices
from router.errors import ConfigError
from router.kafka_check import check_kafka
from router.redis import check_redis
from router.settings import KafkaSettings, RedisSettings, Settings
from tests.component.cli.test_processes import clean_env, switchboard

pytestmark = pytest.mark.component


@pytest.mark.parametrize(
    ("protocol", "setting"),
    [
        ("SSL", "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"),  # the handshake waits: a timeout
        # the embedded broker answers the SASL handshake: no mechanism of its own
        ("SASL_PLAINTEXT", "SWITCHBOARD_KAFKA_SASL_MECHANISM"),
    ],
)
async def test_a_broker_not_speaking_the_protocol_names_the_protocol(
    services: EmbeddedServices, protocol: str, setting: str
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=services.bootstrap_servers,
        security_protocol=protocol,
        sasl_username="u",
        sasl_password="p",
        connect_timeout_s=2,
    )
    with pytest.raises(ConfigError) as raised:
        await check_kafka(Settings(kafka=kafka))
    assert raised.value.setting == setting
    assert f"SWITCHBOARD_KAFKA_SECURITY_PROTOCOL={protocol}" in raised.value.message
    assert "listener speaks it" in raised.value.message


@pytest.fixture
async def password_wanted() -> AsyncIterator[str]:
    """A server that answers every command as a Redis with ``requirepass`` does."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            writer.write(b"-NOAUTH Authentication required.\r\n" * max(data.count(b"*"), 1))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()


async def test_a_redis_wanting_a_password_the_url_lacks_says_so(password_wanted: str) -> None:
    with pytest.raises(ConfigError) as raised:
        await check_redis(Settings(redis=RedisSettings(url=password_wanted)))
    assert "requires a password: put it in SWITCHBOARD_REDIS_URL" in raised.value.message
    assert "refused the user or password" not in raised.value.message


@pytest.fixture
async def credentials_refused() -> AsyncIterator[str]:
    """A server that refuses every login, as a Redis with ACL users does a wrong one."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(4096):
            refusal = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n"
            writer.write(refusal * max(data.count(b"*"), 1))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.close()


async def test_a_password_without_its_colon_is_neither_shown_nor_taken_for_none(
    credentials_refused: str,
) -> None:
    """``redis://S3cret@host``: redis-py logs in with the user ``S3cret`` and no password.
    The line had shown it in clear and said the URL lacked a password."""
    url = credentials_refused.replace("redis://", "redis://S3cretPassw0rd@", 1)
    with pytest.raises(ConfigError) as raised:
        await check_redis(Settings(redis=RedisSettings(url=url)))
    assert "S3cretPassw0rd" not in str(raised.value)
    assert "redis://***@127.0.0.1:" in raised.value.message
    assert "read as a user name" in raised.value.message
    assert ":PASSWORD@" in raised.value.message


async def test_a_tls_url_for_a_plain_redis_shows_the_cause(password_wanted: str) -> None:
    """The server answers in plain text: the TLS handshake's own words, not just a type."""
    url = password_wanted.replace("redis://", "rediss://:hunter2@", 1)
    with pytest.raises(ConfigError) as raised:
        await check_redis(Settings(redis=RedisSettings(url=url)))
    shown = url.replace("hunter2", "***")
    assert raised.value.message.startswith(f"no Redis answers at {shown} (ConnectionError: ")
    assert "SSL" in raised.value.message
    assert "hunter2" not in raised.value.message


def test_a_blank_smtp_url_stops_no_command(services: EmbeddedServices) -> None:
    """The example Secret ships it empty: ``topics ensure`` runs, as if it were unset."""
    env = clean_env(
        SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS=services.bootstrap_servers,
        SWITCHBOARD_TOPIC_PREFIX="blanksmtp",
        SWITCHBOARD_SMTP_URL="",
        SWITCHBOARD_TWILIO_AUTH_TOKEN="",
        SWITCHBOARD_META_APP_SECRET=" ",
    )
    result = switchboard("topics", "ensure", env=env)
    assert result.returncode == 0, result.stderr
    assert "startup_failed" not in result.stderr
