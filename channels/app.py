"""The HTTP ingress app factory. The composition root builds the context and serves it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from channels import actions, body, chat, email, meta, twilio, voice, webform
from channels.admission import Admission, Gate
from channels.auth_failures import AuthFailures
from channels.deps import IngressContext
from channels.models import CHALLENGE, SERVER_ANSWERS, challenge, problem_responses
from channels.problems import Problem, install_handlers, instance_path, problem_response
from channels.signatures import PROVIDER_CHALLENGES, SIGNATURE_HEADER
from router.health import add_health_routes
from router.http_metrics import Measure, serving_route

RETRY_AFTER_S = 5
UTF8_OR_SUBSET = frozenset({None, "utf-8", "utf8", "us-ascii", "ascii"})


def create_app(ctx: IngressContext) -> FastAPI:
    app = IngressApp(
        title="Switchboard ingress",
        version="1",
        description="Channel adapters: every provider's input becomes one CloudEvent on Kafka.",
        # Our metrics are Prometheus (/metrics). FastAPI's native OpenTelemetry hook would
        # look for global providers on every request, a tenth of a web form's cost.
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # No 307 from /v1/channels/sms/ to /v1/channels/sms: Starlette would build it on
        # the internal address (http://, the proxy's upstream), and a provider following
        # it would post there or be refused. A path with a trailing slash is unknown (404).
        redirect_slashes=False,
        docs_url=None,  # served below from our own copy of Swagger UI, not from a CDN
        redoc_url=None,
    )
    add_docs(app)
    app.state.ingress = ctx
    app.state.auth_failures = AuthFailures()  # wrong bearer tokens per client address
    install_handlers(app, RETRY_AFTER_S)
    for module in (email, chat, twilio, meta, voice, webform, actions):
        app.include_router(module.build_router())
    add_health_routes(app, ctx.telemetry, lambda: ctx.ready_checks)
    app.add_middleware(JsonIsUtf8, routed=served)  # inside CORS: a browser reads the 415 too
    limits = ctx.settings
    gate = Gate(
        limits.http_max_work_bytes,
        limits.http_queue_wait_s,
        limits.http_shed_after_s,
        RETRY_AFTER_S,
    )
    app.add_middleware(Admission, gate=gate)  # inside CORS too, outside the work
    origins = ctx.settings.cors_origin_list()
    if origins:  # pages on these origins may post from a browser (preflight answered)
        app.add_middleware(BrowserCors, origins=origins)
    app.add_middleware(Measure, telemetry=ctx.telemetry)
    if origins:  # the hot paths skip the middleware stack: every answer needs CORS headers
        return app
    routes = (HotRoute(webform.PATH, webform.accept), HotRoute(email.PATH, email.accept))
    hot = HotPaths({r.path: r for r in routes}, ctx, app.exception_handlers)
    app.hot = hot
    app.hot_app = Measure(Admission(JsonIsUtf8(hot, routed=hot.served), gate), ctx.telemetry)
    return app


BROWSER_PATHS = frozenset({webform.PATH, chat.PATH})
"""What a page posts to from a browser: the web form and a chat widget. The actions and
the read API take an API token, which no page should hold: they answer no preflight
and give no ``Access-Control-Allow-Origin``, so a browser lets no page read them."""


class ProblemCors(CORSMiddleware):
    """Starlette's CORS, with a refused preflight (an origin, method or header not
    allowed) answered as every other error is: problem+json, ``Cache-Control: no-store``
    (Starlette's is ``text/plain``), the same status and CORS headers."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code < 400:
            return answer
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-type", "content-length")
        }
        # Starlette's text names what was refused: "Disallowed CORS origin, method"
        detail = f"preflight refused: {bytes(answer.body).decode()}"
        return problem_response(Problem(answer.status_code, detail, headers=kept))


