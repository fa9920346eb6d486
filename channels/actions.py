"""``POST /v1/actions``: what agents and the helpdesk did, as CloudEvents on
``switchboard.actions``. Bearer tokens from ``SWITCHBOARD_API_TOKENS`` or
``SWITCHBOARD_API_ACTION_TOKENS``.

A request is one action or a list; every item is validated, and every ticket it names
looked up, before anything is published: an invalid item (400), an unknown ticket (404)
or an answer to an offer the ticket does not hold (409) means nothing from the request is
written.

Plain ``application/json`` is this endpoint's own format: an unknown member is a typo and
refused. In the modes of the CloudEvents HTTP binding an SDK may add what the CloudEvents
JSON format allows, extension attributes and ``data_base64``, read as on Kafka
(``router.codec``): the extensions are kept on the event written.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from typing import Annotated, Any, Literal
from urllib.parse import unquote_to_bytes

from fastapi import APIRouter, Depends, Request
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

from channels.action_checks import (
    conflict_of,
    require_offers,
    require_sizes,
    require_targets,
    require_tickets,
    require_unused_ids,
)
from channels.bearer import BEARER, PrivateRoute, authorize
from channels.body import (
    JSON,
    media_type,
    parse_json_off_loop,
    read_body,
    require_media_type,
)
from channels.deps import Ingress
from channels.models import (
    AcceptedBody,
    idempotency_key,
    idempotency_key_parameter,
    problem_response_of,
    problem_responses,
)
from channels.problems import ROOT, PartlyWritten, Problem, at, invalid_fields, validation_errors
from channels.publish import fingerprint_of
from channels.signatures import token_digest
from router.actions import (
    ACTIONS,
    ANY_CONTROL,
    MAX_POSTPONE,
    PREFIX,
    Action,
    Ident,
    NoControls,
    Rfc3339Time,
    TicketAction,
    TicketPostponed,
    action_key,
    canonical_type,
    json_pointer,
    validate_data,
)
from router.codec import is_json_media, json_from_base64
from router.errors import BackendUnavailable, InvalidEvent
from router.events import DATA_BASE64, CloudEvent, received_time, uri_reference, utcnow
from router.ids import OWN_SOURCES, event_id, is_actions_source, scoped_id
from router.topics import Topic
from router.vocabulary import AUTH_ID, AUTH_TYPE, RULES_CHECKED

INGRESS_MARKS = frozenset({RULES_CHECKED, AUTH_TYPE, AUTH_ID})
"""Attributes of an action the ingress alone sets (``ingress_marks``)."""

SOURCE = "/switchboard/actions"
CE_JSON = "application/cloudevents+json"
CE_BATCH = "application/cloudevents-batch+json"
BINARY_PREFIX = "ce-"
MAX_ACTIONS = 500
EXTENSION_NAME = re.compile(r"[a-z0-9]+", re.ASCII)
MAX_NAME = 20  # the longest name the CloudEvents spec recommends (it allows longer)
MAX_EXTENSIONS = 16
MAX_EXTENSION_CHARS = 1024  # a W3C traceparent is 55, a tracestate at most 512
# A URI: a scheme, then printable ASCII (RFC 3986 has no spaces or controls).
URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[!-~]*", re.ASCII)


def json_media_type(value: str) -> str:
    """A ``datacontenttype`` under which ``data`` is JSON: ``application/json`` with any
    parameters (RFC 2046: ``; charset=utf-8``), or a ``+json`` type, as on Kafka
    (``router.codec``)."""
    kind, slash, _ = value.partition(";")[0].strip().partition("/")
    if kind and slash and is_json_media(value):
        return value
    raise PydanticCustomError(
        "json_media_type",
        "the data of an action is JSON: use application/json (parameters such as "
        "charset=utf-8 allowed) or a +json type",
    )


def uri(value: str) -> str:
    """A ``dataschema``: an absolute URI (RFC 3986), as CloudEvents requires."""
    if URI.fullmatch(value) is None:
        raise PydanticCustomError(
            "uri", "not an absolute URI (a scheme, then no spaces or controls)"
        )
    return value


class ActionIn(BaseModel):
    """A CloudEvent with everything but ``type`` and ``data`` optional."""

    model_config = ConfigDict(extra="forbid")

    type: Ident
    data: dict[str, Any]
    id: Ident | None = None
    source: Annotated[Ident, AfterValidator(uri_reference)] | None = None  # CloudEvents
    time: Rfc3339Time | None = None
    subject: Annotated[str, NoControls] | None = None
    specversion: Literal["1.0"] | None = None
    datacontenttype: (
        Annotated[str, StringConstraints(max_length=200), AfterValidator(json_media_type)] | None
    ) = None
    dataschema: Annotated[str, StringConstraints(max_length=2048), AfterValidator(uri)] | None = (
        None
    )


CORE = frozenset(ActionIn.model_fields) | {DATA_BASE64}
"""The names that are no extension attribute: every attribute ``CloudEvent`` has is one."""
Extension = str | int | float | bool


class ListAccepted(AcceptedBody):
    """202 for a list of actions: the contract's ``{id, duplicate}`` for the request as a
    whole, and one ``{id, duplicate}`` per action in the order given."""

    id: str = Field(description="Id of the first action's event.")
    duplicate: bool = Field(description="True when every action was a duplicate.")
    events: list[AcceptedBody]

    @classmethod
    def of(cls, events: list[AcceptedBody]) -> ListAccepted:
        return cls(id=events[0].id, duplicate=all(e.duplicate for e in events), events=events)


class EmptyBatch(BaseModel):
    """202 for an empty CloudEvents batch, which the HTTP binding allows (3.3.2): nothing
    to publish, so no event is named."""

    id: None = Field(default=None, description="Always null: no event was published.")
    duplicate: bool = False
    events: list[AcceptedBody] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Prepared:
    key: str
    event: CloudEvent
    pointer: str  # of the item in the request body: "" for one action, "/3" in a list
    ticket_id: str | None = None
    content: dict[str, Any] | None = None  # the item as compared with a retry's
    fingerprint: str | None = None  # what its id was claimed with (see ``name_events``)
    given_id: bool = False  # the client named the event itself


def ingress_marks(
    prepared: list[Prepared], rules_version: Callable[[], str | None], token: str
) -> list[Prepared]:
    """Each action with the attributes the ingress alone sets (a client's are dropped):
    who sent it, as the CloudEvents authcontext extension has it (``authtype``
    ``api_key``, ``authid`` a digest of the API token, never the token), so a log of the
    actions says which integration did what; and, on one that names a queue, the
    version of the rules its queue was found in (``RULES_CHECKED``). The rules are
    looked at only when an action names a queue."""
    names_queue = any(_names_queue(p.event) for p in prepared)
    version = rules_version() if names_queue else None
    by = {AUTH_TYPE: "api_key", AUTH_ID: token_digest(token)}
    out = []
    for p in prepared:
        event = p.event
        if INGRESS_MARKS & set(event.model_extra or {}):
            event = type(event).model_validate(event.model_dump(exclude=set(INGRESS_MARKS)))
        marks = {**by, **({RULES_CHECKED: version} if version and _names_queue(event) else {})}
        out.append(replace(p, event=event.model_copy(update=marks)))
    return out


def _reserved(envelope: ActionIn, prefix: str) -> dict[str, Any] | None:
    """A source of Switchboard's own, refused from a client: events of a source under
    ``/switchboard/`` keep their id as the key of their effects (``scoped_id``), so an
    action under an inbound channel's source, naming the id of a customer's next message
    there, would make that message a duplicate. The actions' own source (and any under
    it) is the client's to use: its ids of Switchboard's shape are scoped."""
    source = envelope.source
    if source is None or not source.startswith(OWN_SOURCES):
        return None
    if is_actions_source(source):
        return None
    detail = (
        f"sources under {OWN_SOURCES} are Switchboard's own; use {SOURCE}, one under it, or yours"
    )
    return at(f"{prefix}/source", detail)


def _names_queue(event: CloudEvent) -> bool:
    return isinstance(event.data, dict) and bool(event.data.get("queue"))


def _prepare(
    item: Any, prefix: str, errors: list[dict[str, Any]], cloudevents: bool
) -> Prepared | None:
    if not isinstance(item, dict):
        what = "each action" if prefix else "the body"
        errors.append(at(prefix, f"{what} must be a JSON object (a CloudEvent)"))
        return None
    found = len(errors)
    extensions: dict[str, Extension] = {}
    if cloudevents:
        item = _data_from_base64(item, prefix, errors)
        extensions = _extensions(item, prefix, errors)
        item = {name: value for name, value in item.items() if name in CORE}
    try:
        envelope = ActionIn.model_validate(item)
    except ValidationError as exc:
        errors.extend(
            {"pointer": prefix + e["pointer"], "detail": e["detail"]}
            for e in validation_errors(exc)
        )
    else:
        if reserved := _reserved(envelope, prefix):
            errors.append(reserved)
    if len(errors) > found:
        return None
    type_ = canonical_type(envelope.type)
    if type_ is None:
        known = ", ".join(sorted(t.removeprefix("switchboard.") for t in ACTIONS))
        errors.append({"pointer": f"{prefix}/type", "detail": f"unknown type; one of {known}"})
        return None
    action = _action_of(type_, envelope.data, f"{prefix}/data", errors)
    if action is None:
        return None
    when = received_time(envelope.time)
    # a backdated action is applied as of the ticket's last change at the earliest, so
    # an end already past now would change nothing after the 202: judged against now
    judged = max(when, utcnow())
    if isinstance(action, TicketPostponed) and (wrong := _postponement_problem(action, judged)):
        errors.append({"pointer": f"{prefix}/data/until", "detail": wrong})
        return None
    key = action_key(type_, action)
    # kept on the event as the Kafka path keeps them; none can be a core attribute (CORE)
    attributes: dict[str, Extension] = dict(extensions)
    if envelope.dataschema is not None:
        attributes["dataschema"] = envelope.dataschema
    event = CloudEvent(
        id=envelope.id or str(uuid.uuid4()),
        source=envelope.source or SOURCE,
        type=type_,
        subject=envelope.subject or key,
        time=when,
        data=action.model_dump(mode="json", exclude_none=True),
        **attributes,
    )
    # What a retry must repeat: the envelope as filled in (a default spelt out is the
    # same). Not its time: CloudEvents SDKs stamp it when the event is built, so a retry
    # rebuilt from the same action is the same event (same source and id) with another.
    # The extensions and dataschema are part of the event; absent, no member, so that an
    # id claimed before they were read keeps its fingerprint.
    content: dict[str, Any] = {
        "id": envelope.id,
        "type": type_,
        "source": event.source,
        "subject": event.subject,
        "data": event.data,
    }
    if attributes:
        content["attributes"] = attributes
    ticket_id = action.ticket_id if isinstance(action, TicketAction) else None
    return Prepared(key, event, prefix, ticket_id, content, given_id=envelope.id is not None)


def _action_of(type_: str, data: Any, prefix: str, errors: list[dict[str, Any]]) -> Action | None:
    """The action in ``data``, or None with every member it has wrong in ``errors``."""
    unknown = _unknown_members(type_, data, prefix)
    errors.extend(unknown)
    try:
        action = validate_data(type_, data, prefix)
    except InvalidEvent as exc:
        errors.extend({"pointer": e["path"], "detail": e["message"]} for e in exc.errors)
        return None
    return None if unknown else action


def _unknown_members(type_: str, data: Any, prefix: str) -> list[dict[str, Any]]:
    """A member of ``data`` the action does not have (``agentid``, ``coment``), 400 at it:
    the models ignore unknown members, as a record on Kafka from a newer helpdesk may carry
    them, and over HTTP the misspelt field had been dropped with a 202."""
    if not isinstance(data, dict):
        return []
    fields = ACTIONS[type_].model_fields
    known = ", ".join(fields)
    return [
        at(prefix + json_pointer([name]), f"unknown member; one of {known}")
        for name in data
        if name not in fields
    ]


def _data_from_base64(
    item: dict[str, Any], prefix: str, errors: list[dict[str, Any]]
) -> dict[str, Any]:
    """The item with ``data_base64`` decoded into ``data``, as the CloudEvents JSON format
    allows and the Kafka path reads it (``router.codec``): base64 of a JSON object. Else
    a 400 at ``/data_base64``, and an empty ``data`` so that only the rest is judged."""
    if DATA_BASE64 not in item:
        return item
    rest = {name: value for name, value in item.items() if name != DATA_BASE64}
    where = f"{prefix}/{DATA_BASE64}"
    if "data" in item:
        errors.append(at(where, "data and data_base64 are both present; an event carries one"))
        return rest
    encoded = item[DATA_BASE64]
    try:
        data = json_from_base64(encoded)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        errors.append(at(where, "not the base64 of a JSON object (an action's data is one)"))
        return {**rest, "data": {}}
    return {**rest, "data": data}


INT32 = (-(2**31), 2**31 - 1)


def _extensions(
    item: dict[str, Any], prefix: str, errors: list[dict[str, Any]]
) -> dict[str, Extension]:
    """The item's extension attributes (every member that is no core attribute), each
    named by the CloudEvents rule and valued a string, number or boolean; a null one is
    absent (the JSON format). Each that is not so is a 400 at its pointer."""
    found: dict[str, Extension] = {}
    for name, value in item.items():
        if name in CORE:
            continue
        where = prefix + json_pointer([name])
        if problem := _name_problem(name):
            errors.append(at(where, problem))
        elif isinstance(value, str):
            if len(value) > MAX_EXTENSION_CHARS:
                errors.append(at(where, f"longer than {MAX_EXTENSION_CHARS} characters"))
            elif ANY_CONTROL.search(value):
                errors.append(at(where, "holds a control character"))
            else:
                found[name] = value
        elif isinstance(value, bool) or (isinstance(value, int) and INT32[0] <= value <= INT32[1]):
            found[name] = value
        elif isinstance(value, int | float):
            # CloudEvents' Integer is 32-bit, and it has no fractions (its type system)
            errors.append(at(where, "an extension attribute's number is a 32-bit integer"))
        elif value is not None:
            errors.append(at(where, "an extension attribute is a string, number or boolean"))
    if len(found) > MAX_EXTENSIONS:
        errors.append(at(prefix, f"more than {MAX_EXTENSIONS} extension attributes"))
    return found


def _name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a CloudEvents attribute, or None."""
    if EXTENSION_NAME.fullmatch(name) is None:
        return (
            "not a CloudEvents attribute name: lower-case letters a-z and digits 0-9 only "
            "(no upper case, '-' or '_')"
        )
    if len(name) > MAX_NAME:
        return f"attribute name longer than {MAX_NAME} characters (CloudEvents' limit)"
    return None


