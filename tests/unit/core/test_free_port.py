"""The ports picked for the servers Switchboard starts itself (the embedded broker and
valkey in ``dev``, the bench's roles) lie below the kernel's ephemeral range: a port of
that range can be handed to an outgoing connection before the server binds it, and the
server then fails with "Address already in use" (it did, in a bench run)."""

from __future__ import annotations

import socket

import pytest

from router.app.embedded import LOWEST_PORT, _ephemeral_low, free_port

pytestmark = pytest.mark.unit


def test_a_free_port_is_outside_the_range_outgoing_connections_take() -> None:
    low = _ephemeral_low()
    if low - LOWEST_PORT < 1000:
        pytest.skip(f"this kernel's ephemeral range starts at {low}: no room below it")
    ports = {free_port() for _ in range(200)}
    assert all(LOWEST_PORT <= port < low for port in ports)
    assert len(ports) == 200  # never the same twice: servers started together differ
    with socket.socket() as server:  # and it is free: a server can bind it
        server.bind(("127.0.0.1", ports.pop()))
