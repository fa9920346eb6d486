"""The one event model: CloudEvents 1.0 envelopes and every data payload Switchboard speaks.

Adapters build these, consumers read them; nobody defines a parallel copy.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from router.identity import normalize_email
from router.vocabulary import Channel, Priority, Status

MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_DELIVERY_DELAY = timedelta(days=7)
"""The oldest time a sender may give: Meta retries a webhook for up to 7 days."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def received_time(claimed: datetime | None) -> datetime:
    """When an event happened: the time its sender gives, unless it cannot be true; then
    the time it was received. A time in the future (a clock running fast, or a forged
    time) is now: nothing happened after it reached us, and a ticket opened minutes
    ahead would date every later change of it, an agent's reply too, in windows that have
    not begun (far ahead, SLA clocks that never run out). One older than any provider
    delivers late (a device clock at 1970) would open a ticket breached at birth and
    revise metric windows closed long ago. On Kafka the router bounds the future against
    the record's timestamp, another machine's clock (``consumers.work.event_time``). In
    UTC, whatever offset the sender wrote, as every time Switchboard writes."""
    now = utcnow()
    if claimed is None or claimed < now - MAX_DELIVERY_DELAY or claimed > now:
        return now
    return claimed.astimezone(UTC)  # the instant the sender gave, written in UTC


RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)
DATA_BASE64 = "data_base64"


def rfc3339(text: str) -> datetime:
    """An RFC 3339 timestamp, strictly: a date, a time and a zone (``Z`` or an offset;
    ``-00:00`` is UTC), the separator ``T``, ``t`` or a space. Fractions finer than a
    microsecond are cut; a leap second (``23:59:60``) is the last microsecond of its
    minute. Anything else (an epoch number, a date alone, no zone) is a ValueError:
    pydantic's own parsing reads ``"1700000000"`` as Unix seconds."""
    found = RFC3339.fullmatch(text)
    if found is None:
        raise ValueError(text)
    year, month, day, hour, minute, seconds, fraction, zulu, sign, off_h, off_m = found.groups()
    second = int(seconds)
    micro = int(fraction[:6].ljust(6, "0")) if fraction else 0
    if second == 60:  # the leap second
        second, micro = 59, 999_999
    if zulu:
        zone = UTC
    else:
        if int(off_h) > 23 or int(off_m) > 59:
            raise ValueError(text)
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    return datetime(
        int(year), int(month), int(day), int(hour), int(minute), second, micro, tzinfo=zone
    )


