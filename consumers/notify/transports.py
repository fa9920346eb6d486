"""How a rendered notification leaves: SMTP (aiosmtplib), Twilio's REST API (httpx), or
the log (``dev`` without settings). Every failure is a ``SendFailed`` that says whether a
retry may help and whether the provider may have the message anyway (``unknown``: the
connection died after the message went out, so the ledger counts it as maybe delivered).
"""

from __future__ import annotations

import contextlib
import copy
import re
import ssl
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr, parsedate_to_datetime
from typing import Protocol

import aiosmtplib
import httpx
import structlog
from aiosmtplib.email import flatten_message

from consumers.notify.plan import Delivery
from router.errors import ConfigError, SwitchboardError, cause_of
from router.identity import ascii_domain
from router.smtp_url import SMTP_DATA_TIMEOUT_S, SmtpServer, smtp_server

log = structlog.get_logger("switchboard.notifier")
SMTP_SETTING = "SWITCHBOARD_SMTP_URL"
NOT_SENT = "not sent: no provider configured"
PRINTED = "console"  # `dev`: printed, as no provider is configured
"""What a transport answers for a message it did not send (the ledger records it skipped)."""


MAYBE_QUEUED = frozenset({500, 502, 504})
"""Twilio answers that do not say the message was not taken: 503 and 429 do."""
UNSUBSCRIBED = 21610
"""Twilio's error for a number that sent STOP ("unsubscribed recipient"): it takes
nothing sent to it until it sends START."""


class SendFailed(SwitchboardError):
    """The provider did not take the message. ``answer`` is its word, for the dead letter.
    ``unsubscribed``: the recipient opted out (Twilio 21610), their choice and no fault
    of ours, so the delivery is skipped, not dead-lettered."""

    def __init__(
        self,
        answer: str,
        *,
        retriable: bool,
        unknown: bool = False,
        retry_after: float | None = None,
        unsubscribed: bool = False,
    ) -> None:
        super().__init__(answer)
        self.answer = answer
        self.retriable = retriable
        self.unknown = unknown
        self.retry_after = retry_after  # seconds the provider asked us to wait, if it did
        self.unsubscribed = unsubscribed


@dataclass(frozen=True, slots=True)
class Outgoing:
    delivery: Delivery
    subject: str | None
    body: str
    ticket_id: str
    in_reply_to: str | None = None
    references: str | None = None
    """The thread up to the message answered, its id last (``notify/replies.py``)."""


class Transport(Protocol):
    async def send(self, out: Outgoing) -> str:
        """Deliver ``out``; return the provider's answer (a message id)."""

    async def close(self) -> None: ...


