"""Chat, voice and email: the caller proves it knows ``SWITCHBOARD_CHAT_SECRET`` /
``SWITCHBOARD_VOICE_SECRET`` / ``SWITCHBOARD_EMAIL_SECRET``, by bearer token or by
signing the body (see
``signatures.shared_secret_problem``). Without a secret the endpoint is open; ``run``
refuses to serve it open on a public address unless ``SWITCHBOARD_OPEN_CHANNELS`` says
that is on purpose.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import Request
from pydantic import SecretStr

from channels.auth_failures import wrong_token
from channels.body import single_header
from channels.problems import Problem
from channels.signatures import INVALID_BEARER, MAX_SKEW_S, SIGNATURE_HEADER, TIMESTAMP_HEADER
from channels.signatures import shared_secret_problem as problem_with


def require_secret(request: Request, raw: bytes, secret: SecretStr | None) -> None:
    """401 unless the request carries the secret (nothing to check when none is set).

    Each of its headers holds one value: sent twice, 400 (``single_header``), as the
    actions' token is. A bearer token given but wrong says ``error="invalid_token"`` in
    the challenge (RFC 6750, 3.1), as ``/v1/actions`` does, and counts against the
    client's address as a wrong API token does (logged; past the limit, 429)."""
    if secret is None:
        return
    headers = request.headers
    wrong = problem_with(
        secret.get_secret_value(),
        raw,
        authorization=single_header(headers, "Authorization"),
        timestamp=single_header(headers, TIMESTAMP_HEADER),
        signature=single_header(headers, SIGNATURE_HEADER),
        now=time.time(),
    )
    if wrong is not None:
        challenge = 'Bearer realm="switchboard"'
        if wrong == INVALID_BEARER:
            challenge += ', error="invalid_token"'
            token = (single_header(headers, "Authorization") or "").partition(" ")[2].strip()
            wrong_token(request, token)  # a guess, counted as a wrong API token is
        raise Problem(401, wrong, slug="signature", headers={"WWW-Authenticate": challenge})


def openapi_parameters(setting: str) -> list[dict[str, Any]]:
    """The headers of the shared-secret scheme, for the OpenAPI document."""
    when = f"When {setting} is set: this, or Authorization: Bearer <secret>."
    return [
        {
            "name": TIMESTAMP_HEADER,
            "in": "header",
            "required": False,
            "description": f"{when} Unix seconds, within {MAX_SKEW_S} s of the server's clock.",
            "schema": {"type": "string"},
        },
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": False,
            "description": f'{when} sha256=<hex HMAC-SHA256(secret, "<timestamp>." + body)>.',
            "schema": {"type": "string"},
        },
    ]