def _postponement_problem(action: TicketPostponed, when: datetime) -> str | None:
    """Why ``until`` cannot be right for a postponement made at ``when``, or None. A date
    past the limit (``9999-12-31``) is a placeholder, not a plan, and would overflow the
    router's date arithmetic after the 202."""
    if action.until <= when:
        return "is not in the future: a postponement ends later than it is made"
    if action.until > when + MAX_POSTPONE:
        return f"is more than {MAX_POSTPONE.days} days ahead: postpone to a nearer date"
    return None


def prepare(
    body: Any, idempotency_key: str | None = None, scope: str = "", *, cloudevents: bool = False
) -> list[Prepared]:
    """Every action of a request, or a 400 naming every invalid field of every item. An
    action without an ``id`` of its own gets one from the request's ``Idempotency-Key``
    (within ``scope``, the caller's token) and its place in the list, else a random one.
    One action and a list of that one action are the same request. ``cloudevents``: the
    request came in a mode of the CloudEvents binding, whose extensions and
    ``data_base64`` are read."""
    items, prefixes = ([body], [""]) if not isinstance(body, list) else (body, None)
    if prefixes is None:
        if not items:
            raise Problem(400, "empty list of actions", slug="invalid", errors=[at(ROOT, "empty")])
        if len(items) > MAX_ACTIONS:
            detail = f"at most {MAX_ACTIONS} actions per request"
            raise Problem(400, detail, slug="invalid", errors=[at(ROOT, detail)])
        prefixes = [f"/{i}" for i in range(len(items))]
    errors: list[dict[str, Any]] = []
    prepared = [
        _prepare(item, prefix, errors, cloudevents)
        for item, prefix in zip(items, prefixes, strict=True)
    ]
    if errors:
        raise invalid_fields(errors)
    named = name_events([p for p in prepared if p is not None], idempotency_key, scope)
    _require_distinct_ids(named)
    return named


