"""The SMTP transport against a real SMTP server (aiosmtpd), step by step: which failures
leave the outcome unknown (only those after the message went out), how long the server
may take to answer the message, and that a password never crosses the network in clear."""

# ruff: noqa: ARG002 - aiosmtpd's hooks have fixed signatures

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from consumers.notify.plan import Delivery
from consumers.notify.transports import Outgoing, SendFailed, SmtpTransport, parse_smtp_url
from router.app.embedded import free_port
from tests.component.notifier.servers import Mailbox

pytestmark = pytest.mark.component

DELIVERY = Delivery(
    id="d-1",
    event_id="e-1",
    kind="auto_reply",
    template="after-hours",
    medium="email",
    to="ada@example.com",
)
OUT = Outgoing(DELIVERY, "Your request", "We are on it.\n", "T-1")


@dataclass
class Server(Mailbox):
    """A mailbox that can be slow to answer the message, or hang up at a step."""

    answer_after_s: float = 0.0
    hang_up_at: str | None = None  # "MAIL" or "DATA"
    logins: list[str] = field(default_factory=list)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.hang_up_at == "MAIL":
            assert server.transport is not None
            server.transport.close()
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.hang_up_at == "DATA":
            assert server.transport is not None
            server.transport.close()
        await asyncio.sleep(self.answer_after_s)
        return answer

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth: Any
    ) -> AuthResult:
        assert isinstance(auth, LoginPassword)
        self.logins.append(auth.login.decode())
        return AuthResult(success=True)


@contextmanager
def serving(mailbox: Server, **options: Any) -> Iterator[int]:
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def transport(url: str, **timeouts: float) -> SmtpTransport:
    return SmtpTransport(
        parse_smtp_url(url), "Acme Support <support@acme.test>", timeout_s=0.5, **timeouts
    )


async def test_a_server_slow_to_answer_the_message_gets_it_once() -> None:
    """A server that takes longer than the step timeout to answer "250" after the message
    has it: the send waits for that answer instead of calling it unknown and sending again."""
    mailbox = Server(answer_after_s=1.5)
    with serving(mailbox) as port:
        answer = await transport(f"smtp://127.0.0.1:{port}", data_timeout_s=5).send(OUT)
    assert answer == "<d-1@acme.test>"
    assert len(mailbox.messages) == 1


async def test_no_answer_to_the_message_is_unknown() -> None:
    mailbox = Server(answer_after_s=3)
    with serving(mailbox) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://127.0.0.1:{port}", data_timeout_s=0.5).send(OUT)
    assert failed.value.unknown
    assert failed.value.retriable
    assert len(mailbox.messages) == 1  # the server has it: why a resend is counted


async def test_a_hang_up_after_the_message_is_unknown() -> None:
    mailbox = Server(hang_up_at="DATA")
    with serving(mailbox) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://127.0.0.1:{port}").send(OUT)
    assert failed.value.unknown
    assert failed.value.retriable


async def test_a_hang_up_before_the_message_is_a_temporary_failure_not_unknown() -> None:
    """Closed on MAIL FROM: nothing was sent, so the delivery is retried for the whole
    retry time, not dead-lettered as maybe delivered after two tries."""
    mailbox = Server(hang_up_at="MAIL")
    with serving(mailbox) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://127.0.0.1:{port}").send(OUT)
    assert failed.value.retriable
    assert not failed.value.unknown
    assert mailbox.messages == []


async def test_no_password_in_clear_when_the_server_offers_no_starttls() -> None:
    """``smtp://user:pass@`` and a server (or a man in the middle) not offering STARTTLS:
    the transport refuses to log in, naming the setting, and never sends the password."""
    mailbox = Server()
    options = {"authenticator": mailbox.authenticate, "auth_require_tls": False}
    with serving(mailbox, **options) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://bob:pw@127.0.0.1:{port}").send(OUT)
    assert not failed.value.retriable
    assert "SWITCHBOARD_SMTP_URL" in failed.value.answer
    assert mailbox.logins == []
    assert mailbox.messages == []


async def test_without_a_user_no_starttls_is_still_fine() -> None:
    mailbox = Server()
    with serving(mailbox) as port:
        await transport(f"smtp://127.0.0.1:{port}").send(OUT)
    assert len(mailbox.messages) == 1


