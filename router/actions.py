"""Actions from the helpdesk side (contract section 6): one model per action type.

The HTTP ingress validates with these before publishing to ``switchboard.actions``; the
router validates again when it consumes, because a helpdesk may write to Kafka directly.
Unknown extra fields are ignored so that a newer helpdesk does not break an older router.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from router.errors import InvalidEvent
from router.events import CloudEvent, rfc3339_time, utc_instant
from router.identity import normalize_email, normalize_phone
from router.vocabulary import CHANNELS, MAX_CAPACITY, Channel

PREFIX = "switchboard."
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
"""C0 control characters other than tab and line breaks: no text a person wrote holds
one, and a NUL breaks the databases, mail headers and JSON consumers downstream."""
ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def strip_controls(value: Any) -> Any:
    """Text without ``CONTROL`` characters, as the email channel reads it; anything
    else as it is (its own type check judges it)."""
    return CONTROL.sub("", value) if isinstance(value, str) else value


def refuse_controls(value: str) -> str:
    """An id, handle, phone number or queue name as given; one holding a control
    character (a NUL, a line break) names nothing real and is refused where it is."""
    if ANY_CONTROL.search(value):
        raise PydanticCustomError(
            "control_character", "holds a control character (such as NUL); no id does"
        )
    return value


Clean = BeforeValidator(strip_controls)
"""For text fields (subjects, messages, names): control characters removed first, so
that the field's own limits judge what is left."""


class _NoControls:
    """``refuse_controls`` after the field's own checks, declared in its JSON Schema as
    the pattern it enforces, so a client built from the OpenAPI document knows it."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(refuse_controls, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        declared = handler(schema)
        if declared.get("type") == "string" and "pattern" not in declared:
            declared["pattern"] = NO_CONTROLS_PATTERN
        return declared


NO_CONTROLS_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
NoControls = _NoControls()
"""For ids, identities, handles and names of things: control characters refused (400
at the field)."""
Ident = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControls
]
Text = Annotated[str, StringConstraints(max_length=100_000), Clean]
Name = Annotated[str, StringConstraints(max_length=200), Clean]
"""A person's display name."""


def in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


ClaimedTime = Annotated[AwareDatetime, BeforeValidator(rfc3339_time)]
"""A sender's claimed time in a channel's JSON: RFC 3339 only, with its zone; one that
cannot be true is replaced by the time received where it is published."""
Rfc3339Time = Annotated[ClaimedTime, AfterValidator(utc_instant)]
"""A time field of an action: RFC 3339 only, with its zone, and an instant in UTC."""


MAX_HANDLE_SECONDS = 24 * 3600
"""The longest one reply (or one call's talk, hold or wrap) may take: anything longer is a
wrong unit or a bug in the sender, and would distort every handle-time metric it joins."""
HandleSeconds = Annotated[
    float, Field(ge=0, le=MAX_HANDLE_SECONDS, allow_inf_nan=False, strict=True)
]
"""Seconds as a JSON number (an integer or a fraction), never a string or a boolean."""
MAX_POSTPONE = timedelta(days=366)
"""How far ahead a postponement may end: a year and a day covers every real "after the
holidays" or "next annual renewal"; beyond it a date is a placeholder (9999-12-31) whose
arithmetic would overflow downstream."""


class Action(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class TicketAction(Action):
    ticket_id: Ident


class AgentReplied(TicketAction):
    agent_id: Ident
    public: StrictBool
    handle_seconds: HandleSeconds | None = None
    text: Text | None = None  # an internal reply's goes into its ``.note_added``


def not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("blank", "is blank: a note says something")
    return value


class NoteAdded(TicketAction):
    agent_id: Ident | None = None
    text: Annotated[Text, AfterValidator(not_blank)]


class TicketResolved(TicketAction):
    agent_id: Ident | None = None


class TicketReopened(TicketAction):
    agent_id: Ident | None = None
    reason: Text | None = None


class TicketClosed(TicketAction):
    agent_id: Ident | None = None


class TicketTransferred(TicketAction):
    # the document says what ``_has_target`` checks (validators are not in the schema)
    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["queue"]}, {"required": ["agent_id"]}]}
    )

    queue: Ident | None = None
    agent_id: Ident | None = None

    @model_validator(mode="after")
    def _has_target(self) -> TicketTransferred:
        if self.queue is None and self.agent_id is None:
            raise ValueError("give queue or agent_id (or both)")
        return self


class TicketPostponed(TicketAction):
    # in UTC, as every time Switchboard stores: the snapshot's ``postponed_until``
    until: Annotated[Rfc3339Time, AfterValidator(in_utc)]
    agent_id: Ident | None = None


class AssignmentAccepted(TicketAction):
    agent_id: Ident


class AssignmentDeclined(TicketAction):
    agent_id: Ident
    reason: Text | None = None


class Feedback(TicketAction):
    comment: Text | None = None


class FeedbackCsat(Feedback):
    score: Annotated[int, Field(ge=1, le=5, strict=True)]


class FeedbackNps(Feedback):
    score: Annotated[int, Field(ge=0, le=10, strict=True)]


