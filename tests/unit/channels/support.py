"""The ingress app over ASGI for unit tests, with a publisher of the test's own: no
broker, no Redis."""

from __future__ import annotations

from typing import cast

import httpx

from channels.app import create_app
from channels.deps import IngressContext, TicketOwners
from channels.publish import Accepted, Publisher
from router.events import Interaction
from router.observability import Telemetry
from router.settings import Settings


class Remembering:
    """Publishes nothing; keeps each interaction with the provider id it came under."""

    def __init__(self) -> None:
        self.published: list[tuple[str | None, Interaction]] = []

    async def interaction(
        self, source: str, provider_id: str | None, data: Interaction, **_: object
    ) -> Accepted:
        self.published.append((provider_id, data))
        return Accepted(f"{source}#{len(self.published)}", duplicate=False)


def ingress_client(
    settings: Settings,
    publisher: object = None,
    ticket_owners: TicketOwners | None = None,
    *,
    raise_app_exceptions: bool = True,
) -> httpx.AsyncClient:
    """A client of the ingress built on ``settings``, publishing through ``publisher``
    (None: a test in which nothing is published)."""
    ctx = IngressContext(
        settings=settings,
        publisher=cast(Publisher, publisher),
        telemetry=Telemetry(),
        ticket_owners=cast(TicketOwners, ticket_owners),
    )
    app = create_app(ctx)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_app_exceptions)
    return httpx.AsyncClient(transport=transport, base_url="http://ingress")