def rfc3339_time(value: Any) -> Any:
    """A time field as CloudEvents write it: RFC 3339 text, or a datetime from Python;
    never a number (pydantic's own parsing reads ``"1700000000"`` as Unix seconds). For
    a ``mode="before"`` validator: the ``CloudEvent`` time and every time of an action or
    a channel's JSON (``router.actions.Rfc3339Time``)."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        return rfc3339(value) if isinstance(value, str) else rfc3339("")
    except ValueError:
        raise PydanticCustomError(
            "rfc3339", "not an RFC 3339 timestamp (e.g. 2025-01-31T09:30:00Z)"
        ) from None


def in_utc_if_any(value: datetime) -> datetime:
    """The same instant in UTC; a time without a zone, or with no instant in UTC (year 1
    at +23:59: a sender's claim, judged where it is used), as given."""
    if value.tzinfo is None:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return value


def utc_instant(value: datetime | None) -> datetime | None:
    """For a ``mode="after"`` validator of a time Switchboard acts on (an event's or an
    action's time, the end of a postponement): ``0001-01-01T00:00:00+01:00`` is valid
    RFC 3339 but no instant Python can hold in UTC, and one such action had stopped the
    router. A channel's claimed send time is not judged here: the time received
    replaces a time that cannot be true (``received_time``)."""
    if value is not None and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            raise PydanticCustomError(
                "utc_range", "outside the years 0001 to 9999 once in UTC"
            ) from None
    return value


_URI_CHARS = r"A-Za-z0-9\-._~!$&'()*+,;="  # unreserved and sub-delims (RFC 3986, 2.2 and 2.3)
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_URI_CHARS}:@]|{_PCT})"
_AUTHORITY = (
    rf"(?:(?:[{_URI_CHARS}:]|{_PCT})*@)?"  # userinfo
    rf"(?:\[(?:[0-9A-Fa-f:.]+|v[0-9A-Fa-f]+\.[{_URI_CHARS}:]+)\]|(?:[{_URI_CHARS}]|{_PCT})*)"
    r"(?::[0-9]*)?"
)
_PATH_ABEMPTY = rf"(?:/{_PCHAR}*)*"
_URI_REFERENCE = re.compile(
    rf"(?:[A-Za-z][A-Za-z0-9+.\-]*:(?://{_AUTHORITY}|(?!//){_PCHAR}*){_PATH_ABEMPTY}"  # a URI
    rf"|(?://{_AUTHORITY}|(?!//)(?:[{_URI_CHARS}@]|{_PCT})*){_PATH_ABEMPTY})"  # or relative
    rf"(?:\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?",
    re.ASCII,
)
_NOT_IN_URIS = re.compile(rf"[^{_URI_CHARS}:@/?#\[\]%]", re.ASCII)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def uri_reference(value: str) -> str:
    """A CloudEvents ``source``: a URI-reference (RFC 3986, 4.1), as CloudEvents 1.0
    requires and its JSON schema says (``format: uri-reference``): no spaces, quotes,
    controls or other characters the grammar leaves out unless percent-encoded, and a
    ``%`` only as an escape. The error says what is wrong first, so a sender can fix it."""
    if _URI_REFERENCE.fullmatch(value) is not None:
        return value
    if (bad := _NOT_IN_URIS.search(value)) is not None:
        problem = f"{bad[0]!r} at offset {bad.start()} is not allowed (percent-encode it)"
    elif (bad := _BAD_ESCAPE.search(value)) is not None:
        problem = f"'%' at offset {bad.start()} is not followed by two hex digits"
    else:
        problem = "a scheme, authority, path, query or fragment is malformed"
    raise PydanticCustomError(
        "uri_reference", "not a URI reference (RFC 3986): {problem}", {"problem": problem}
    )


URI_REFERENCE_SCHEMA = {"format": "uri-reference"}
UriReference = Annotated[
    str, Field(min_length=1, json_schema_extra=URI_REFERENCE_SCHEMA), AfterValidator(uri_reference)
]
"""A ``source`` as an ingress takes it from a sender: a 400 at the field when it is not
a URI-reference (``channels.actions`` is where HTTP reads one)."""


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in structured JSON mode. Extension attributes are kept,
    except ``data_base64``: the codec decodes it into ``data`` (``router.codec``), and
    one left over (beside ``data``, or where it is not read) makes the event invalid."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1, json_schema_extra=URI_REFERENCE_SCHEMA)]
    """Read as written, as ``dataschema`` is: a record on Kafka is another producer's
    word, judged by what it carries; what Switchboard itself accepts to publish is
    checked where it is received (``UriReference``)."""
    type: Annotated[str, Field(min_length=1)]
    subject: str | None = None
    time: datetime | None = None
    datacontenttype: str = "application/json"
    data: dict[str, Any] | None = None

    @field_validator("time", mode="before")
    @classmethod
    def _rfc3339_time(cls, value: Any) -> Any:
        return rfc3339_time(value)

    @field_validator("datacontenttype", mode="before")
    @classmethod
    def _null_is_json(cls, value: Any) -> Any:
        """``null`` is the attribute unset (JSON format 3.1): the default, JSON."""
        return "application/json" if value is None else value

    @field_validator("time")
    @classmethod
    def _utc_instant(cls, value: datetime | None) -> datetime | None:
        return utc_instant(value)

    @model_validator(mode="after")
    def _no_data_base64(self) -> Self:
        extra = self.__pydantic_extra__
        if extra and None in extra.values():  # a null attribute is one not set (JSON format 3.1)
            for name in [name for name, value in extra.items() if value is None]:
                del extra[name]
        if extra and DATA_BASE64 in extra:
            if "data" in self.model_fields_set:
                problem = "data and data_base64 are both present; an event carries one"
            else:
                problem = "data_base64 is only read in a structured-mode event's JSON"
            raise PydanticCustomError(DATA_BASE64, problem)
        return self


