"""Kafka clients that are always closed, even when Ctrl-C cancels the bench mid-start:
an unclosed aiokafka client complains on stderr long after the one line that matters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Protocol


class Client(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@asynccontextmanager
async def running(*clients: Client) -> AsyncIterator[None]:
    """Start ``clients`` in order; on the way out stop each one, in reverse order, even
    if it never started (aiokafka warns about those too) or stopping another one was
    cancelled."""
    async with AsyncExitStack() as stack:
        for client in clients:
            stack.push_async_callback(client.stop)
        for client in clients:
            await client.start()
        yield
