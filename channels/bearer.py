"""The private routes' door: ``Authorization: Bearer`` with one of
``SWITCHBOARD_API_TOKENS`` (actions and the read API), ``SWITCHBOARD_API_READ_TOKENS``
(the read API only) or ``SWITCHBOARD_API_ACTION_TOKENS`` (actions only), and
``Cache-Control: no-store`` on every answer they give."""

from __future__ import annotations

from fastapi import Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from starlette.types import Message, Receive, Scope, Send

from channels.auth_failures import wrong_token
from channels.body import single_header
from channels.problems import Problem
from channels.signatures import INVALID_BEARER, matches_any

# Documents the scheme in OpenAPI; the check itself is authorize(), constant-time.
BEARER = HTTPBearer(
    auto_error=False,
    description="One of SWITCHBOARD_API_TOKENS; or, for the read API only, of "
    "SWITCHBOARD_API_READ_TOKENS; for actions only, of SWITCHBOARD_API_ACTION_TOKENS.",
)


def authorize(
    request: Request, tokens: frozenset[str], others: frozenset[str] = frozenset()
) -> str:
    """The request's bearer token, one of ``tokens``; else 401 saying which part is
    wrong (never echoing what was sent). A bearer token given but not one of them is
    ``error="invalid_token"`` in the challenge (RFC 6750, 3.1); a request without one
    gets the bare challenge. Sent twice, the header is a 400 (``single_header``): a
    gateway in front may have judged the other one. A wrong token counts against the
    client's address in the app's ``AuthFailures``, and past its limit is answered 429;
    a right one is never held back (behind a load balancer every client may share one
    address, and a guesser could otherwise lock every integration out). A token of
    ``others`` (one with another scope: a read token on an action) is a 403
    ``insufficient_scope``: it is known, so no guess, and not counted."""
    header = single_header(request.headers, "Authorization") or ""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    challenge = 'Bearer realm="switchboard"'
    if not tokens and not others:
        wrong = "no API tokens are configured"
    elif not header.strip():
        wrong = "missing Authorization header: send Authorization: Bearer <token>"
    elif scheme.lower() != "bearer" or not token:
        wrong = "the Authorization header is not a bearer token: send Bearer <token>"
    elif not matches_any(token, tokens) and matches_any(token, others):
        raise Problem(
            403,
            "this token may not do this: a read token reads, an action token posts actions "
            "(SWITCHBOARD_API_TOKENS may do both)",
            slug="token-scope",
            headers={"WWW-Authenticate": challenge + ', error="insufficient_scope"'},
        )
    elif not tokens:  # only tokens of another scope: nothing here to guess
        wrong = "no API tokens for this route are configured"
    elif not matches_any(token, tokens):
        wrong = INVALID_BEARER
        challenge += ', error="invalid_token"'
        wrong_token(request, token)
    else:
        return token
    raise Problem(401, wrong, slug="token", headers={"WWW-Authenticate": challenge})


class PrivateRoute(APIRoute):
    """A route whose answers, errors included, may carry personal data: each says
    ``Cache-Control: no-store``, so no proxy or browser keeps a copy."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().handle(scope, receive, no_store(send))


def no_store(send: Send) -> Send:
    """``send``, adding ``Cache-Control: no-store`` to the answer's headers."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message.get("headers", ()) if k != b"cache-control"]
            message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
        await send(message)

    return sending
