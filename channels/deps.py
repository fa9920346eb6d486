"""What every endpoint needs, built once per app and injected with ``Annotated``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from channels.publish import Publisher
from router.health import ReadyCheck
from router.observability import Telemetry
from router.settings import Settings


@dataclass
class IngressContext:
    settings: Settings
    publisher: Publisher
    telemetry: Telemetry
    ready_checks: dict[str, ReadyCheck] = field(default_factory=dict)


def _context(request: Request) -> IngressContext:
    ctx: IngressContext = request.app.state.ingress
    return ctx


Ingress = Annotated[IngressContext, Depends(_context)]