class FeedbackCes(Feedback):
    score: Annotated[int, Field(ge=1, le=7, strict=True)]


Seats = Annotated[int, Field(ge=0, le=MAX_CAPACITY, strict=True)]


class AgentPresence(Action):
    agent_id: Ident
    status: Literal["online", "away", "offline"]
    skills: list[Ident] | None = None
    capacity: dict[Channel, Seats] | None = Field(
        default=None, description=f"Concurrent tickets per channel ({', '.join(CHANNELS)})."
    )


INT64 = range(-(2**63), 2**64)
"""The integers JSON is read to (orjson's range); a larger one is read as a float."""


def as_json_numbers(value: Any) -> Any:
    """``value`` with every integer outside ``INT64`` as a float, as orjson reads such a
    number: a structured CloudEvent is read by another parser, which keeps it whole, and
    the profile could then not be written (orjson refuses it), stopping the router."""
    if isinstance(value, dict):
        return {k: as_json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json_numbers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in INT64:
        try:
            return float(value)
        except OverflowError:  # over 1e308: no float holds it either
            raise ValueError("a number too large to keep (over 1e308)") from None
    return value


class CustomerUpserted(Action):
    """CRM enrichment and identity merge: email and phone are normalised like inbound."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": [name]} for name in ("id", "email", "phone")]}
    )

    id: Ident | None = None
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=40)
    name: Name | None = None
    tier: Ident | None = None
    language: Annotated[str, StringConstraints(max_length=35), NoControls] | None = None
    attributes: dict[str, Any] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value is not None else None

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value is not None else None

    @field_validator("attributes")
    @classmethod
    def _attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return as_json_numbers(value) if value is not None else None

    @model_validator(mode="after")
    def _identified(self) -> CustomerUpserted:
        if self.id is None and self.email is None and self.phone is None:
            raise ValueError("give at least one of id, email, phone")
        return self


ACTIONS: dict[str, type[Action]] = {
    PREFIX + name: model
    for name, model in (
        ("agent.replied", AgentReplied),
        ("ticket.note_added", NoteAdded),
        ("ticket.resolved", TicketResolved),
        ("ticket.reopened", TicketReopened),
        ("ticket.closed", TicketClosed),
        ("ticket.transferred", TicketTransferred),
        ("ticket.postponed", TicketPostponed),
        ("assignment.accepted", AssignmentAccepted),
        ("assignment.declined", AssignmentDeclined),
        ("feedback.csat", FeedbackCsat),
        ("feedback.nps", FeedbackNps),
        ("feedback.ces", FeedbackCes),
        ("agent.presence", AgentPresence),
        ("customer.upserted", CustomerUpserted),
    )
}


def canonical_type(name: str) -> str | None:
    """``agent.replied`` or ``switchboard.agent.replied`` -> the latter; None if unknown."""
    full = name if name.startswith(PREFIX) else PREFIX + name
    return full if full in ACTIONS else None


def json_pointer(loc: Sequence[int | str]) -> str:
    """An RFC 6901 JSON Pointer for a pydantic error location: ``""`` for the whole
    document, ``/1`` for a list item, ``~`` and ``/`` in names escaped. Pydantic's
    ``[key]`` marker (the key of a map entry is invalid) is dropped: the pointer names the
    entry, as a pointer cannot name a key itself."""
    return "".join(
        "/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc if part != "[key]"
    )


def _errors(exc: ValidationError, prefix: str) -> list[dict[str, object]]:
    return [
        {
            "path": prefix + json_pointer(err["loc"]),
            "message": err["msg"].removeprefix("Value error, "),
        }
        for err in exc.errors()
    ]


def validate_data(type_: str, data: Any, prefix: str = "/data") -> Action:
    """The action model for a canonical type; InvalidEvent with JSON-pointer paths."""
    model = ACTIONS.get(type_)
    if model is None:
        known = ", ".join(sorted(t.removeprefix(PREFIX) for t in ACTIONS))
        path = prefix.rsplit("/", 1)[0] + "/type"
        raise InvalidEvent(
            f"unknown action type {type_!r}; one of {known}",
            [{"path": path, "message": f"unknown action type; one of {known}"}],
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = _errors(exc, prefix)
        raise InvalidEvent(f"{errors[0]['path']}: {errors[0]['message']}", errors) from None


def parse_action(event: CloudEvent) -> Action:
    """The validated action an event carries (type with or without the prefix)."""
    return validate_data(canonical_type(event.type) or event.type, event.data)


def action_key(type_: str, action: BaseModel) -> str:
    """The record key: the ticket id, ``agent:<id>`` or ``customer:<id|email|phone>``."""
    del type_  # the model says it all; kept in the signature for callers that route by type
    if isinstance(action, TicketAction):
        return action.ticket_id
    if isinstance(action, AgentPresence):
        return f"agent:{action.agent_id}"
    if isinstance(action, CustomerUpserted):
        return f"customer:{action.id or action.email or action.phone}"
    raise TypeError(f"no key for {type(action).__name__}")
