from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from router.errors import ConfigError
from router.kafka import client_options
from router.redis import check_redis
from router.settings import KafkaSettings, RedisSettings, Settings, load_settings

pytestmark = pytest.mark.unit


def test_flat_contract_names_fill_nested_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", "k1:9092,k2:9092")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_USERNAME", "svc")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "hunter2")
    monkeypatch.setenv("SWITCHBOARD_TOPIC_PREFIX", "acme")
    s = load_settings()
    assert s.kafka.bootstrap_servers == "k1:9092,k2:9092"
    assert s.redis.url == "redis://cache:6379/2"
    assert s.topic_prefix == "acme"
    assert "hunter2" not in repr(s)
    assert s.kafka.sasl_password is not None
    assert s.kafka.sasl_password.get_secret_value() == "hunter2"


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2@cache:6379/0",
        "rediss://app:hunter2@cache:6380/0?ssl_password=hunter2",
        "unix:///run/valkey.sock?password=hunter2",
        "rediss://hunter2@cache:6380/0",
    ],
)
def test_the_redis_password_is_not_in_the_settings_repr(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """As the other secrets are not (SecretStr): a settings object logged or shown in a
    traceback's locals had carried it."""
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", url)
    s = load_settings()
    assert s.redis.url == url  # read as before
    assert "hunter2" not in repr(s)
    assert "hunter2" not in str(s)
    assert "hunter2" not in repr(s.redis)


def test_defaults_are_the_documented_ones() -> None:
    s = Settings()
    assert s.topic_prefix == "switchboard"
    assert s.kafka.bootstrap_servers is None
    assert s.log_format == "json"
    assert s.http_port == 8080


def test_bad_value_names_its_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_HTTP_PORT", "not-a-port")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_HTTP_PORT"


def test_nested_bad_value_names_the_flat_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_FETCH_MAX_WAIT_MS", "-5")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_KAFKA_FETCH_MAX_WAIT_MS"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.com", "expected smtp://"),
        ("smtp://", "expected smtp://"),
        ("smtp://mail.example.com:port", "the port is not a number"),
    ],
)
def test_a_bad_smtp_url_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    """Before any role starts (not when the notifier first sends), naming the setting."""
    monkeypatch.setenv("SWITCHBOARD_SMTP_URL", url)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_SMTP_URL"
    assert info.value.message.startswith(says)  # without pydantic's "Value error, "


