"""``SWITCHBOARD_SMTP_URL`` read once: the settings refuse a malformed one at start, and
the notifier's SMTP transport connects with what it says."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None


def smtp_server(url: str) -> SmtpServer:
    """``smtp://user:pass@host:port`` (STARTTLS when offered; port 587 by default) or
    ``smtps://`` (TLS from the start; port 465); ``ValueError`` saying what is wrong."""
    parts = urlsplit(url)
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