# --- switchboard.interaction.received ---------------------------------------------------


class Customer(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str | None = Field(
        default=None,
        description="An address: something before the last @, a domain without spaces after "
        "it (a name alone is refused; the channels judge their addresses more closely).",
        pattern=r"^.*[^\s@].*@[^@\s]+$",
    )
    phone: str | None = Field(default=None, description="E.164", pattern=r"^\+[1-9][0-9]{1,14}$")
    handles: dict[str, str] = Field(default_factory=dict, description="Per-channel handles.")
    name: str | None = None

    def identities(self) -> list[str]:
        """Every identity key this customer is known by, strongest first."""
        keys = []
        if self.email:
            keys.append(f"email:{_email_key(self.email)}")
        if self.phone:
            keys.append(f"phone:{self.phone}")
        keys.extend(f"{ch}:{handle}" for ch, handle in sorted(self.handles.items()))
        return keys


def _email_key(email: str) -> str:
    """One spelling per address, whichever adapter wrote it: an internationalised domain
    as ASCII (the email adapter reads ``bücher.example`` from headers as punycode)."""
    try:
        return normalize_email(email)
    except ValueError:
        return email.lower()


class ThreadRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    message_id: str | None = None
    in_reply_to: str | None = None
    references: list[str] = Field(default_factory=list)
    conversation_id: str | None = None
    call_id: str | None = None


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str | None = None
    content_type: str = Field(
        default="application/octet-stream",
        validation_alias=AliasChoices("content_type", "type"),
    )
    size: int | None = Field(default=None, ge=0, description="Bytes; absent when unknown.")

    @computed_field(description="The media type again, under the contract's name for it.")  # type: ignore[prop-decorator]
    @property
    def type(self) -> str:
        return self.content_type


class Interaction(BaseModel):
    """``switchboard.interaction.received``: one customer message, any channel."""

    model_config = ConfigDict(frozen=True)

    channel: Channel
    customer: Customer
    inbox: str | None = None
    thread: ThreadRef = Field(default_factory=ThreadRef)
    subject: str | None = None
    text: str = ""
    quoted_text: str | None = None
    truncated: bool | None = Field(
        default=None, description="True when text or quoted_text was cut to the size limit."
    )
    language: str | None = None
    attachments: list[Attachment] = Field(default_factory=list)
    auto_reply: bool = False
    sent_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("sent_at")
    @classmethod
    def _sent_in_utc(cls, value: datetime | None) -> datetime | None:
        """The same instant in UTC, as every time Switchboard writes (a chat's or a
        call's ``+02:00`` came out as given, an email's Date in ``Z``)."""
        return None if value is None else in_utc_if_any(value)

    def sender_key(self) -> str:
        """The record key on the inbound topic: the strongest identity of the sender."""
        ids = self.customer.identities()
        return ids[0] if ids else f"{self.channel}:anonymous"


# --- ticket lifecycle -------------------------------------------------------------------


class SlaClock(BaseModel):
    due: datetime | None = None
    warn_at: datetime | None = None
    breached: bool = False
    warned: bool = False
    met_at: datetime | None = None
    # the priority the due time was timed for: a breached clock is not re-timed when an
    # escalation changes the priority, and its wait is counted by this one (None: a
    # clock timed by an earlier version, counted by the ticket's priority)
    priority: Priority | None = None
    # the business seconds from the clock's start to ``due`` as it was timed: what is
    # read back to find the start (``consumers.domain.sla``) once the rules' target has
    # changed (a reload) or the due time was set at a change (an escalation); None: a
    # clock timed by an earlier version, read back by the target
    allowed_seconds: float | None = None


class Ticket(BaseModel):
    """The snapshot carried as ``data.ticket`` by every lifecycle event."""

    id: str
    status: Status = "new"
    channel: Channel
    channels_seen: list[Channel] = Field(default_factory=list)
    # the channel of the customer's latest contact, when it is not the one the ticket was
    # opened on: a waiting ticket asks for a seat there (a chat followed up by email)
    last_channel: Channel | None = None
    customer_id: str
    inbox: str | None = None
    subject: str | None = None
    queue: str | None = None
    priority: Priority = "normal"
    tags: list[str] = Field(default_factory=list)
    assignee: str | None = None
    assigned_at: datetime | None = None
    accepted: bool = False
    assignment_round: int = 0
    declined_by: list[str] = Field(default_factory=list)  # agents who declined it
    skipped_until: dict[str, datetime] = Field(default_factory=dict)  # timed out: skip until
    # of skipped_until, who let an offer lapse: passed over while another agent can take
    # the ticket, not barred (one who transferred it away is barred until the skip ends)
    lapsed: list[str] = Field(default_factory=list)
    unaccepted: int = 0  # offers timed out since the last accepted one
    queued_at: datetime | None = None
    sla_policy: str | None = None
    sla: dict[str, SlaClock] = Field(default_factory=dict)
    contacts: int = 0
    agent_replies: int = 0
    reopen_count: int = 0
    message_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None
    # whether its resolution was first contact (``.resolved``'s ``first_contact``), which
    # a reopen takes back; None when not resolved, or resolved before it was recorded
    resolved_first_contact: bool | None = None
    # who resolved it (the resolving action's agent_id, else the assignee then): whom its
    # per-agent fcr counted, so the takeback and later feedback count for them too. Kept
    # through a reopen until the next resolution; None: nobody, or never resolved
    resolved_by: str | None = None
    # the queue its resolution counted in (fcr), kept with resolved_by: a reopen's
    # takeback lands there even when a transfer moved the resolved ticket meanwhile
    resolved_queue: str | None = None
    last_customer_at: datetime | None = None
    last_reply_at: datetime | None = None  # the last public agent reply
    postponed_until: datetime | None = None
    rules_version: str | None = None
    follow_up_of: str | None = None  # the closed ticket a reply to it followed up
    handle_seconds: float = 0  # agent handling time: replies' handle_seconds, calls
    language: str | None = None  # of the first message that said or showed one
    language_source: str | None = None  # channel | detected | crm
    participants: list[str] = Field(default_factory=list)  # other customers who wrote


# --- metric records (plain JSON, not CloudEvents) ---------------------------------------


class Window(BaseModel):
    start: datetime
    end: datetime


class MetricRecord(BaseModel):
    metric: Literal["sla", "fcr", "satisfaction", "workload"]
    window: Window
    dimensions: dict[str, str]
    counters: dict[str, int]
    values: dict[str, float | None] = Field(default_factory=dict)
    revision: int
    final: bool = False
    emitted_at: datetime
    definition_hash: str | None = None  # fcr: the rules' FCR definition it counts under
    # fcr, only when the rules changed within the window: every definition counted under
    # (definition_hash is then the last one's)
    definition_hashes: list[str] | None = None

    def key(self) -> str:
        return metric_key(self.metric, self.window.start, self.dimensions)


def iso(ts: datetime) -> str:
    """RFC 3339 in UTC with a Z, second precision where the value has no fraction."""
    text = ts.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def metric_key(metric: str, window_start: datetime, dimensions: dict[str, str]) -> str:
    """``<metric>/<window start>/<name=value,...>`` (names sorted). In a value the key's
    own separators are percent-encoded (``%`` ``/`` ``,`` ``=`` only, so keys of ordinary
    values read as before): an agent named ``x/y,z=1`` cannot make two windows share a
    key, or one key read as another window."""
    escaped = str.maketrans({"%": "%25", "/": "%2F", ",": "%2C", "=": "%3D"})
    dims = ",".join(f"{k}={v.translate(escaped)}" for k, v in sorted(dimensions.items()))
    return f"{metric}/{iso(window_start)}/{dims}"