@pytest.mark.parametrize(
    "url",
    [
        "smtp://u:s3cr#t@mail.example:587",
        "smtp://apikey:12345#ab@smtp.example.com:587",
        "smtps://u:pa?ss@mail.example",
        "smtp://u:pa/ss@mail.example",
        "smtp://us#er:pw@mail.example",
    ],
)
def test_a_password_that_ends_the_host_part_is_refused_without_echoing_it(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    """``#``, ``?`` or ``/`` unencoded in a password ends the URL's host part: the rest
    had been read as a fragment, a query or a path, so the URL said "the port is not a
    number", or named the user as the host and part of the password as the port."""
    monkeypatch.setenv("SWITCHBOARD_SMTP_URL", url)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_SMTP_URL"
    said = str(info.value)
    assert "percent-encode" in said
    assert "'#' as %23" in said
    for secret in ("s3cr", "12345", "#ab", "pa?ss", "pa/ss", "us#er", "pw"):
        assert secret not in said, said


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.topic_prefix = "other"  # type: ignore[misc]


def test_api_tokens_are_a_comma_separated_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_TOKENS", "a, b,,c")
    assert load_settings().tokens() == {"a", "b", "c"}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("makes its certificate with the openssl command, which is not on PATH")
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", "/CN=x"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_kafka_tls_files_that_cannot_be_used_name_their_setting(tmp_path: Path) -> None:
    """One line naming the setting, not a traceback ending in FileNotFoundError; and a
    PEM holding certificate and key together needs no key file."""
    cert, key = _self_signed(tmp_path)
    both = tmp_path / "both.pem"
    both.write_bytes(cert.read_bytes() + key.read_bytes())

    def kafka(**files: Path) -> KafkaSettings:
        return KafkaSettings(bootstrap_servers="k:9093", security_protocol="SSL", **files)

    assert "ssl_context" in client_options(kafka(ssl_certfile=both))
    assert "ssl_context" in client_options(kafka(ssl_certfile=cert, ssl_keyfile=key))
    cases = {
        "SWITCHBOARD_KAFKA_SSL_CAFILE": kafka(ssl_cafile=tmp_path / "none.pem"),
        "SWITCHBOARD_KAFKA_SSL_KEYFILE": kafka(ssl_certfile=cert, ssl_keyfile=tmp_path / "x"),
        "SWITCHBOARD_KAFKA_SSL_CERTFILE": kafka(ssl_certfile=cert),  # its key is elsewhere
    }
    for setting, settings in cases.items():
        with pytest.raises(ConfigError) as raised:
            client_options(settings)
        assert raised.value.setting == setting


def _encrypted_key(tmp_path: Path, pass_phrase: str) -> tuple[Path, Path]:
    """A certificate and its key encrypted with ``pass_phrase`` (AES-256)."""
    cert, key = _self_signed(tmp_path)
    encrypted = tmp_path / "encrypted.pem"
    subprocess.run(
        ["openssl", "pkey", "-in", str(key), "-out", str(encrypted), "-aes256",
         "-passout", f"pass:{pass_phrase}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, encrypted


def test_an_encrypted_kafka_key_is_opened_with_its_pass_phrase(tmp_path: Path) -> None:
    """OpenSSL had asked the terminal for the pass phrase (and waited, once per client
    built), or without one failed with "Invalid argument" blamed on the certificate."""
    cert, key = _encrypted_key(tmp_path, "s3cret phrase")

    def kafka(password: str | None) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers="k:9093",
            security_protocol="SSL",
            ssl_certfile=cert,
            ssl_keyfile=key,
            ssl_password=password,  # type: ignore[arg-type]
        )

    assert "ssl_context" in client_options(kafka("s3cret phrase"))
    cases = ((None, "is encrypted"), ("n0t-it", "does not decrypt"), ("x" * 2000, "longer"))
    for password, says in cases:
        with pytest.raises(ConfigError) as raised:
            client_options(kafka(password))
        assert raised.value.setting == "SWITCHBOARD_KAFKA_SSL_PASSWORD"
        assert says in raised.value.message
        assert str(key) in raised.value.message
        assert "n0t-it" not in raised.value.message


async def test_an_encrypted_redis_key_is_opened_with_the_urls_ssl_password(
    tmp_path: Path,
) -> None:
    """The pass phrase redis-py opens the key with (``?ssl_password=``) opens it in the
    start-up check too, which had failed on the key instead, or waited on the terminal."""
    cert, key = _encrypted_key(tmp_path, "s3cret&phrase")

    def redis(url: str) -> Settings:
        return Settings(redis=RedisSettings(url=url, ssl_certfile=cert, ssl_keyfile=key))

    with pytest.raises(ConfigError, match="no Redis answers") as raised:  # the key opened
        await check_redis(redis("rediss://127.0.0.1:1/0?ssl_password=s3cret%26phrase"))
    assert "s3cret" not in str(raised.value)
    with pytest.raises(ConfigError) as raised:
        await check_redis(redis("rediss://127.0.0.1:1/0"))
    assert raised.value.setting == "SWITCHBOARD_REDIS_URL"
    assert "is encrypted" in raised.value.message
    assert "?ssl_password=" in raised.value.message
    with pytest.raises(ConfigError) as raised:
        await check_redis(redis("rediss://127.0.0.1:1/0?ssl_password=n0t-it"))
    assert raised.value.setting == "SWITCHBOARD_REDIS_URL"
    assert "does not decrypt" in raised.value.message
    assert "n0t-it" not in raised.value.message
    with pytest.raises(ConfigError) as raised:  # the cluster client takes no pass phrase
        await check_redis(redis("rediss+cluster://127.0.0.1:1"))
    assert raised.value.setting == "SWITCHBOARD_REDIS_SSL_KEYFILE"
    assert "is encrypted" in raised.value.message


def test_a_key_pass_phrase_without_use_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kafka's with no TLS or no client certificate, Redis's on a cluster URL (the
    cluster client had stopped the start with a TypeError)."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SSL_PASSWORD", "s3cret")
    for protocol, says in (("PLAINTEXT", "no TLS"), ("SSL", "needs SWITCHBOARD_KAFKA_SSL_CERT")):
        monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", protocol)
        with pytest.raises(ConfigError) as raised:
            load_settings()
        assert raised.value.setting == "SWITCHBOARD_KAFKA_SSL_PASSWORD"
        assert says in raised.value.message
        assert "s3cret" not in str(raised.value)
    monkeypatch.delenv("SWITCHBOARD_KAFKA_SSL_PASSWORD")
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "rediss+cluster://n1:7000?ssl_password=s3cret")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert raised.value.setting == "SWITCHBOARD_REDIS_URL"
    assert "cluster client takes no pass phrase" in raised.value.message


