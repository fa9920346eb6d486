"""The fuzz suite: hypothesis over every HTTP endpoint, the MIME parser and the rule
loader. Example counts are modest in ``make test`` and larger in ``make faults``
(``FAULTS_SCALE=large``), through two hypothesis profiles applied per test (never loaded
globally, so the other property tests keep their own settings).

The ingress runs on a real embedded broker and valkey, in an event loop of its own:
every request runs on it with a deadline, so a request that hangs fails the example
instead of the suite."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from hypothesis import HealthCheck, settings
from pydantic import SecretStr

from router.app import web
from router.app.embedded import EmbeddedServices
from router.topic_admin import ensure_topics
from tests.conftest import make_settings
from tests.faults.harness import Scale

T = TypeVar("T")
TOKEN = "fuzz-token"
REQUEST_DEADLINE_S = 15.0
"""Longer than any answer may take (the Kafka request timeout, 5 s by default): past it
the request is taken to hang."""

settings.register_profile(
    "fuzz-small",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
)
settings.register_profile(
    "fuzz-large",
    parent=settings.get_profile("fuzz-small"),
    max_examples=400,
)
FUZZ = settings.get_profile("fuzz-large" if Scale.from_env().large else "fuzz-small")
_prefixes = itertools.count()


class Loop:
    """An event loop of the fuzz suite's own, run only while a request is in flight: its
    tasks (the producer's, the Redis client's) never run while hypothesis draws, which
    must see the global ``random`` untouched. ``run`` waits with a deadline."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = REQUEST_DEADLINE_S) -> T:
        try:
            return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))
        except TimeoutError:
            raise AssertionError(f"no answer within {timeout}s: a hang") from None

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@dataclass
class Ingress:
    """The ingress app over ASGI, called synchronously from hypothesis tests."""

    loop: Loop
    client: httpx.AsyncClient

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run(self.client.request(method, path, **kwargs))


@pytest.fixture(scope="module")
def fuzz_ingress(services: EmbeddedServices) -> Iterator[Ingress]:
    """The ingress with an API token and no provider secrets (signatures are then not
    checked, so fuzzed bodies reach the parsers), on topics of its own."""
    config = make_settings(
        services, f"z{os.getpid()}x{next(_prefixes)}", api_tokens=SecretStr(TOKEN)
    )
    loop = Loop()
    loop.run(ensure_topics(config), 60)
    context: AbstractAsyncContextManager[web.Ingress] = web.ingress(config)
    ingress = loop.run(context.__aenter__(), 60)
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=ingress.app), base_url="http://ingress"
    )
    try:
        yield Ingress(loop, client)
    finally:
        loop.run(client.aclose(), 30)
        loop.run(context.__aexit__(None, None, None), 30)
        loop.close()
