"""Stand-ins for a Kafka broker's TLS and SASL, for the start-up check's failures that the
embedded broker (plaintext, no SASL) cannot make: a TLS listener whose certificate the
client does not trust or that wants a client certificate, and a broker that answers
just enough of the protocol (ApiVersions, SaslHandshake, SaslAuthenticate) to refuse a
login. Certificates are made with the ``openssl`` command; a test skips without it.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    SaslAuthenticateResponse_v0,
    SaslHandShakeResponse_v1,
)


def certificate(directory: Path, name: str, *, san: str) -> tuple[Path, Path]:
    """A self-signed certificate valid for ``san`` (``IP:127.0.0.1``, ``DNS:host``), and
    its key, unencrypted."""
    if shutil.which("openssl") is None:
        pytest.skip("makes its certificate with the openssl command, which is not on PATH")
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
         "-out", str(cert), "-days", "1", "-subj", f"/CN={name}",
         "-addext", f"subjectAltName={san}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@contextmanager
def tls_listener(cert: Path, key: Path, *, client_ca: Path | None = None) -> Iterator[int]:
    """A TLS listener on 127.0.0.1 (its port yielded) that speaks no Kafka; with
    ``client_ca`` it wants a client certificate that CA signed. A handshake it fails
    is answered with the TLS alert, as a broker's is: the client's bytes are read
    before the socket closes, or the close would reset the connection before the
    client reads the alert. Blocking sockets in a thread: asyncio's server drops the
    alert."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(client_ca)
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(2)
            tls = context.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            try:
                tls.do_handshake()
            except OSError:  # ssl.SSLError is one
                with socket.socket(fileno=tls.detach()) as raw:
                    _drain(raw)
            else:
                with tls:
                    _drain(tls)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def _drain(sock: socket.socket) -> None:
    try:
        while sock.recv(4096):
            pass
    except OSError:
        pass


Authenticate = Callable[[bytes], tuple[int, bytes]]
"""The broker's answer (error code, SASL bytes) to each SaslAuthenticate's bytes."""


@asynccontextmanager
async def sasl_broker(mechanisms: list[str], authenticate: Authenticate) -> AsyncIterator[int]:
    """A broker on 127.0.0.1 (its port yielded) that offers ``mechanisms`` and answers
    each SaslAuthenticate with ``authenticate``; nothing more of Kafka."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = struct.unpack(">i", await reader.readexactly(4))
                request = await reader.readexactly(size)
                api_key, _, correlation = struct.unpack(">hhi", request[:8])
                (client_id,) = struct.unpack(">h", request[8:10])
                body = request[10 + max(client_id, 0) :]
                if api_key == ApiVersionResponse_v0.API_KEY:
                    supported = [(18, 0, 0), (17, 1, 1), (36, 0, 0)]
                    response = ApiVersionResponse_v0(0, supported).encode()
                elif api_key == SaslHandShakeResponse_v1.API_KEY:
                    response = SaslHandShakeResponse_v1(0, mechanisms).encode()
                else:
                    error, said = authenticate(body[4:])
                    message = "Authentication failed" if error else None
                    response = SaslAuthenticateResponse_v0(error, message, said).encode()
                frame = struct.pack(">i", correlation) + response
                writer.write(struct.pack(">i", len(frame)) + frame)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