BLANK_IS_UNSET = [
    "SWITCHBOARD_SMTP_URL",
    "SWITCHBOARD_SMTP_FROM",
    "SWITCHBOARD_TWILIO_AUTH_TOKEN",
    "SWITCHBOARD_TWILIO_ACCOUNT_SID",
    "SWITCHBOARD_TWILIO_FROM",
    "SWITCHBOARD_META_APP_SECRET",
    "SWITCHBOARD_META_VERIFY_TOKEN",
    "SWITCHBOARD_API_TOKENS",
    "SWITCHBOARD_CHAT_SECRET",
    "SWITCHBOARD_PUBLIC_URL",
    "SWITCHBOARD_TEMPLATES_PATH",
    "SWITCHBOARD_HTTP_PORT",
    "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS",
    "SWITCHBOARD_KAFKA_SASL_USERNAME",
    "SWITCHBOARD_KAFKA_SASL_PASSWORD",
    "SWITCHBOARD_KAFKA_SSL_CAFILE",
    "SWITCHBOARD_KAFKA_SSL_PASSWORD",
    "SWITCHBOARD_REDIS_URL",
    "SWITCHBOARD_REDIS_SSL_CA_CERTS",
]


@pytest.mark.parametrize("blank", ["", "  "])
def test_a_blank_value_is_unset(monkeypatch: pytest.MonkeyPatch, blank: str) -> None:
    """``VAR=`` in a compose file, ``""`` in the example Secret: the default, as
    documented, never an empty secret anyone knows or an empty path meaning ``.``."""
    for name in BLANK_IS_UNSET:
        monkeypatch.setenv(name, blank)
    assert load_settings() == Settings()


def test_blank_sasl_credentials_are_missing_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_USERNAME", "")
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SASL_PASSWORD", "x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert info.value.setting == "SWITCHBOARD_KAFKA_SASL_USERNAME"


async def test_redis_tls_files_that_cannot_be_used_name_their_setting(tmp_path: Path) -> None:
    """As on the Kafka side: the setting of the file and why, not a connection error
    blamed on SWITCHBOARD_REDIS_URL."""
    cert, key = _self_signed(tmp_path)

    def redis(**files: Path) -> Settings:
        return Settings(redis=RedisSettings(url="rediss://127.0.0.1:1/0", **files))

    cases = {
        "SWITCHBOARD_REDIS_SSL_CA_CERTS": redis(ssl_ca_certs=Path("/nonexistent/ca.pem")),
        "SWITCHBOARD_REDIS_SSL_KEYFILE": redis(ssl_certfile=cert, ssl_keyfile=tmp_path / "x"),
        "SWITCHBOARD_REDIS_SSL_CERTFILE": redis(ssl_certfile=tmp_path / "none.pem"),
    }
    for setting, settings in cases.items():
        with pytest.raises(ConfigError) as raised:
            await check_redis(settings)
        assert raised.value.setting == setting
        assert "cannot use" in raised.value.message
    with pytest.raises(ConfigError, match="No such file or directory"):
        await check_redis(cases["SWITCHBOARD_REDIS_SSL_CA_CERTS"])
    with pytest.raises(ConfigError, match="no Redis answers") as raised:  # files fine
        await check_redis(redis(ssl_certfile=cert, ssl_keyfile=key))
    assert raised.value.setting == "SWITCHBOARD_REDIS_URL"