def message_id(delivery_id: str, sender: str) -> str:
    """The same for every send of one delivery: a duplicate after a crash is recognisable."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "switchboard.invalid"
    return f"<{delivery_id}@{domain}>"


#: What no header value we write may hold: line breaks and every other control character.
CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def header_value(text: str) -> str:
    """``text`` as a header value that says what it shows and nothing more. Control
    characters become a space; and an encoded word's opener ``=?`` is broken up (``= ?``),
    because the email package decodes RFC 2047 words in a value it is given: a customer's
    subject ``=?utf-8?q?Hi=0D=0AReply-To:_...?=`` (their text, already decoded once by the
    ingress, or encoded twice) had become a line break, a header of their choosing and a
    body, in a mail sent from our support address."""
    text = " ".join(CONTROLS.sub(" ", text).split())
    return text.replace("=?", "= ?")


def ascii_address(address: str) -> str:
    """An address whose domain is internationalised (``ada@bücher.example``, as typed in a
    web form) with the domain's A-labels when its local part is ASCII: any server takes
    ``ada@xn--bcher-kva.example``, where the Unicode form needs SMTPUTF8, and without it
    the message had been dead-lettered."""
    local, at, domain = address.rpartition("@")
    if not at or domain.isascii() or not local.isascii():
        return address
    return f"{local}@{ascii_domain(domain)}"


def email_message(out: Outgoing, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = header_value(ascii_address(out.delivery.to))
    msg["Subject"] = header_value(out.subject or "")
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id(out.delivery.id, sender)
    # RFC 3834: auto-responders must not answer this (and our ingress opens no ticket);
    # Exchange and Outlook read their own header
    kind = "auto-replied" if out.delivery.kind == "auto_reply" else "auto-generated"
    msg["Auto-Submitted"] = kind
    msg["X-Auto-Response-Suppress"] = "All"
    msg["X-Switchboard-Ticket"] = header_value(out.ticket_id)
    if out.in_reply_to:
        msg["In-Reply-To"] = header_value(out.in_reply_to)
        msg["References"] = header_value(out.references or out.in_reply_to)
    msg.set_content(out.body)
    return msg


#: The headers of message ids, which the email package folds as text: an id longer than
#: a line (Microsoft 365 writes 80 characters) became RFC 2047 encoded words, which RFC
#: 2047 (section 5) forbids in a msg-id and no mail client matches to the parent.
ID_HEADERS = ("In-Reply-To", "References")


def flattened(msg: EmailMessage, *, utf8: bool = False, cte_type: str = "8bit") -> bytes:
    """The message as SMTP sends it (``aiosmtplib``'s flattening), its id headers written
    as they are, folded only between ids. Ids that are not ASCII outside SMTPUTF8 are
    left to the email package."""
    lifted = [
        (name, str(value))
        for name in ID_HEADERS
        if (value := msg[name]) is not None and (utf8 or str(value).isascii())
    ]
    rest = copy.copy(msg)
    for name, _ in lifted:
        del rest[name]
    flat = flatten_message(rest, utf8=utf8, cte_type=cte_type)
    if not lifted:
        return flat
    end = flat.index(b"\r\n\r\n") + 2
    lines = [f"{name}: " + "\r\n ".join(value.split()) + "\r\n" for name, value in lifted]
    return flat[:end] + "".join(lines).encode() + flat[end:]


def parse_smtp_url(url: str) -> SmtpServer:
    """``SWITCHBOARD_SMTP_URL`` as the transport connects with it (see
    ``router.smtp_url``); a malformed one names the setting."""
    try:
        return smtp_server(url)
    except ValueError as exc:
        raise ConfigError(SMTP_SETTING, str(exc)) from None


class SmtpTransport:
    """Drives the SMTP conversation one step at a time, so that a failure says whether the
    server may have kept the message: only once the body has gone out (waiting for the
    server's final reply) is a dropped connection or a timeout ``unknown``; before that,
    nothing was sent and the failure is a plain temporary one, retried with backoff. The
    final reply gets its own, longer wait (``data_timeout_s``): RFC 5321 section 4.5.3.2.6
    asks for minutes there, as a client that gives up sooner sends the message twice."""

    def __init__(
        self,
        server: SmtpServer,
        sender: str,
        *,
        timeout_s: float,
        data_timeout_s: float | None = None,
    ) -> None:
        """``data_timeout_s``: ``SWITCHBOARD_SMTP_DATA_TIMEOUT_S``; None: its default."""
        self._server = server
        self._sender = sender
        self._timeout = timeout_s
        self._data_timeout = SMTP_DATA_TIMEOUT_S if data_timeout_s is None else data_timeout_s

    async def send(self, out: Outgoing) -> str:
        try:
            msg = email_message(out, self._sender)
        except ValueError as exc:  # a header the email package refuses: it can never be sent
            raise SendFailed(f"message: {exc}", retriable=False) from None
        s = self._server
        smtp = aiosmtplib.SMTP(
            hostname=s.host, port=s.port, use_tls=s.tls, start_tls=False, timeout=self._timeout
        )
        try:
            with before_the_body():
                await self._open(smtp)
                flat = await self._envelope(smtp, msg, out.delivery.to)
            await self._body(smtp, flat)
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()  # the message is the server's: a failed goodbye is no matter
        finally:
            smtp.close()
        return str(msg["Message-ID"])

    async def _open(self, smtp: aiosmtplib.SMTP) -> None:
        """Connect, EHLO, STARTTLS when offered (required before a password goes out:
        without it the password would cross the network in clear), then log in."""
        await smtp.connect()
        await smtp.ehlo()
        if not self._server.tls and smtp.supports_extension("starttls"):
            await smtp.starttls()
            await smtp.ehlo()
        if self._server.username is None:
            return
        if smtp.get_transport_info("sslcontext") is None:
            raise SendFailed(NO_TLS_FOR_LOGIN, retriable=False)
        if not smtp.supported_auth_methods:  # every retry would get the same answer
            raise SendFailed(no_login(smtp.server_auth_methods), retriable=False)
        await smtp.login(self._server.username, self._server.password or "")

    async def _envelope(self, smtp: aiosmtplib.SMTP, msg: EmailMessage, to: str) -> bytes:
        """MAIL FROM and RCPT TO, with the options the server offers, as
        ``aiosmtplib.send`` would; the message flattened to match them."""
        sender = parseaddr(self._sender)[1] or self._sender
        to = ascii_address(to)
        utf8 = not (sender + to).isascii()
        options = ["SMTPUTF8"] if utf8 else []
        if utf8 and not smtp.supports_extension("smtputf8"):
            raise SendFailed("smtp: the server does not take non-ASCII addresses", retriable=False)
        eight_bit = smtp.supports_extension("8bitmime")
        if eight_bit:
            options.append("BODY=8BITMIME")
        encoding = "utf-8" if utf8 else "ascii"  # SMTPUTF8 (RFC 6531): the addresses as UTF-8
        await smtp.mail(sender, options=options, encoding=encoding)
        await smtp.rcpt(to, encoding=encoding)
        return flattened(msg, utf8=utf8, cte_type="8bit" if eight_bit else "7bit")

    async def _body(self, smtp: aiosmtplib.SMTP, flat: bytes) -> None:
        """DATA, the message and the server's final reply, with ``data_timeout_s`` (RFC
        5321 section 4.5.3.2 allows minutes for each of them). From here on, a dropped
        connection or a timeout may come after the server kept the message: unknown."""
        try:
            await smtp.data(flat, timeout=self._data_timeout)
        except aiosmtplib.SMTPResponseException as exc:  # the server answered: it says
            raise SendFailed(f"smtp: {exc.code} {exc.message}", retriable=exc.code < 500) from None
        except aiosmtplib.SMTPTimeoutError:
            raise SendFailed(
                f"smtp: no answer to the message within {self._data_timeout:g} s",
                retriable=True,
                unknown=True,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:  # dropped: it may have arrived
            raise SendFailed(f"smtp: {exc}", retriable=True, unknown=True) from None

    async def close(self) -> None:
        return None  # a connection per message: nothing is kept open


NO_TLS_FOR_LOGIN = (
    f"smtp: the server offers no STARTTLS, and {SMTP_SETTING} names a user: the password "
    "is not sent in clear. Use smtps://, a server that offers STARTTLS, or no user"
)


def no_login(offered: list[str]) -> str:
    """Why a user named in ``SWITCHBOARD_SMTP_URL`` cannot log in: the server offers no
    AUTH (a relay that takes mail by address, or the port for servers, 25, not for
    submission), or only methods aiosmtplib does not speak (PLAIN, LOGIN, CRAM-MD5)."""
    if not offered:
        what = "offers no login (no SMTP AUTH)"
    else:
        names = " ".join(CONTROLS.sub("", m)[:20].upper() for m in offered[:5])
        what = f"offers no login method the notifier speaks (it offers {names}; known: "
        what += f"{', '.join(m.upper() for m in aiosmtplib.SMTP.AUTH_METHODS)})"
    return (
        f"smtp: the server {what}, and {SMTP_SETTING} names a user. Use the server's "
        "submission port (587, or smtps:// on 465), or no user for a relay that needs none"
    )


@contextmanager
def before_the_body() -> Iterator[None]:
    """The server's refusals and failures before the message went out, as ``SendFailed``:
    nothing was sent, so none of them leaves the outcome unknown. A certificate that does
    not verify is a configuration error (a retry gives the same answer): permanent."""
    try:
        yield
    except aiosmtplib.SMTPResponseException as exc:
        raise SendFailed(f"smtp: {exc.code} {exc.message}", retriable=exc.code < 500) from None
    except aiosmtplib.SMTPNotSupported as exc:
        raise SendFailed(f"smtp: {exc}", retriable=False) from None
    except UnicodeError as exc:  # an address the envelope cannot carry: never sent
        raise SendFailed(f"smtp: the address cannot be sent ({exc})", retriable=False) from None
    except (aiosmtplib.SMTPException, OSError) as exc:  # dropped or timed out: not sent
        certificate = unverified_certificate(exc)
        if certificate is not None:
            raise SendFailed(
                f"smtp: the server's certificate does not verify ({certificate.verify_message});"
                f" check the host in {SMTP_SETTING} and the system's CA certificates",
                retriable=False,
            ) from None
        step = "smtp connect" if isinstance(exc, aiosmtplib.SMTPConnectError) else "smtp"
        raise SendFailed(f"{step}: {exc}", retriable=True) from None


def unverified_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind ``exc`` (aiosmtplib wraps it on connect), if any."""
    return cause_of(exc, ssl.SSLCertVerificationError)


class TwilioTransport:
    """``POST /2010-04-01/Accounts/{sid}/Messages.json``; WhatsApp as ``whatsapp:`` numbers."""

    def __init__(self, base_url: str, sid: str, token: str, sender: str, timeout_s: float) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), auth=(sid, token), timeout=timeout_s
        )
        self._path = f"/2010-04-01/Accounts/{sid}/Messages.json"
        self._sender = sender

    async def send(self, out: Outgoing) -> str:
        # a number written with the prefix (SWITCHBOARD_TWILIO_FROM=whatsapp:+1...) had
        # been sent as whatsapp:whatsapp:+1..., and as whatsapp:+1... for an SMS
        to = out.delivery.to.removeprefix("whatsapp:")
        sender = (out.delivery.sender or self._sender).removeprefix("whatsapp:")
        if out.delivery.medium == "whatsapp":
            to, sender = f"whatsapp:{to}", f"whatsapp:{sender}"
        form = {"To": to, "From": sender, "Body": out.body.strip()}
        try:
            resp = await self._client.post(self._path, data=form)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SendFailed(f"twilio connect: {exc!r}", retriable=True) from None
        except httpx.HTTPError as exc:
            raise SendFailed(f"twilio: {exc!r}", retriable=True, unknown=True) from None
        if resp.is_success:
            try:
                return str(resp.json().get("sid", ""))
            except ValueError:
                return ""
        answer = f"twilio: {resp.status_code} {resp.text[:1000]}"
        raise SendFailed(
            answer,
            retriable=resp.status_code == 429 or resp.status_code >= 500,
            # Twilio's 500 (error 20500) and a gateway's 502/504 may come after the
            # message was queued: a retry may send it twice, so it is tried at most once more
            unknown=resp.status_code in MAYBE_QUEUED,
            retry_after=retry_after(resp.headers.get("Retry-After")),
            unsubscribed=resp.status_code == 400 and error_code(resp) == UNSUBSCRIBED,
        )

    async def close(self) -> None:
        await self._client.aclose()