class BrowserCors:
    """CORS (``SWITCHBOARD_CORS_ORIGINS``) on ``BROWSER_PATHS`` alone; other paths go
    straight to ``app``."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = ProblemCors(
            app,
            allow_origins=origins,
            allow_methods=["GET", "POST"],
            # authorization: a chat widget's bearer (SWITCHBOARD_CHAT_SECRET)
            allow_headers=["content-type", "authorization", "idempotency-key"],
            max_age=600,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in BROWSER_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


SWAGGER_UI = Path(__file__).parent / "static" / "swagger-ui"
DOCS_ASSETS = "/docs/static"


def add_docs(app: FastAPI) -> None:
    """``/docs``: Swagger UI on the app's OpenAPI document, its script and styles served
    by the app itself (``static/swagger-ui``), so the page works where the ingress cannot
    reach a CDN, as behind a company's proxy."""

    async def docs(_: Request) -> Response:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} - docs",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon-32x32.png",
            # no badge from validator.swagger.io: it would send it the document's address
            swagger_ui_parameters={"validatorUrl": None},
        )

    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)
    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")


class IngressApp(FastAPI):
    """FastAPI, with a ``POST`` to one of the busiest endpoints (``HotPaths``) answered
    before its middleware stack: under load, FastAPI's routing through included routers,
    dependency solving and the wrappers of each middleware layer cost as much as a web
    form's own work. Everything else (other methods and paths) is FastAPI's, whose routes
    also document these endpoints in the OpenAPI schema and serve them if called."""

    hot: HotPaths | None = None
    hot_app: ASGIApp | None = None

    def openapi(self) -> dict[str, Any]:
        """FastAPI's document, with its generic validation ``422`` replaced by what this
        app answers to a request it cannot validate: ``400`` problem+json with field
        paths. A ``422`` an endpoint declares itself (a reused Idempotency-Key) stays.

        Every operation may be answered ``431`` by the HTTP server (``channels.protocol``);
        the ``401`` of an endpoint names the challenge it sends (``_challenge``)."""
        if self.openapi_schema is None:
            document = super().openapi()
            for operations in document.get("paths", {}).values():
                for operation in operations.values():
                    responses = operation.get("responses", {})
                    if _is_validation_error(responses.get("422")):
                        del responses["422"]
                        responses.setdefault("400", problem_responses(400)[400])
                    sent = _challenge(operation)
                    if "401" in responses and sent is not None:
                        responses["401"].setdefault("headers", {}).update(sent)
            declare_server_answers(document)
            _, per_type = actions.action_schemas()  # what each action type's data takes
            document.setdefault("components", {}).setdefault("schemas", {}).update(per_type)
            document.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
            document.get("components", {}).get("schemas", {}).pop("ValidationError", None)
            self.openapi_schema = document
        return self.openapi_schema

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.hot_app is not None
            and self.hot is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] in self.hot.routes
        ):
            scope["app"] = self
            await self.hot_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _challenge(operation: dict[str, Any]) -> dict[str, Any] | None:
    """The ``WWW-Authenticate`` declaration of the operation's ``401``: ``Bearer`` when it
    takes a bearer token (``actions.authorize``: the ``HTTPBearer`` scheme) or a shared
    secret as a bearer token or a signature (``shared_secret.require_secret``); the
    provider's ``Signature`` challenge when it checks a provider's webhook signature
    (Twilio, Meta: ``signatures.PROVIDER_CHALLENGES``, by the header it reads)."""
    if any("HTTPBearer" in requirement for requirement in operation.get("security", ())):
        return CHALLENGE
    names = [p.get("name") for p in operation.get("parameters", ())]
    if SIGNATURE_HEADER in names:
        return CHALLENGE
    for name in names:
        if name in PROVIDER_CHALLENGES:
            return challenge(PROVIDER_CHALLENGES[name])
    return None


