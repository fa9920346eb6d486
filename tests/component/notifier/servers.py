"""The providers a notifier test talks to: a real SMTP server (aiosmtpd) and a local HTTP
server standing in for Twilio's REST API. Both run in threads of the test process and keep
what they received."""

# ruff: noqa: ARG002 - aiosmtpd's hooks and http.server's log_message have fixed signatures

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from router.app.embedded import free_port


@dataclass
class Gate:
    """Holds the SMTP conversation of the ``at``-th message at ``stage`` (``MAIL``: before
    the server has it; ``DATA``: after the server kept it, before its answer) until opened."""

    stage: str
    at: int
    reached: threading.Event = field(default_factory=threading.Event)
    opened: threading.Event = field(default_factory=threading.Event)


@dataclass
class Mailbox:
    messages: list[EmailMessage] = field(default_factory=list)
    mails: int = 0  # MAIL FROM commands seen
    gates: list[Gate] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # recipient -> SMTP reply
    down: str | None = None  # while set, every MAIL FROM gets this reply (an outage)

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages]

    async def _hold(self, stage: str, count: int) -> None:
        for gate in self.gates:
            if gate.stage == stage and gate.at == count and not gate.opened.is_set():
                gate.reached.set()
                while not gate.opened.is_set():  # noqa: ASYNC110 - set from another thread
                    await asyncio.sleep(0.01)

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        self.mails += 1
        if self.down:
            return self.down
        await self._hold("MAIL", self.mails)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        message = message_from_bytes(raw, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        await self._hold("DATA", len(self.messages))
        return "250 Message accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[Mailbox, str]]:
    """A mailbox and the ``smtp://`` URL of the server filling it."""
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()


@dataclass
class TwilioStandIn:
    """Answers ``POST /2010-04-01/Accounts/{sid}/Messages.json`` as Twilio does. A number in
    ``answers`` gets those (status, body) replies in turn before the normal 201."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    retry_after: dict[str, str] = field(default_factory=dict)  # To -> Retry-After of refusals
    times: list[float] = field(default_factory=list)  # time.monotonic() of each request
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reply(self, path: str, auth: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.requests.append({"path": path, "auth": auth, **form})
            self.times.append(time.monotonic())
            queued = self.answers.get(form.get("To", ""), [])
            if queued:
                return queued.pop(0)
            return 201, {"sid": f"SM{len(self.requests):032d}", "status": "queued"}


@contextmanager
def twilio_server() -> Iterator[tuple[TwilioStandIn, str]]:
    standin = TwilioStandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            status, body = standin.reply(self.path, self.headers.get("Authorization", ""), form)
            data = json.dumps(body).encode()
            self.send_response(status)
            wait = standin.retry_after.get(form.get("To", ""))
            if wait is not None and status >= 400:
                self.send_header("Retry-After", wait)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield standin, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