@pytest.mark.parametrize(
    "servers",
    [
        "127.0.0.1:notaport",
        "127.0.0.1:",
        "127.0.0.1:32995,:x",
        "k1:70000",
        # read by the client as a host 'PLAINTEXT', or as one odd host name each, and
        # then blamed on a broker not answering at an address where one listens
        "PLAINTEXT://127.0.0.1:9092",
        "kafka://k1:9092",
        "k1:9092;k2:9092",
        "k1 9092",
    ],
)
def test_a_bootstrap_list_that_is_no_host_port_list_is_one_line(
    monkeypatch: pytest.MonkeyPatch, servers: str
) -> None:
    """The Kafka client had raised ValueError from deep inside every command: a traceback."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", servers)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "is not host:port" in caught.value.message


def test_credentials_in_a_bootstrap_entry_are_refused_and_never_repeated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", "user:hunter2@k1:9092")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS"
    assert "hunter2" not in str(caught.value)
    assert "SASL" in caught.value.message


@pytest.mark.parametrize(
    ("prefix", "other"), [("SWITCHBOARD_KAFKA_", "SECURITY_PROTOCOL"), ("SWITCHBOARD_REDIS_", "")]
)
def test_a_client_key_without_its_certificate_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, prefix: str, other: str
) -> None:
    """Mutual TLS set up halfway: the key had been dropped without a word (Kafka) or the
    failure blamed on the URL (Redis)."""
    key = tmp_path / "client.key"
    key.write_text("key", encoding="utf-8")
    if other:
        monkeypatch.setenv(prefix + other, "SSL")
    else:
        monkeypatch.setenv("SWITCHBOARD_REDIS_URL", "rediss://cache:6380/0")
    monkeypatch.setenv(prefix + "SSL_KEYFILE", str(key))
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == prefix + "SSL_KEYFILE"
    assert prefix + "SSL_CERTFILE" in caught.value.message


@pytest.mark.parametrize("servers", ["k1:9092,k2:9092", "localhost", "[::1]:9092", "k1"])
def test_every_form_the_kafka_client_reads_is_accepted(
    monkeypatch: pytest.MonkeyPatch, servers: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS", servers)
    assert load_settings().kafka.bootstrap_servers == servers


def test_a_nested_group_set_as_one_variable_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA", "foo")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_KAFKA"


def test_the_embedded_broker_gets_a_short_session_unless_one_was_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Roles on the embedded broker join in about 2 s instead of 5 (``dev``, ``bench``);
    an operator's own session timeout is kept."""
    from router.app.embedded import EMBEDDED_SESSION_TIMEOUT_MS, on_embedded_broker

    default = on_embedded_broker(Settings().kafka, "127.0.0.1:9")
    assert default.bootstrap_servers == "127.0.0.1:9"
    assert (
        default.session_timeout_ms
        == EMBEDDED_SESSION_TIMEOUT_MS
        < Settings().kafka.session_timeout_ms
    )
    monkeypatch.setenv("SWITCHBOARD_KAFKA_SESSION_TIMEOUT_MS", "30000")
    assert on_embedded_broker(Settings().kafka, "127.0.0.1:9").session_timeout_ms == 30000


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("hooks.example.com", "not an http(s) URL"),
        ("https://hooks.example.com/v1/channels/sms", "the base URL only"),
        ("https://hooks.example.com/?x=1", "no query"),
    ],
)
def test_a_public_url_twilio_signatures_could_never_match_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    """Each of these had been accepted, and then every Twilio webhook was a 401."""
    monkeypatch.setenv("SWITCHBOARD_PUBLIC_URL", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_PUBLIC_URL"
    assert says in str(caught.value)


def test_a_public_url_may_carry_a_port_and_a_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_PUBLIC_URL", " https://gw.example.com:8443/switchboard/ ")
    assert Settings().public_url == "https://gw.example.com:8443/switchboard/"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis://[::1:6379/0", "not a URL (Invalid IPv6 URL)"),
        ("redis://:s3cret@[::1:6379/0", "not a URL (Invalid IPv6 URL)"),
        ("http://cache:6379/0", "the scheme must be one of redis://, rediss://"),
        ("notaurl", "found none"),
        ("redis://cache:port/0", "a port that is no number from 1 to 65535"),
        ("redis://cache:70000/0", "a port that is no number from 1 to 65535"),
        ("rediss://:s3cret@/0", "no host"),
        ("unix://", "needs the socket's path"),
        # the client had read these as database 0, 12 and 1: another database
        ("redis://cache:6379/abc", "the path names no database"),
        ("redis://:s3cret@cache:6379/1/2", "the path names no database"),
        ("redis+cluster://node-1:7000/1", "a cluster has database 0 only"),
        ("redis+cluster://:s3cret@node-1:7000,node-2", "a node of the list is not host:port"),
        ("redis://cache:6379/1?db=3", "not ?db="),  # the option had overridden the path
        ("redis://cache:6379/\u0663", "the path names no database"),  # an Arabic-Indic 3
        # a TLS option on a plain URL had been a TypeError traceback at start
        ("redis://cache:6379/0?ssl_cert_reqs=none", "use rediss://"),
    ],
)
def test_a_redis_url_the_client_cannot_read_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    """``redis://[::1:6379/0`` had been a ValueError traceback from ``check_redis``; the
    line names the accepted schemes and never repeats the URL (its password)."""
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_REDIS_URL"
    assert says in caught.value.message
    assert "s3cret" not in caught.value.message
    if "scheme" in says:
        assert "unix://" in caught.value.message
        assert "found http://" in caught.value.message or url == "notaurl"