def name_events(
    prepared: list[Prepared], idempotency_key: str | None, scope: str
) -> list[Prepared]:
    """Each action with the fingerprint its id is claimed with: a given id, the item's own
    content; an id named by the Idempotency-Key, the whole request's, so that a key
    reused for any other request (another item, one more or one less) is refused."""
    whole = fingerprint_of([p.content for p in prepared])
    named: list[Prepared] = []
    for index, p in enumerate(prepared):
        if p.given_id:
            named.append(replace(p, fingerprint=fingerprint_of(p.content)))
        elif idempotency_key is not None:
            id_ = event_id(SOURCE, f"key:{scope}\x1f{idempotency_key}\x1f/{index}")
            named.append(
                replace(p, event=p.event.model_copy(update={"id": id_}), fingerprint=whole)
            )
        else:
            named.append(p)
    return named


def token_scope(token: str) -> str:
    """What an Idempotency-Key is scoped by: a digest of the caller's token (never the
    token itself, which would then sit in Redis and in event ids' derivation input)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _require_distinct_ids(prepared: list[Prepared]) -> None:
    """400 at ``/N/id`` for an item naming the id of an earlier item with other content:
    one of them would be dropped as the other's duplicate. Identical copies pass (the
    second is answered ``duplicate``)."""
    first: dict[str, Prepared] = {}
    errors = []
    for p in prepared:
        if not p.given_id:
            continue
        earlier = first.setdefault(scoped_id(p.event.source, p.event.id), p)
        if earlier.fingerprint != p.fingerprint:
            errors.append(at(f"{p.pointer}/id", f"the id of {earlier.pointer} with other content"))
    if errors:
        raise invalid_fields(errors)


def _binary_json(request: Request) -> str | None:
    """JSON for a binary-mode request whose ``Content-Type``, its data's type, is another
    JSON type (``text/json``, ``application/vnd.api+json``), as Kafka's binary mode and
    HTTP's structured mode take it; None for anything else (checked as usual). One with
    no ``Content-Type`` at all is JSON too: ``datacontenttype`` is optional, and an event
    without it is JSON by the CloudEvents default, as the Kafka path reads one."""
    found = media_type(request)
    if not found and "ce-specversion" in request.headers:
        return JSON
    if found in (JSON, CE_JSON, CE_BATCH) or not found or not is_json_media(found):
        return None
    return JSON if is_binary(JSON, request.headers) else None


def is_binary(kind: str, headers: Mapping[str, str]) -> bool:
    """Binary mode: a JSON body with any ``ce-*`` header (header names are case-blind)."""
    return kind == JSON and any(name.lower().startswith(BINARY_PREFIX) for name in headers)


def cloudevents_binding(kind: str, body: Any, headers: Mapping[str, str]) -> Any:
    """The request as this endpoint's plain JSON, from any mode of the CloudEvents HTTP
    binding a helpdesk's SDK may use: structured (``application/cloudevents+json``, one
    event), batch (``application/cloudevents-batch+json``, a list) or binary (the
    attributes as ``ce-*`` headers, the body the event's ``data``)."""
    if kind == CE_BATCH and not isinstance(body, list):
        detail = f"a CloudEvents batch is a JSON array; send one event as {CE_JSON}"
        raise Problem(400, detail, slug="invalid", errors=[at(ROOT, detail)])
    if kind == CE_JSON and isinstance(body, list):
        detail = f"a structured CloudEvent is one JSON object; send a list as {CE_BATCH}"
        raise Problem(400, detail, slug="invalid", errors=[at(ROOT, detail)])
    if not is_binary(kind, headers):
        return body
    return {**binary_attributes(headers), "data": body}


NOT_HEADERS = {
    "data": "the body is the data",
    DATA_BASE64: "the body is the data",
    "datacontenttype": "Content-Type is the data's content type",
}


def binary_attributes(headers: Mapping[str, str]) -> dict[str, str]:
    """The ``ce-*`` headers of a binary-mode request as attributes, each value
    percent-decoded as UTF-8 (HTTP binding 3.1.3.2; bytes sent unencoded are read as
    UTF-8 too, as on Kafka). A header repeated, one that is no attribute or no UTF-8, or
    a missing ``ce-type`` is a 400 at the attribute's pointer."""
    found: dict[str, str] = {}
    errors: list[dict[str, Any]] = []
    for name, raw in headers.items():
        if not name.lower().startswith(BINARY_PREFIX):
            continue
        attribute = name.lower().removeprefix(BINARY_PREFIX)
        header, where = BINARY_PREFIX + attribute, json_pointer([attribute])
        if attribute in found:
            errors.append(at(where, f"binary mode: the {header} header is repeated"))
        elif attribute in NOT_HEADERS:
            errors.append(at(where, f"binary mode: {NOT_HEADERS[attribute]}; no {header}"))
        else:
            try:
                found[attribute] = unquote_to_bytes(raw.encode("latin-1")).decode()
            except UnicodeError:  # starlette read the header's bytes as Latin-1
                detail = f"binary mode: the {header} header is not percent-encoded UTF-8"
                errors.append(at(where, detail))
    if "type" not in found and "/type" not in (e["pointer"] for e in errors):
        errors.append(at("/type", "binary mode: the ce-type header is required"))
    if errors:
        raise invalid_fields(errors)
    return found


def cloudevent_schema(item_schema: dict[str, Any]) -> dict[str, Any]:
    """An action as the CloudEvents modes read it: ``data`` or ``data_base64``, and
    extension attributes besides the core ones."""
    return {
        **item_schema,
        "properties": {
            **item_schema["properties"],
            DATA_BASE64: {"type": "string", "contentEncoding": "base64"},
        },
        "required": ["type"],
        "oneOf": [{"required": ["data"]}, {"required": [DATA_BASE64]}],
        "additionalProperties": {
            "type": ["string", "number", "boolean", "null"],
            "maxLength": MAX_EXTENSION_CHARS,
        },
        "propertyNames": {
            "anyOf": [{"enum": sorted(CORE)}, {"pattern": f"^[a-z0-9]{{1,{MAX_NAME}}}$"}]
        },
    }


COMPONENTS = "#/components/schemas/"


@cache
def action_schemas() -> tuple[dict[str, Any], dict[str, Any]]:
    """One action as ``/v1/actions`` takes it, and the component schemas it refers to:
    the envelope (``ActionIn``) and, per type, the ``data`` that type takes
    (``router.actions.ACTIONS``), so a client generated from the document knows every
    action's fields, as the AsyncAPI document's actions topic says them. Over HTTP a
    member of ``data`` the action does not have is refused (``_unknown_members``): the
    schema says ``additionalProperties: false``, which the models (and so the AsyncAPI
    document, whose records may carry a newer helpdesk's members) do not."""
    components: dict[str, Any] = {}
    per_type = []
    for full, model in sorted(ACTIONS.items()):
        data = model.model_json_schema(ref_template=COMPONENTS + "{model}")
        components.update(data.pop("$defs", {}))
        components[model.__name__] = {**data, "additionalProperties": False}
        short = full.removeprefix(PREFIX)
        per_type.append(
            {
                "title": short,
                "properties": {
                    "type": {"enum": [short, full]},
                    "data": {"$ref": COMPONENTS + model.__name__},
                },
            }
        )
    envelope = ActionIn.model_json_schema(ref_template=COMPONENTS + "{model}")
    return {**envelope, "allOf": [{"oneOf": per_type}]}, components


def action_list(item_schema: dict[str, Any]) -> dict[str, Any]:
    """A list of actions as ``prepare`` takes it: 1 to ``MAX_ACTIONS`` items."""
    return {"type": "array", "items": item_schema, "minItems": 1, "maxItems": MAX_ACTIONS}


def build_router() -> APIRouter:
    router = APIRouter(tags=["actions"], route_class=PrivateRoute)
    item_schema, _ = action_schemas()
    event_schema = cloudevent_schema(item_schema)

    @router.post(
        "/v1/actions",
        status_code=202,
        response_model=ListAccepted | AcceptedBody | EmptyBatch,
        responses={
            **problem_responses(400, 401, 404, 409, 413, 415, 422, 429, 503),
            403: problem_response_of(
                403, "A read token (SWITCHBOARD_API_READ_TOKENS), which may not post actions"
            ),
        },
        summary="Helpdesk actions: one CloudEvent-like object or a list of them",
        description=(
            "Types: " + ", ".join(t.removeprefix("switchboard.") for t in ACTIONS) + ". "
            "One action is answered `{id, duplicate}`; a list with the first action's `id`, "
            "`duplicate` true when every action was one, and `events`: one `{id, duplicate}` "
            "per action in the same order. "
            "A transfer to a queue the rules do not declare is 400, an action naming a "
            "ticket that does not exist 404, an `assignment.accepted` or `.declined` from "
            "an agent the ticket is not offered to 409; in each case nothing is published."
        ),
        dependencies=[Depends(BEARER)],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    JSON: {"schema": {"oneOf": [item_schema, action_list(item_schema)]}},
                    CE_JSON: {"schema": event_schema},
                    CE_BATCH: {"schema": action_list(event_schema)},
                },
            },
            "parameters": [
                idempotency_key_parameter(
                    "the events of the actions that carry no `id` of their own (each by "
                    "its place in the request); keys are scoped by API token: another "
                    "token's same key names other events"
                )
            ],
        },
    )
    async def actions(
        request: Request, ingress: Ingress
    ) -> ListAccepted | AcceptedBody | EmptyBatch:
        settings = ingress.settings
        token = authorize(request, settings.tokens("actions"), settings.tokens("read"))
        kind = _binary_json(request) or require_media_type(request, JSON, CE_JSON, CE_BATCH)
        raw = await read_body(request, ingress.settings.max_body_bytes)
        body = await parse_json_off_loop(raw, own=True)
        cloudevents = kind != JSON or is_binary(kind, request.headers)
        body = cloudevents_binding(kind, body, request.headers)
        if kind == CE_BATCH and body == []:
            return EmptyBatch()
        key = idempotency_key(request.headers)
        prepared = prepare(body, key, token_scope(token), cloudevents=cloudevents)
        await require_targets(prepared, ingress.known_queues(), ingress.known_agents)
        prepared = ingress_marks(prepared, ingress.rules_version, token)
        encoded = require_sizes(prepared, ingress.publisher)
        await require_tickets(prepared, ingress.ticket_owners)
        await require_offers(prepared, ingress.ticket_reads)
        await require_unused_ids(prepared, ingress.publisher)
        answers: list[AcceptedBody] = []
        for item, value in zip(prepared, encoded, strict=True):
            try:
                accepted = await ingress.publisher.publish(
                    Topic.ACTIONS,
                    item.key,
                    item.event,
                    fingerprint=item.fingerprint,
                    conflict=conflict_of(item),
                    encoded=value,
                )
            except BackendUnavailable as exc:
                if not answers:
                    raise
                written = [(p.pointer, a.id) for p, a in zip(prepared, answers, strict=False)]
                raise PartlyWritten(exc, written) from exc
            answers.append(AcceptedBody(id=accepted.id, duplicate=accepted.duplicate))
        return ListAccepted.of(answers) if isinstance(body, list) else answers[0]

    return router
