"""Response bodies of the ingress."""

from __future__ import annotations

from pydantic import BaseModel


class AcceptedBody(BaseModel):
    """202: the event is durable on Kafka. ``duplicate``: a provider retry, not re-published."""

    id: str
    duplicate: bool
