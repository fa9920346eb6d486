"""The Kafka start-up check says why a broker could not be used and names the setting
that cause points at: aiokafka's bootstrap had reduced a CA that does not verify the
broker, a certificate for another name, a broker wanting a client certificate and a
refused SASL login all to "no Kafka broker answers (KafkaConnectionError)"."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from router.errors import ConfigError
from router.kafka_check import check_kafka
from router.settings import KafkaSettings, Settings
from tests.broker_stubs import certificate, sasl_broker, tls_listener

pytestmark = pytest.mark.component


async def refused(**kafka: object) -> ConfigError:
    settings = Settings(kafka=KafkaSettings(connect_timeout_s=5, **kafka))  # type: ignore[arg-type]
    with pytest.raises(ConfigError) as raised:
        await check_kafka(settings)
    return raised.value


async def test_a_broker_certificate_the_ca_does_not_verify_names_the_ca_file(
    tmp_path: Path,
) -> None:
    broker, broker_key = certificate(tmp_path, "broker", san="IP:127.0.0.1")
    other, _ = certificate(tmp_path, "other-ca", san="DNS:other")
    with tls_listener(broker, broker_key) as port:
        error = await refused(
            bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SSL", ssl_cafile=other
        )
    assert error.setting == "SWITCHBOARD_KAFKA_SSL_CAFILE"
    assert f"does not verify against {other}" in error.message
    assert "SSLCertVerificationError: [SSL: CERTIFICATE_VERIFY_FAILED]" in error.message


async def test_a_broker_certificate_for_another_name_names_the_bootstrap_servers(
    tmp_path: Path,
) -> None:
    broker, broker_key = certificate(tmp_path, "broker", san="DNS:kafka.internal")
    with tls_listener(broker, broker_key) as port:
        error = await refused(
            bootstrap_servers=f"127.0.0.1:{port}", security_protocol="SSL", ssl_cafile=broker
        )
    assert error.setting == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "is not valid for that name" in error.message
    assert "mismatch" in error.message


async def test_a_broker_wanting_a_client_certificate_names_the_certificate_setting(
    tmp_path: Path,
) -> None:
    broker, broker_key = certificate(tmp_path, "broker", san="IP:127.0.0.1")
    client, _ = certificate(tmp_path, "client", san="DNS:client")
    stranger, stranger_key = certificate(tmp_path, "stranger", san="DNS:stranger")
    servers = {"security_protocol": "SSL", "ssl_cafile": broker}
    with tls_listener(broker, broker_key, client_ca=client) as port:
        servers["bootstrap_servers"] = f"127.0.0.1:{port}"
        without = await refused(**servers)
        untrusted = await refused(**servers, ssl_certfile=stranger, ssl_keyfile=stranger_key)
    assert without.setting == "SWITCHBOARD_KAFKA_SSL_CERTFILE"
    assert "not set, and the broker at" in without.message
    assert "wants a client certificate" in without.message
    assert "CERTIFICATE_REQUIRED" in without.message
    assert untrusted.setting == "SWITCHBOARD_KAFKA_SSL_CERTFILE"
    assert f"refused {stranger}" in untrusted.message


async def test_a_refused_sasl_login_names_the_sasl_settings() -> None:
    async with sasl_broker(["PLAIN"], lambda _: (58, b"")) as port:
        error = await refused(
            bootstrap_servers=f"127.0.0.1:{port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_username="svc",
            sasl_password="hunter2",
        )
    assert error.setting == "SWITCHBOARD_KAFKA_SASL_PASSWORD"
    assert "refused the user 'svc'" in error.message
    assert "SWITCHBOARD_KAFKA_SASL_USERNAME" in error.message
    assert "SaslAuthenticationFailed" in error.message
    assert "hunter2" not in str(error)


async def test_a_sasl_mechanism_the_broker_does_not_offer_names_the_mechanism() -> None:
    async with sasl_broker(["PLAIN"], lambda _: (0, b"")) as port:
        error = await refused(
            bootstrap_servers=f"127.0.0.1:{port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username="svc",
            sasl_password="hunter2",
        )
    assert error.setting == "SWITCHBOARD_KAFKA_SASL_MECHANISM"
    assert "does not take SCRAM-SHA-512" in error.message
    assert "Enabled mechanisms are: ['PLAIN']" in error.message


async def test_a_scram_error_the_client_cannot_read_is_one_line() -> None:
    """A server-final message carrying ``e=`` instead of ``v=``: aiokafka raised
    ``KeyError: 'v'``, which its bootstrap passes on, and the command ended in a
    traceback."""

    def scram(sent: bytes) -> tuple[int, bytes]:
        if b"r=" in sent and b"p=" not in sent:  # the client's first message: its nonce
            nonce = sent.decode().rpartition("r=")[2]
            return 0, f"r={nonce}server,s={base64.b64encode(b'salt').decode()},i=4096".encode()
        return 0, b"e=invalid-proof"

    async with sasl_broker(["SCRAM-SHA-256"], scram) as port:
        error = await refused(
            bootstrap_servers=f"127.0.0.1:{port}",
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-256",
            sasl_username="svc",
            sasl_password="hunter2",
        )
    assert error.setting == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "(KeyError: 'v')" in error.message
    assert "SASL SCRAM-SHA-256 as 'svc'" in error.message
    assert "SWITCHBOARD_KAFKA_SASL_PASSWORD" in error.message
    assert "hunter2" not in str(error)


@pytest.mark.parametrize("code", [9, 10])  # not yet valid, expired
def test_a_broker_certificate_out_of_date_is_not_blamed_on_the_ca_file(code: int) -> None:
    """An expired broker certificate (or a clock behind) had been reported as the CA file
    not verifying the broker, sending the operator to the wrong setting."""
    import ssl

    from router.kafka_check import _unverified

    failed = ssl.SSLCertVerificationError(1, "certificate verify failed")
    failed.verify_code = code
    kafka = KafkaSettings(security_protocol="SSL", bootstrap_servers="kafka:9093")
    error = _unverified(kafka, failed)
    assert error.setting == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "is out of date" in error.message
    assert "renew the broker's certificate" in error.message