def declare_server_answers(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with what the HTTP server (``channels.protocol``) may answer before
    any app sees a request declared on every operation: ``400`` (a request it cannot
    read), ``408`` (too slow), ``431`` (headers too large). An operation's own ``400``
    keeps its description."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, answer in SERVER_ANSWERS.items():
                responses.setdefault(status, {**answer})
    return document


def document_server_answers(app: FastAPI) -> None:
    """``app``'s OpenAPI document declares what the server answers for it
    (``declare_server_answers``), as the ingress's does: for another app served by
    Switchboard's HTTP server, the ops app of the consumer roles."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = declare_server_answers(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _is_validation_error(response: dict[str, Any] | None) -> bool:
    """Whether an OpenAPI response is FastAPI's own: JSON naming ``HTTPValidationError``."""
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")


Handler = Callable[[IngressContext, Request], Awaitable[Response]]
ErrorHandler = Callable[[Request, Exception], Response | Awaitable[Response]]


@dataclass(frozen=True, slots=True)
class HotRoute:
    """A ``POST`` endpoint served by ``HotPaths``; ``path`` also labels its metrics."""

    path: str
    handler: Handler


class HotPaths:
    """Serves its routes with the handlers the FastAPI routes call too; what a handler
    raises goes to the app's own exception handlers (the ``Exception`` one answers 500,
    and the exception is raised on for the server to log, as Starlette's server error
    middleware does), so answers and errors are the same either way."""

    def __init__(
        self,
        routes: Mapping[str, HotRoute],
        context: IngressContext,
        on_error: Mapping[Any, ErrorHandler],
    ) -> None:
        self.routes = routes
        self._context = context
        self._on_error = on_error

    def served(self, scope: Scope) -> bool:
        """A request that reaches ``HotPaths`` is one of its routes: the scope names it."""
        scope["route"] = self.routes[scope["path"]]
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.routes[scope["path"]]
        scope["route"] = route
        request = Request(scope, receive)
        try:
            response = await route.handler(self._context, request)
        except Exception as exc:  # the handlers answer before anything is sent
            handler, unexpected = self._handler(exc)
            if handler is None:
                raise
            answer = handler(request, exc)
            response = await answer if inspect.isawaitable(answer) else answer
            if unexpected:
                await response(scope, receive, send)
                raise
        await response(scope, receive, send)

    def _handler(self, exc: Exception) -> tuple[ErrorHandler | None, bool]:
        """The handler for ``exc``, and whether it is the catch-all (a server error)."""
        for cls in type(exc).__mro__:
            if cls in self._on_error:
                return self._on_error[cls], cls is Exception
        return None, True


class JsonIsUtf8:
    """415 for a JSON body declared in a charset other than UTF-8, before any endpoint
    reads it. JSON between systems is UTF-8 (RFC 8259, section 8.1), and every endpoint
    parses it so: a ``charset=utf-16`` body would be misread or refused as malformed
    without a word about why. No charset, or ``utf-8`` (or ASCII, a subset of it), is
    what every client sends.

    415 too for a body in a content coding (``Content-Encoding: gzip``), whatever its
    type (RFC 9110, 15.5.16): no endpoint decodes one (no decompression bomb to guard
    against), and read as it is, it would be refused as malformed JSON or form data.

    Only for a request some route serves (``routed``): an unknown path is 404 and a wrong
    method 405 whatever the body. ``routed`` is asked only about a refused request, so
    every other one costs nothing more than the look at its headers."""

    def __init__(self, app: ASGIApp, routed: Callable[[Scope], bool]) -> None:
        self.app = app
        self._routed = routed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = _non_utf8_json(scope)
            if problem is not None and self._routed(scope):
                await problem_response(problem, instance_path(scope))(scope, receive, send)
                return
        await self.app(scope, receive, send)


def served(scope: Scope) -> bool:
    """Whether a route of the app (``scope["app"]``) serves the request, path and method,
    as the app's router would pick one; the scope then names the route on the path, for
    the metrics, as routing does."""
    route = serving_route(scope)
    if route is None:
        return False
    scope["route"] = route
    return True


def _non_utf8_json(scope: Scope) -> Problem | None:
    found = None
    for name, value in scope["headers"]:
        if name == b"content-encoding":
            codings = [c.strip() for c in value.decode("latin-1").lower().split(",")]
            unsupported = [c for c in codings if c and c != "identity"]
            if unsupported:
                detail = (
                    f"content coding {unsupported[0][:40]!r} is not supported; "
                    "send the body unencoded (Content-Encoding: identity)"
                )
                return Problem(415, detail, headers={"Accept-Encoding": "identity"})
        elif name == b"content-type" and found is None:
            found = _charset_problem(value.decode("latin-1"))
    return found


def _charset_problem(content_type: str) -> Problem | None:
    if not content_type.split(";", maxsplit=1)[0].strip().lower().endswith("json"):
        return None  # JSON and its +json kinds (CloudEvents) only
    charset = body.declared_charset(content_type)
    if charset in UTF8_OR_SUBSET:
        return None
    detail = f"JSON is UTF-8 (RFC 8259); charset {charset!r} is not accepted"
    return Problem(415, detail)
