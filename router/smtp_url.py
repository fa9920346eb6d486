"""``SWITCHBOARD_SMTP_URL`` read once: the settings refuse a malformed one at start, and
the notifier's SMTP transport connects with what it says."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SMTP_DATA_TIMEOUT_S = 60.0
"""The default wait for the server's answer to DATA and to the message
(``SWITCHBOARD_SMTP_DATA_TIMEOUT_S``): a timeout there may come after the server kept the
message, so it is longer than the other steps' (RFC 5321 section 4.5.3.2 asks minutes).
It stays within the retry loop's claim on a parked delivery (120 s, less the 30 s a run
starts sends) and, for the two unanswered sends allowed in line, within the Kafka
consumer's 300 s poll interval (``max_poll_interval_ms``, the client's default)."""
SMTP_DATA_TIMEOUT_MAX_S = 90.0


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def smtp_server(url: str) -> SmtpServer:
    """``smtp://user:pass@host:port`` (STARTTLS when offered, and required when a user is
    given: the password never goes in clear; port 587 by default) or
    ``smtps://`` (TLS from the start; port 465); ``ValueError`` saying what is wrong,
    never quoting the URL (it holds the password)."""
    parts = urlsplit(url)
    if "@" in parts.path + parts.query + parts.fragment:
        # a '#', '?' or '/' in the user or password ended the host part early: never
        # say more, the text around it is the password
        raise ValueError(
            "a '#', '?' or '/' in the user or password ends the host part of the URL: "
            "percent-encode them ('#' as %23, '?' as %3F, '/' as %2F, '@' as %40)"
        )
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("expected smtp://user:pass@host:port or smtps://... (only host needed)")
    tls = parts.scheme == "smtps"
    try:
        port = parts.port or (465 if tls else 587)
    except ValueError:
        raise ValueError("the port is not a number") from None
    return SmtpServer(
        parts.hostname,
        port,
        tls,
        unquote(parts.username) if parts.username else None,
        unquote(parts.password) if parts.password else None,
    )