def self_signed(directory: Path) -> ssl.SSLContext:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_a_certificate_that_does_not_verify_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    """STARTTLS with a certificate no CA vouches for: retrying gives the same answer, and
    the message was never sent, so it is a permanent failure saying so, not unknown."""
    mailbox = Server()
    options = {"tls_context": self_signed(tmp_path), "require_starttls": True}
    with serving(mailbox, **options) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://bob:pw@127.0.0.1:{port}").send(OUT)
    assert not failed.value.retriable
    assert not failed.value.unknown
    assert "certificate" in failed.value.answer
    assert mailbox.messages == []


def trusting(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client takes the test's self-signed certificate (what is tested is after)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    monkeypatch.setattr(aiosmtplib.SMTP, "_build_tls_context", lambda _: context)


@dataclass
class NoAuth(Server):
    """A relay that offers no AUTH at all (it takes mail by the client's address)."""

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [line for line in responses if not line.startswith("250-AUTH")]


@pytest.mark.parametrize(
    ("mailbox", "options"),
    [
        pytest.param(NoAuth(), {}, id="no AUTH offered"),
        pytest.param(Server(), {"auth_exclude_mechanism": ["LOGIN", "PLAIN"]}, id="no mechanism"),
    ],
)
async def test_a_server_with_no_way_to_log_in_is_a_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mailbox: Server, options: dict[str, Any]
) -> None:
    """``smtp://user:pass@`` to a server that offers no AUTH, or none of the mechanisms
    the client knows: every retry gets the same answer, so it fails at once, naming the
    setting, instead of being retried for an hour and then dead-lettered."""
    trusting(monkeypatch)
    options = {**options, "authenticator": mailbox.authenticate}
    options = {**options, "tls_context": self_signed(tmp_path), "require_starttls": True}
    with serving(mailbox, **options) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://bob:pw@127.0.0.1:{port}").send(OUT)
    assert not failed.value.retriable
    assert not failed.value.unknown
    assert "SWITCHBOARD_SMTP_URL" in failed.value.answer
    assert "pw" not in failed.value.answer.split()
    assert mailbox.logins == []
    assert mailbox.messages == []


async def test_an_internationalised_address_goes_out_over_smtputf8() -> None:
    """``jürgen@example.com`` (a web form takes it) to a server that offers SMTPUTF8: the
    envelope had been encoded as ASCII and the notifier crashed, again on every restart."""
    mailbox = Server()
    to = Delivery("d-2", "e-2", "auto_reply", "after-hours", "email", "jürgen@example.com")
    out = Outgoing(to, "Your request", "We are on it.\n", "T-1")
    with serving(mailbox, enable_SMTPUTF8=True) as port:
        await transport(f"smtp://127.0.0.1:{port}").send(out)
    [sent] = mailbox.messages
    assert str(sent["To"]) == "jürgen@example.com"


async def test_an_internationalised_address_to_a_server_without_smtputf8_fails_for_good() -> None:
    mailbox = Server()
    to = Delivery("d-3", "e-3", "auto_reply", "after-hours", "email", "jürgen@example.com")
    with serving(mailbox, enable_SMTPUTF8=False) as port, pytest.raises(SendFailed) as failed:
        await transport(f"smtp://127.0.0.1:{port}").send(Outgoing(to, "x", "y\n", "T-1"))
    assert not failed.value.retriable
    assert mailbox.messages == []


async def test_an_internationalised_domain_goes_out_as_its_a_labels_without_smtputf8() -> None:
    """``ada@bücher.example`` (a web form takes it) had been refused for good by a server
    without SMTPUTF8; its domain's A-labels need none."""
    mailbox = Server()
    to = Delivery("d-4", "e-4", "auto_reply", "after-hours", "email", "ada@bücher.example")
    with serving(mailbox, enable_SMTPUTF8=False) as port:
        await transport(f"smtp://127.0.0.1:{port}").send(Outgoing(to, "x", "y\n", "T-1"))
    [sent] = mailbox.messages
    assert str(sent["To"]) == "ada@xn--bcher-kva.example"
