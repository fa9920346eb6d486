"""The least an HTTP ingress can do, as the yardstick for ours: read the body, await one
acked produce of it, answer 202. Served by ``web.serve`` (the same uvicorn settings,
protocol and socket options as the ingress) in a process of its own, started like a role
(``python -m router.app.bench.baseline``, settings from the environment) and run under
the CLI's own event loop setup, so the two differ only in what the app does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiokafka import AIOKafkaProducer

from router.app.bench.clients import running
from router.kafka import make_producer
from router.settings import load_settings
from router.topics import Topic, TopicNames

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

ACCEPTED = b'{"id":"baseline","duplicate":false}'


def baseline_app(producer: AIOKafkaProducer, topic: str) -> App:
    """``GET`` anything: 200 (ready once serving: the producer started first). ``POST``:
    the body produced to ``topic`` with ``acks=all``, then 202."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        status, body = 200, b"{}"
        if scope["method"] == "POST":
            chunks = []
            more = True
            while more:
                message = await receive()
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            await (await producer.send(topic, value=b"".join(chunks)))
            status, body = 202, ACCEPTED
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main() -> None:
    from router.app.console import run_until_signal
    from router.app.web import bind_http, serve

    settings = load_settings()
    sock = bind_http(settings)

    async def run(stop: asyncio.Event) -> None:
        producer = make_producer(settings)
        async with running(producer):
            app = baseline_app(producer, TopicNames(settings.topic_prefix)(Topic.INBOUND))
            await serve(app, sock, stop, None)

    run_until_signal(run)


if __name__ == "__main__":
    main()
