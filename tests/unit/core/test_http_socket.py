from __future__ import annotations

import socket

import pytest

from router.app.web import bind_http
from router.errors import ConfigError
from router.settings import Settings

pytestmark = pytest.mark.unit


def test_port_is_taken_up_front_as_a_tcp_socket() -> None:
    sock = bind_http(Settings(http_port=0))
    try:
        # asyncio only sets TCP_NODELAY on connections of a socket created as TCP; without
        # it, every response waits ~40 ms for a delayed ACK.
        assert sock.proto == socket.IPPROTO_TCP
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError) as info:
            bind_http(Settings(http_port=port))
        assert info.value.setting == "SWITCHBOARD_HTTP_PORT"
    finally:
        sock.close()
