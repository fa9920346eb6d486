"""Frozen, validated settings read once from ``SWITCHBOARD_*`` environment variables.

Kafka and Redis are nested models, yet keep the flat names the contract promises:
``SWITCHBOARD_KAFKA_BOOTSTRAP_SERVERS`` is ``settings.kafka.bootstrap_servers``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from email.utils import getaddresses
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlsplit

from aiokafka.conn import get_ip_port_afi
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from router.errors import ConfigError
from router.keys import DEFAULT_SHARDS
from router.limits import Limits
from router.smtp_url import SMTP_DATA_TIMEOUT_MAX_S, SMTP_DATA_TIMEOUT_S, smtp_server

ENV_PREFIX = "SWITCHBOARD_"
DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "rules" / "examples"
SecretChannel = Literal["chat", "voice", "email", "sms", "whatsapp", "messenger"]
SECRET_CHANNELS: tuple[SecretChannel, ...] = (
    "chat",
    "voice",
    "email",
    "sms",
    "whatsapp",
    "messenger",
)
SECRET_FIELDS: dict[SecretChannel, str] = {
    "chat": "chat_secret",
    "voice": "voice_secret",
    "email": "email_secret",
    "sms": "twilio_auth_token",
    "whatsapp": "twilio_auth_token",
    "messenger": "meta_app_secret",
}
"""The setting that authenticates each channel's requests; unset, anyone may post as
anyone (Twilio's and Meta's webhooks are then not verified)."""
SECRET_SETTINGS = {channel: ENV_PREFIX + name.upper() for channel, name in SECRET_FIELDS.items()}
"""The same settings by their environment names."""
MIN_TEXT_BYTES = 1024
#: The smallest record size that leaves room for the smallest text (``_text_fits``):
#: a quarter of it holds twice the text (text and quoted text) plus 16 KiB of envelope.
MIN_RECORD_BYTES = 4 * (2 * MIN_TEXT_BYTES + 16 * 1024)
KAFKA_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
REDIS_TLS_SCHEMES = ("rediss", "rediss+cluster")
REDIS_SCHEMES = ("redis", *REDIS_TLS_SCHEMES, "redis+cluster", "unix")
"""The URL schemes ``SWITCHBOARD_REDIS_URL`` may have (``router.redis.make_client``)."""
REDIS_URL_FORM = "redis://[:PASSWORD@]host[:port][/db]"
REDIS_DB = re.compile(r"/?|/[0-9]+")
NOT_HOST_PORT = re.compile(r"://|[;/\s]")
"""What no Kafka bootstrap entry holds: a scheme or listener name, a path, a ``;`` list,
spaces."""


def _without_blanks(data: Any) -> Any:
    """Every blank value (empty or whitespace: ``VAR=`` in a compose file, ``""`` in a
    Kubernetes Secret) dropped, so the setting takes its default, as if unset. No setting
    gives a blank value a meaning of its own, and some would give it a dangerous one: an
    empty secret is a key anyone knows, an empty path is the working directory."""
    if not isinstance(data, dict):
        return data
    return {key: value for key, value in data.items() if not _blank(value)}


def _blank(value: object) -> bool:
    shown = value.get_secret_value() if isinstance(value, SecretStr) else value
    return isinstance(shown, str) and not shown.strip()


Scope = Literal["read", "actions"]
"""What a bearer token may do: read (the read API) or post actions."""


class KafkaSettings(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)  # no timeout of inf

    bootstrap_servers: str | None = Field(
        default=None, description="Comma-separated host:port list. Unset: `dev` embeds a broker."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = Field(default=None, validate_default=True)
    sasl_password: SecretStr | None = Field(default=None, validate_default=True)
    ssl_cafile: Path | None = Field(default=None, description="CA bundle for SSL/SASL_SSL.")
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_password: SecretStr | None = Field(
        default=None, description="Pass phrase of an encrypted client key."
    )
    client_id: str = "switchboard"
    partitions: int = Field(default=6, ge=1, description="Partitions for `topics ensure`.")
    replication_factor: int = Field(default=1, ge=1)
    retention_ms: int = Field(
        default=7 * 24 * 3600 * 1000, description="Non-compacted topics; -1: no time limit."
    )
    fetch_max_wait_ms: int = Field(
        default=20, ge=0, description="Low keeps pipeline latency low (see docs)."
    )
    max_poll_records: int = Field(default=500, ge=1)
    max_batch_bytes: int = Field(
        default=1024 * 1024, ge=16384, description="Producer batch size; bigger is faster."
    )
    max_record_bytes: int = Field(
        default=1024 * 1024,
        ge=MIN_RECORD_BYTES,
        description="Largest record value any role produces; at most the broker's limit.",
    )
    request_timeout_ms: int = Field(default=10_000, ge=1000)
    connect_timeout_s: float = Field(default=10.0, gt=0)
    session_timeout_ms: int = Field(
        default=10_000,
        ge=1500,
        description="How long a consumer may go silent before its partitions move on.",
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        return _without_blanks(data)

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        """``ssl`` or ``scram-sha-256`` mean what Kafka spells in capitals: accepted."""
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("sasl_mechanism")
    @classmethod
    def _mechanism_needs_sasl(cls, value: str, info: ValidationInfo) -> str:
        """A SCRAM mechanism with PLAINTEXT was ignored without a word, as a SASL user
        would be, which is refused: the operator believed the client logged in. PLAIN,
        the default, cannot be told from unset."""
        if value != "PLAIN" and info.data.get("security_protocol") == "PLAINTEXT":
            raise ValueError(
                "ignored with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL=PLAINTEXT (no SASL): "
                "set it to SASL_SSL or SASL_PLAINTEXT, or unset this one"
            )
        return value

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: str | None) -> str | None:
        """Each entry is host, host:port or [IPv6]:port, read as the Kafka client reads
        it: a port that is no number had stopped every command with a traceback from deep
        inside the client instead of one line naming the setting."""
        if value is None:
            return None
        for entry in value.split(","):
            if "@" in entry:  # never repeated: what precedes it may be a password
                raise ValueError("an entry holds '@': write host:port, credentials go in SASL")
            if NOT_HOST_PORT.search(entry.strip()):
                raise ValueError(
                    f"{entry.strip()!r} is not host:port: write host:port[,host:port], "
                    "without a listener name or scheme (PLAINTEXT://), a path or spaces"
                )
            try:
                host, port, _ = get_ip_port_afi(entry)
            except ValueError:
                host, port = "", 0
            if not host or not 0 < port < 65536:
                raise ValueError(f"{entry.strip()!r} is not host:port (port 1-65535)")
        return value

    @field_validator("sasl_username", "sasl_password")
    @classmethod
    def _sasl_credentials(
        cls, value: str | SecretStr | None, info: ValidationInfo
    ) -> str | SecretStr | None:
        """Every SASL mechanism offered needs a user and a password: without them the
        Kafka client fails deep inside every command, so they are refused here, at start,
        naming the missing one (validated even when unset: ``validate_default``)."""
        protocol = info.data.get("security_protocol", "")
        shown = value.get_secret_value() if isinstance(value, SecretStr) else value
        if str(protocol).startswith("SASL") and not (shown or "").strip():
            raise ValueError(
                f"required with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL={protocol} "
                f"({info.data.get('sasl_mechanism', 'PLAIN')} needs a user and a password)"
            )
        if protocol == "PLAINTEXT" and (shown or "").strip():
            raise ValueError(
                "ignored with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL=PLAINTEXT (no SASL): "
                "set it to SASL_SSL or SASL_PLAINTEXT, or unset this one"
            )
        return value

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_password")
    @classmethod
    def _tls_files_need_tls(
        cls, value: Path | SecretStr | None, info: ValidationInfo
    ) -> Path | SecretStr | None:
        """A TLS file (or the key's pass phrase) is used by SSL and SASL_SSL only: with
        another protocol it was ignored, and an operator who set the CA but not the
        protocol believed the traffic encrypted."""
        protocol = info.data.get("security_protocol")
        if value is not None and protocol is not None and protocol not in KAFKA_TLS_PROTOCOLS:
            wanted = "SASL_SSL" if protocol == "SASL_PLAINTEXT" else "SSL or SASL_SSL"
            raise ValueError(
                f"ignored with SWITCHBOARD_KAFKA_SECURITY_PROTOCOL={protocol} (no TLS): "
                f"set it to {wanted}, or unset this one"
            )
        return value

    @field_validator("ssl_keyfile")
    @classmethod
    def _key_with_its_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _key_with_certificate(value, info, "SWITCHBOARD_KAFKA_SSL_CERTFILE")

    @field_validator("ssl_password")
    @classmethod
    def _password_with_its_key(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        """The pass phrase of the client key: without a client certificate it has no key
        to open, and was set for nothing."""
        if value is not None and info.data.get("ssl_certfile") is None:
            raise ValueError(
                "needs SWITCHBOARD_KAFKA_SSL_CERTFILE: it opens the client key (mutual TLS)"
            )
        return value

    @field_validator("retention_ms")
    @classmethod
    def _retention(cls, value: int) -> int:
        """Written as the topics' ``retention.ms``, where Kafka takes -1 or a positive time."""
        if value != -1 and value < 1:
            raise ValueError(
                f"{value} is no retention: -1 (no time limit) or a positive number of ms"
            )
        return value


class RedisSettings(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)  # no timeout of inf

    url: str | None = Field(
        default=None,
        description="redis://, rediss://, redis+cluster://, rediss+cluster:// or unix:// URL. "
        "Unset: `dev` embeds valkey.",
        repr=False,  # it holds the password (``router.redis.shown_url`` shows it masked)
    )
    ssl_ca_certs: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    socket_timeout_s: float = Field(default=5.0, gt=0)
    dedupe_ttl_s: int = Field(default=7 * 24 * 3600, ge=60, description="Event-id memory.")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        return _without_blanks(data)

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        """Read as the client will read it, so that a URL it cannot use is one line at start,
        not a traceback from ``urlsplit`` or an error blamed on the network. The message
        never repeats the URL: it may hold a password."""
        if value is None:
            return None
        try:
            parts = urlsplit(cluster_seeds(value)[0])
        except ValueError as exc:  # an unclosed [ of an IPv6 host
            raise ValueError(f"not a URL ({exc}): write it as {REDIS_URL_FORM}") from None
        if parts.scheme not in REDIS_SCHEMES:
            found = f"{parts.scheme}://" if parts.scheme else "none"
            schemes = ", ".join(f"{scheme}://" for scheme in REDIS_SCHEMES)
            raise ValueError(f"the scheme must be one of {schemes} (found {found})")
        if parts.scheme == "unix":
            if not parts.path:
                raise ValueError("a unix:// URL needs the socket's path: unix:///path/to/sock")
            return value
        try:
            port = parts.port
        except ValueError:
            port = 0
        if not parts.hostname or port == 0:
            raise ValueError(
                f"no host, or a port that is no number from 1 to 65535: write it as "
                f"{parts.scheme}://[:PASSWORD@]host[:port][/db]"
            )
        cluster = parts.scheme.endswith("+cluster")
        if not REDIS_DB.fullmatch(parts.path) or (cluster and parts.path.strip("/")):
            # the client took /abc as database 0 and /1/2 as 12: another database
            where = "a cluster has database 0 only" if cluster else "/db is a number"
            raise ValueError(f"the path names no database ({where}): {REDIS_URL_FORM}")
        options = {k.lower() for k in parse_qs(parts.query)}
        if "db" in options:  # it overrode the path's database without a word
            raise ValueError(f"name the database as the path, not ?db=: {REDIS_URL_FORM}")
        if parts.scheme not in REDIS_TLS_SCHEMES and any(o.startswith("ssl") for o in options):
            raise ValueError(
                f"TLS options ({', '.join(sorted(o for o in options if o.startswith('ssl')))}) "
                f"with a {parts.scheme}:// URL, which uses no TLS: use rediss://"
            )
        if cluster and "ssl_password" in options:  # it had stopped the start: a TypeError
            raise ValueError(
                "?ssl_password= with a cluster URL: the cluster client takes no pass phrase "
                "for the client key; give it the key without one"
            )
        return value

    @field_validator("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _tls_files_need_tls(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """Used with a ``rediss://`` URL only: with another one a TLS file was ignored, and
        an operator who set the CA but wrote ``redis://`` believed the traffic encrypted."""
        url = info.data.get("url")
        scheme = url.partition("://")[0] if url else ""
        if value is not None and url and scheme not in REDIS_TLS_SCHEMES:
            raise ValueError(
                f"ignored with a {scheme}:// SWITCHBOARD_REDIS_URL (no TLS): use rediss:// "
                "(or rediss+cluster://), or unset this one"
            )
        return value

    @field_validator("ssl_keyfile")
    @classmethod
    def _key_with_its_certificate(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return _key_with_certificate(value, info, "SWITCHBOARD_REDIS_SSL_CERTFILE")


def cluster_seeds(url: str) -> tuple[str, list[tuple[str, int]]]:
    """A cluster URL naming several nodes (``redis+cluster://h1:7000,h2:7000``) as the URL
    of its first node and the others' host and port: the client starts from whichever
    answers, so one node failed over or removed does not stop every start. Any other URL
    as it is, with no others. ValueError for a node that is not host:port."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme.endswith("+cluster"):
        return url, []
    end = next((i for i, char in enumerate(rest) if char in "/?#"), len(rest))
    netloc, tail = rest[:end], rest[end:]  # the path and options apply to every node
    userinfo, at, hosts = netloc.rpartition("@")
    first, *others = (node.strip() for node in hosts.split(","))
    seeds = []
    for node in others:
        host, colon, port = node.rpartition(":")
        if not host or not colon or not port.isascii() or not port.isdigit():
            raise ValueError(f"a node of the list is not host:port: {node!r}")
        if not 0 < int(port) < 65536:
            raise ValueError(f"a node of the list has no port from 1 to 65535: {node!r}")
        seeds.append((host.strip("[]"), int(port)))
    return f"{scheme}://{userinfo}{at}{first}{tail}", seeds


def _key_with_certificate(value: Path | None, info: ValidationInfo, certfile: str) -> Path | None:
    """A client key is half of mutual TLS: without its certificate it was dropped, and the
    server's refusal blamed on the address or the protocol."""
    if value is not None and info.data.get("ssl_certfile") is None:
        raise ValueError(f"needs {certfile} (mutual TLS takes the certificate and its key)")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        frozen=True,
        extra="ignore",
        allow_inf_nan=False,  # a timeout or retry window of inf is no setting
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    topic_prefix: str = Field(default="switchboard", pattern=r"^[A-Za-z0-9._-]+$")
    rules_path: Path = DEFAULT_RULES_PATH
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8080, ge=0, le=65535)
    probe_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="A second port (on SWITCHBOARD_HTTP_HOST) serving only /healthz, "
        "/readyz and /metrics, with connections of its own: the probes are answered "
        "while the traffic port is at its connection cap. Unset: none (the traffic port "
        "serves them as always).",
    )
    http_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must arrive within this from the connection's "
        "opening or the previous answer's end: else 408 (or a close, when nothing came).",
    )
    http_body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="A request's whole body must arrive within this after its headers: "
        "else 408 and the connection is closed.",
    )
    http_keep_alive_s: int = Field(
        default=75,
        ge=1,
        description="A connection idle after an answer is kept this long for the next "
        "request: longer than a load balancer's idle timeout (AWS ALB: 60 s).",
    )
    http_max_connections: int = Field(
        default=1000,
        ge=1,
        description="Open HTTP connections; one more closes the kept-alive connection idle "
        "longest, or, with none idle, is answered 503 (Retry-After) and closed.",
    )
    http_max_work_bytes: int = Field(
        default=512 * 1024,
        ge=65536,
        description="Work the ingress takes on at once, in request bytes (each request "
        "counts its Content-Length, at least 4 KiB, at most a quarter of this): a hundred "
        "web forms, a dozen large HTML emails. One more waits for room "
        "(SWITCHBOARD_HTTP_QUEUE_WAIT_S), then is answered 503 (Retry-After), nothing "
        "written. The probes and /metrics are never held back.",
    )
    http_shed_after_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="While the oldest of 16 or more requests in flight has been worked on "
        "this long (the ingress falls behind), new ones are answered 503 (Retry-After) at "
        "once, nothing written: a burst beyond capacity is shed, not queued past the "
        "clients' timeouts.",
    )
    http_queue_wait_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How long a request waits for room when the work in flight is at "
        "SWITCHBOARD_HTTP_MAX_WORK_BYTES.",
    )
    http_shutdown_timeout_s: int = Field(
        default=20,
        ge=1,
        description="After SIGTERM, requests in flight may finish within this; then "
        "they are answered 503 (Retry-After).",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated origins (or *) whose pages may post to the ingress "
        "from a browser (the web form, a chat widget); empty: no CORS headers.",
    )
    public_url: str | None = Field(
        default=None, description="External base URL, for Twilio signatures."
    )
    api_tokens: SecretStr | None = Field(
        default=None,
        description="Comma-separated bearer tokens for /v1/actions and the read API.",
    )
    api_read_tokens: SecretStr | None = Field(
        default=None, description="Comma-separated bearer tokens for the read API only."
    )
    api_action_tokens: SecretStr | None = Field(
        default=None, description="Comma-separated bearer tokens for /v1/actions only."
    )
    twilio_auth_token: SecretStr | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    chat_secret: SecretStr | None = Field(
        default=None, description="Bearer token or HMAC key for /v1/channels/chat."
    )
    voice_secret: SecretStr | None = Field(
        default=None, description="Bearer token or HMAC key for /v1/channels/voice."
    )
    email_secret: SecretStr | None = Field(
        default=None, description="Bearer token or HMAC key for /v1/channels/email."
    )
    open_channels: Annotated[frozenset[SecretChannel], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated channels deliberately open without a secret: "
        "chat, voice, email, sms, whatsapp, messenger.",
    )
    email_group_addresses: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated support addresses of ours that are Google Groups or "
        "mailing lists: only their List-Id and Precedence: list are no list traffic.",
    )
    email_relay_addresses: Annotated[frozenset[str], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated addresses of ours that send mail on someone else's "
        "behalf (a website's contact form, a shop system): a mail From one of them is the "
        "customer's its one Reply-To (or X-Original-Sender) names, not the relay's.",
    )
    max_body_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    max_text_bytes: int = Field(
        default=64 * 1024,
        ge=MIN_TEXT_BYTES,
        description="Message text an event carries (JSON bytes).",
    )
    ingress_dedupe_window_s: int = Field(
        default=300, ge=0, description="Same content, same sender, no key: one event."
    )
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    reopen_window_s: int = Field(default=7 * 24 * 3600, ge=0)
    closed_retention_s: int = Field(
        default=120 * 24 * 3600,
        ge=0,
        description="How long a closed ticket stays in Redis after its last change; "
        "0 keeps it for good.",
    )
    metrics_window_s: int = Field(default=60, ge=1)
    metrics_lateness_s: int = Field(default=3600, ge=0)
    consumer_group_prefix: str = "switchboard"
    timers_shards: int = Field(
        default=DEFAULT_SHARDS,
        ge=1,
        le=1024,
        description="Shards (Redis keys) of the timer schedule and of the waiting line.",
    )
    # --- the notifier role (unset: nothing is sent; `dev` prints the messages) -----
    smtp_url: SecretStr | None = Field(
        default=None,
        description="smtp://user:pass@host:port (STARTTLS when offered; required with a "
        "user) or smtps:// (TLS).",
    )
    smtp_from: str = Field(
        default="Switchboard <support@switchboard.invalid>", description="Email From."
    )
    smtp_timeout_s: float = Field(default=10.0, gt=0, description="SMTP and Twilio calls.")
    smtp_data_timeout_s: float = Field(
        default=SMTP_DATA_TIMEOUT_S,
        gt=0,
        le=SMTP_DATA_TIMEOUT_MAX_S,
        description="The wait for the SMTP server's answer to DATA and to the message: a "
        "timeout there may come after the server kept it (RFC 5321 4.5.3.2). At most 90 s: "
        "within the retry loop's claim and, two sends in line, the Kafka poll interval.",
    )
    templates_path: Path | None = Field(
        default=None, description="Notification templates. Unset: `templates/` of the rules."
    )
    twilio_account_sid: str | None = Field(
        default=None, description="Unset: SMS not sent (printed by `dev`)."
    )
    twilio_from: str | None = Field(
        default=None, description="Sender number (E.164); WhatsApp sends as whatsapp:<it>."
    )
    twilio_api_url: str = Field(
        default="https://api.twilio.com", description="Twilio REST base URL."
    )
    notify_attempts: int = Field(
        default=2,
        ge=1,
        description="Sends in line before a temporarily refused message is parked for the "
        "retry loop (or, with SWITCHBOARD_NOTIFY_RETRY_FOR_S=0, dead-lettered).",
    )
    notify_backoff_s: float = Field(
        default=1.0,
        ge=0,
        description="First retry delay; doubles each time (in line: at most 5 s while "
        "parking is on, else 60 s; parked: up to SWITCHBOARD_NOTIFY_RETRY_MAX_BACKOFF_S).",
    )
    notify_retry_for_s: float = Field(
        default=3600.0,
        ge=0,
        description="How long a parked message is retried before it is dead-lettered "
        "(0: no parking, fail after the in-line sends).",
    )
    notify_retry_max_backoff_s: float = Field(
        default=300.0, gt=0, description="Longest wait between retries of a parked message."
    )
    notify_max_age_s: int = Field(
        default=24 * 3600, ge=0, description="Older notifications are skipped (0: never)."
    )
    auto_reply_limit: int = Field(
        default=5,
        ge=0,
        description="Auto-replies one mailbox gets per window (0: no limit).",
    )
    auto_reply_window_s: int = Field(default=3600, ge=1, description="The auto-reply window.")

    @field_validator("log_format", "log_level", mode="before")
    @classmethod
    def _lower_case(cls, value: Any) -> Any:
        """``INFO`` or ``JSON``, as other tools spell them, mean ``info`` and ``json``."""
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("max_text_bytes")
    @classmethod
    def _text_fits(cls, value: int, info: ValidationInfo) -> int:
        kafka = info.data.get("kafka")
        record = kafka.max_record_bytes if isinstance(kafka, KafkaSettings) else 1024 * 1024
        most = (record // 4 - 16 * 1024) // 2
        if value > most:
            raise ValueError(
                "text and quoted text must fit in a quarter of "
                f"SWITCHBOARD_KAFKA_MAX_RECORD_BYTES ({record}) with room to spare: at most "
                f"{most}; lowering the record size means lowering this one too"
            )
        return value

    @field_validator("templates_path")
    @classmethod
    def _templates_exist(cls, value: Path | None) -> Path | None:
        """Refused at start: a missing directory would dead-letter every notification."""
        if value is not None and not value.is_dir():
            problem = "is not a directory" if value.exists() else "does not exist"
            raise ValueError(f"{value} {problem} (expected the templates directory)")
        return value

    def limits(self) -> Limits:
        return Limits(record_bytes=self.kafka.max_record_bytes, text_bytes=self.max_text_bytes)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        return _without_blanks(data)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url_shape(cls, value: SecretStr | None) -> SecretStr | None:
        """Refused here, at start, rather than when the notifier first sends."""
        if value is None:
            return None
        smtp_server(value.get_secret_value())  # its ValueError says what is wrong
        return value

    @field_validator("smtp_from")
    @classmethod
    def _one_mailbox(cls, value: str) -> str:
        """One mailbox with a domain: ``Acme, Inc. <s@acme.test>`` (a comma outside
        quotes) had sent a From of two mailboxes, and ``Support Team`` a MAIL FROM of
        ``<Support Team>``, each with a Message-ID on no domain."""
        found = getaddresses([value])
        address = found[0][1] if len(found) == 1 else ""
        local, _, domain = address.rpartition("@")
        if not local or not domain:
            raise ValueError(
                f"{value!r} is not one address: write name@domain, or a name and it, "
                'the name in quotes when it holds a comma: "Acme, Inc." <support@acme.example>'
            )
        return value

    @field_validator("twilio_from")
    @classmethod
    def _no_whatsapp_prefix(cls, value: str | None) -> str | None:
        """The number alone: WhatsApp is sent as ``whatsapp:<it>``, SMS as it is."""
        return value.strip().removeprefix("whatsapp:") if value else value

    @field_validator("public_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        """The base URL Twilio was given, without the path Switchboard adds: a URL
        without its scheme, with a query, or with a webhook's own path pasted in would
        make every Twilio signature fail (401) with nothing saying why."""
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("not an http(s) URL: write it as https://host[:port][/prefix]")
        if parts.query or parts.fragment:
            raise ValueError("a base URL has no query or fragment")
        if "/v1/" in parts.path + "/":
            raise ValueError("the base URL only: Switchboard adds each webhook's /v1/... path")
        return value.strip()

    @field_validator("open_channels", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _comma_set(value)
        unknown = (
            sorted(set(value) - set(SECRET_CHANNELS)) if isinstance(value, set | frozenset) else []
        )
        if unknown:
            raise ValueError(
                f"{unknown[0]!r} has no secret to waive; list any of {', '.join(SECRET_CHANNELS)}"
            )
        return value

    @field_validator("email_group_addresses", "email_relay_addresses", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = _comma_set(value)
        if isinstance(value, set | frozenset | list | tuple):
            value = {str(part).strip().lower() for part in value}
            bad = sorted(part for part in value if not _is_address(part))
            if bad:
                raise ValueError(f"{bad[0]!r} is not an email address (name@domain)")
        return value

    def channel_secret(self, channel: SecretChannel) -> SecretStr | None:
        secret: SecretStr | None = getattr(self, SECRET_FIELDS[channel])
        return secret

    def unauthenticated_channels(self) -> list[SecretChannel]:
        """Channels that accept anyone without having been listed as open on purpose."""
        return [
            channel
            for channel in SECRET_CHANNELS
            if self.channel_secret(channel) is None and channel not in self.open_channels
        ]

    def cors_origin_list(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    def tokens(self, scope: Scope | None = None) -> frozenset[str]:
        """The bearer tokens that may ``scope`` (``read``: the read API; ``actions``:
        ``POST /v1/actions``): ``SWITCHBOARD_API_TOKENS`` and the scope's own; every
        token of any scope without one."""
        wanted = (
            (self.api_tokens, self.api_read_tokens, self.api_action_tokens)
            if scope is None
            else (
                self.api_tokens,
                self.api_read_tokens if scope == "read" else self.api_action_tokens,
            )
        )
        return frozenset().union(*(_tokens(secret) for secret in wanted))


def _tokens(secret: SecretStr | None) -> frozenset[str]:
    raw = secret.get_secret_value() if secret else ""
    return frozenset(t.strip() for t in raw.split(",") if t.strip())


def _comma_set(value: str) -> set[str]:
    """A comma-separated setting as the set of its lower-cased, trimmed, non-empty parts."""
    return {part.strip().lower() for part in value.split(",") if part.strip()}


def _is_address(text: str) -> bool:
    local, at, domain = text.partition("@")
    return (
        bool(local and at and domain) and "@" not in domain and not any(c.isspace() for c in text)
    )


def env_name(loc: tuple[int | str, ...]) -> str:
    """The environment variable behind a validation error location."""
    return ENV_PREFIX + "_".join(str(part) for part in loc).upper()


def setting_names() -> frozenset[str]:
    """Every environment name ``Settings`` reads, upper-case: a nested group's parts
    (``SWITCHBOARD_KAFKA_REPLICATION_FACTOR``) and the group itself, as JSON
    (``SWITCHBOARD_KAFKA``)."""
    names = set()
    for field, info in Settings.model_fields.items():
        names.add(f"{ENV_PREFIX}{field}".upper())
        nested = info.annotation
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            names.update(f"{ENV_PREFIX}{field}_{part}".upper() for part in nested.model_fields)
    return frozenset(names)


def unknown_settings(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each ``SWITCHBOARD_*`` name in ``environ`` that no setting reads, with the closest
    setting's name (or None), in name order. A misspelled variable is otherwise ignored
    without a word: ``SWITCHBOARD_KAFKA_REPLICATION=3`` left the replication factor at 1.
    For a warning at start, not a refusal: other tools may share the prefix. Names are
    compared as the settings read them, whatever their case."""
    known = setting_names()
    parts = {name.removeprefix(ENV_PREFIX): name for name in known}
    found: list[tuple[str, str | None]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known:
            continue
        close = difflib.get_close_matches(upper.removeprefix(ENV_PREFIX), parts, n=1)
        found.append((name, parts[close[0]] if close else None))
    return found


def load_settings(**overrides: object) -> Settings:
    """Read the environment; a bad value becomes a ConfigError naming its variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(
            env_name(first["loc"]), first["msg"].removeprefix("Value error, ")
        ) from None
    except SettingsError as exc:  # a nested group set as one variable, not as JSON
        field = re.search(r'field "([^"]+)"', str(exc))
        name = env_name((field.group(1),)) if field else ENV_PREFIX + "*"
        hint = f"not JSON: set its parts one by one, e.g. {name}_..."
        raise ConfigError(name, hint) from None