@pytest.mark.parametrize(
    "url",
    [
        "redis://cache:6379/2",
        "redis://cache",
        "rediss://:pw@cache.example.com:6380/0",
        "redis://[::1]:6379/0",
        "redis+cluster://node-1:7000",
        "rediss+cluster://user:pw@node-1:7000",
        "unix:///var/run/redis.sock?db=1",
        "redis://cache:6379/",
        "rediss://cache:6380/0?ssl_cert_reqs=none",
        "redis+cluster://node-1:7000,node-2:7000,[::1]:7001",
        "redis+cluster://node-1:7000 , node-2:7000",
        "rediss+cluster://node-1:7000,node-2:7000?ssl_cert_reqs=none",
        "rediss+cluster://user:pw@node-1:7000,node-2:7000",
    ],
)
def test_every_redis_url_the_client_reads_is_accepted(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_REDIS_URL", url)
    assert load_settings().redis.url == url


async def test_check_redis_on_an_unchecked_unreadable_url_is_one_line() -> None:
    """Settings built without validation must not bring the traceback back."""
    redis = RedisSettings.model_construct(url="redis://:s3cret@[::1:6379/0", socket_timeout_s=1)
    with pytest.raises(ConfigError) as caught:
        await check_redis(Settings(redis=redis))
    assert caught.value.setting == "SWITCHBOARD_REDIS_URL"
    assert "s3cret" not in caught.value.message


@pytest.mark.parametrize("value", ["-5", "0", "-2"])
def test_a_retention_that_is_neither_unlimited_nor_positive_is_refused(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """It had been written to every topic as retention.ms."""
    monkeypatch.setenv("SWITCHBOARD_KAFKA_RETENTION_MS", value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.setting == "SWITCHBOARD_KAFKA_RETENTION_MS"
    assert "-1 (no time limit) or a positive number" in caught.value.message


@pytest.mark.parametrize("value", ["-1", "1", "86400000"])
def test_an_unlimited_or_positive_retention_is_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("SWITCHBOARD_KAFKA_RETENTION_MS", value)
    assert load_settings().kafka.retention_ms == int(value)


@pytest.mark.parametrize("sender", ["Acme, Inc. Support <support@acme.test>", "Support Team"])
def test_a_from_address_that_is_not_one_mailbox_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, sender: str
) -> None:
    """It had sent a From of two mailboxes (a comma outside quotes), or MAIL FROM
    ``<Support Team>``, with a Message-ID on no domain."""
    monkeypatch.setenv("SWITCHBOARD_SMTP_FROM", sender)
    with pytest.raises(ConfigError, match=r"SWITCHBOARD_SMTP_FROM.*is not one address"):
        load_settings()
    monkeypatch.setenv("SWITCHBOARD_SMTP_FROM", '"Acme, Inc." <support@acme.test>')
    assert load_settings().smtp_from == '"Acme, Inc." <support@acme.test>'


def test_a_twilio_number_given_with_its_whatsapp_prefix_is_the_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SWITCHBOARD_TWILIO_FROM", "whatsapp:+15550000000")
    assert load_settings().twilio_from == "+15550000000"