def error_code(resp: httpx.Response) -> int | None:
    """Twilio's error code in a refusal's JSON body (``{"code": 21610, ...}``), if any."""
    try:
        code = resp.json().get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """An HTTP ``Retry-After`` (RFC 9110: seconds, or an HTTP date) as seconds from now;
    None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class ConsoleTransport:
    """Without a provider configured: in ``dev`` (``show``) the message is printed on
    standard output for the person running it; in production nothing is printed (a
    container's standard output is shipped like its log, and customers' addresses and
    words stay out of both). Either way the log records only that it was not sent,
    without recipient or text."""

    def __init__(self, sender: str, *, show: bool = True) -> None:
        self._sender = sender
        self._show = show

    async def send(self, out: Outgoing) -> str:
        d = out.delivery
        mid = message_id(d.id, self._sender) if d.medium == "email" else None
        if not self._show:
            log.info("notification_not_sent", medium=d.medium, ticket=out.ticket_id)
            return NOT_SENT
        lines = [f"--- {d.medium} to {d.to} (ticket {out.ticket_id})"]
        if out.subject:
            lines.append(f"Subject: {out.subject}")
        lines += [out.body.rstrip(), "---"]
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        log.info("notification_printed", medium=d.medium, ticket=out.ticket_id, message_id=mid)
        return PRINTED

    async def close(self) -> None:
        return None
