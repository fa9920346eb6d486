"""Inbound email: one raw ``message/rfc822`` per request, as an MTA pipe or a mail
provider's "raw MIME" webhook delivers it."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from channels.addresses import Mailbox, parse_addresses
from channels.auto_replies import list_ident, list_ident_of
from channels.body import JSON, read_body, require_media_type
from channels.charsets import without_surrogates
from channels.deps import Ingress, IngressContext
from channels.mail_text import decode_words
from channels.mime import (
    HEADER_END,
    HTML_CUT,
    ParsedEmail,
    parse_email,
    refold_headers,
    skip_banner,
)
from channels.models import AcceptedBody, problem_responses
from channels.problems import Problem
from channels.replies import split_reply
from channels.shared_secret import openapi_parameters, require_secret
from router.actions import ANY_CONTROL
from router.events import Customer, Interaction, ThreadRef, utcnow
from router.ids import message_key

SOURCE = "/switchboard/channels/email"
PATH = "/v1/channels/email"
MEDIA_TYPES = ("message/rfc822", "message/global")
THREADPOOL_ABOVE_BYTES = 32 * 1024
"""Mail larger than this is read off the event loop: the ordinary one (a few KB) costs no
thread hop, and a large one (an HTML table rendered by pure Python, 0.6 s at 256 KB; a
text that keeps the reply header patterns at their limit) holds no other request up."""
DELIVERY = ("delivered-to", "x-original-to", "envelope-to", "x-envelope-to")
MAX_LISTED_ADDRESSES = 100
"""Addresses of one list (``to``, ``cc``...) the event names; the rest are counted
(``cc_omitted``): a mail to 200,000 addresses made an event far over its limit, and the
mail, whose text is cut to fit so that it is never lost, was refused."""
FOLD = re.compile(r"\r?\n(?=[ \t])")
LIST_ID = re.compile(rb"(?im)^list-id[ \t]*:")
#: The suffix a list adds to the writer's name when it rewrites From to its own address:
#: Google Groups' "'Anna' via Support", Mailman's "Anna via Support".
VIA = re.compile(r"\s+via\s+(?=\S)")


@dataclass(frozen=True, slots=True)
class Writer:
    """Who wrote the mail: ``box`` None when From is our own inbox and nothing else names
    the writer; ``source`` is the header it came from."""

    box: Mailbox | None
    source: str = "from"


def provider_id(parsed: ParsedEmail, raw: bytes, sender: str | None) -> str:
    """The Message-ID with its sender (the customer the mail is published under), so a
    redelivered mail is a duplicate while another sender's mail under the same id (a shop
    system that stamps one fixed Message-ID on every message, or two people writing
    through one Google Group) is not lost as one; the bytes' hash when there is no
    Message-ID. The id as threads file it (``message_key``: its domain in lower case), so
    a relay that changed the domain's case delivers no second copy of the mail."""
    if parsed.message_id:
        key = message_key(without_surrogates(parsed.message_id))
        return f"message-id:{key}\x1f{sender or ''}"
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _head(parsed: ParsedEmail, raw: bytes) -> bytes:
    """The header block, after a forwarding banner (as ``parse_email`` read it)."""
    if parsed.prepared is not None:
        raw = parsed.prepared
    else:
        raw, _ = refold_headers(skip_banner(raw)[0])
    end = HEADER_END.search(raw)
    return raw[: end.start()] if end else raw


def _headers(head: bytes, names: tuple[str, ...]) -> dict[str, list[str]]:
    """The unfolded, decoded values of a few headers the parsed message does not keep."""
    msg = BytesHeaderParser(policy=compat32).parsebytes(head)
    found: dict[str, list[str]] = {name: [] for name in names}
    for key, value in msg.raw_items():
        if key.lower() in found:
            text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            found[key.lower()].append(decode_words(FOLD.sub("", text)).strip())
    return found


def names_nobody(box: Mailbox) -> bool:
    """An address holding a control character (``a\\x00@example.com``) names no mailbox:
    as a customer it would be one nobody can answer, keyed on a NUL."""
    return ANY_CONTROL.search(box.email) is not None


def _writer_name(box: Mailbox, written: Mailbox) -> str | None:
    """The writer's own display name, else From's without the list's " via Support"; a
    From name without it is the list's name, not the writer's."""
    if box.name:
        return box.name
    name = written.name or ""
    cuts = [via.start() for via in VIA.finditer(name)]  # the last " via " is the list's
    return (name[: cuts[-1]].strip("'\" ") or None) if cuts else None


def find_writer(
    parsed: ParsedEmail,
    raw: bytes,
    *,
    group_addresses: Iterable[str] = (),
    relay_addresses: Collection[str] = (),
) -> Writer:
    """The customer of a mail: its From, unless From is our own inbox, as when a Google
    Group used as the support address (one of ``group_addresses``) rewrites From to
    itself for a DMARC-strict sender and names the writer in X-Original-Sender and
    Reply-To, or one of our relays (``relay_addresses``, see ``relayed``). Reply-To alone
    never changes the customer of an ordinary mail: a customer may ask for answers
    elsewhere. An address holding a control character is nobody's."""
    sender = parsed.sender
    if sender is None or names_nobody(sender):
        return Writer(None)
    if sender.email in relay_addresses:
        return relayed(parsed, raw, sender, relay_addresses)
    return _writer_of_our_own(parsed, raw, sender, group_addresses)


def _writer_of_our_own(
    parsed: ParsedEmail, raw: bytes, sender: Mailbox, group_addresses: Iterable[str]
) -> Writer:
    """From, unless it is our own inbox or one of our groups: then the writer it names."""
    head = _head(parsed, raw)
    if sender.email != parsed.inbox and LIST_ID.search(head) is None:
        return Writer(sender)  # the usual mail: no second parse of its headers
    headers = _headers(head, ("x-original-sender", "list-id"))
    named = {list_ident(value) for value in headers["list-id"] if value}
    # our list: its List-Id names one of our group addresses. An outside list the inbox
    # subscribes to is addressed To the list as well (so the list is the mail's ``inbox``):
    # its mail is list traffic, flagged, and once our groups are configured it keeps the
    # list as its sender. Unconfigured, From equal to the inbox is still read as ours.
    groups = {list_ident_of(box) for box in group_addresses}
    lists = named & groups
    from_list = list_ident_of(sender.email)
    if groups and from_list in named - lists:
        return Writer(sender)
    own = sender.email == parsed.inbox or from_list in lists
    if not own:
        return Writer(sender)
    ours = {sender.email, parsed.inbox}
    writer = _named_writer(
        parsed,
        sender,
        headers["x-original-sender"],
        lambda address: address in ours or list_ident_of(address) in lists,
    )
    return Writer(None) if writer is None else writer


def relayed(parsed: ParsedEmail, raw: bytes, sender: Mailbox, relays: Collection[str]) -> Writer:
    """The writer of a mail one of our relays sent for them (a website's contact form, a
    shop system: ``SWITCHBOARD_EMAIL_RELAY_ADDRESSES``): the one address its
    X-Original-Sender, else its Reply-To, names, unless that is ours too. Read as From,
    every visitor of the form was one customer, their questions one thread, and the
    auto-reply went to the relay. Without such an address the relay is the customer,
    as any sender is."""
    ours = {*relays, parsed.inbox}
    headers = _headers(_head(parsed, raw), ("x-original-sender",))
    writer = _named_writer(parsed, sender, headers["x-original-sender"], ours.__contains__)
    return Writer(sender) if writer is None else writer


def _named_writer(
    parsed: ParsedEmail, sender: Mailbox, original_sender: list[str], ours: Callable[[str], bool]
) -> Writer | None:
    """The writer a mail sent From an address of ours names: the address in
    X-Original-Sender, else the one address in Reply-To (not several), unless ``ours``
    says it is one of ours again or it names nobody; its name as ``_writer_name`` reads it.
    None when neither header names anyone else."""
    original = parse_addresses(original_sender, decode_words, "x-original-sender")
    candidates = [("x-original-sender", original.boxes[:1])]
    if len(parsed.reply_to) == 1:
        candidates.append(("reply-to", parsed.reply_to))
    for source, boxes in candidates:
        for box in boxes:
            if not ours(box.email) and not names_nobody(box):
                return Writer(Mailbox(box.email, _writer_name(box, sender)), source)
    return None


def to_interaction(parsed: ParsedEmail, size: int, writer: Writer | None = None) -> Interaction:
    """``writer`` None: the customer is From (see ``find_writer``)."""
    writer = writer or Writer(parsed.sender)
    reply = split_reply(parsed.text)
    quoted = "\n\n".join(q for q in (reply.quoted, parsed.quoted) if q) or None
    metadata: dict[str, Any] = {"size": size}
    unread = parsed.addresses_unread
    groups = (
        ("to", parsed.to, unread.get("to", 0)),
        ("cc", parsed.cc, unread.get("cc", 0)),
        ("reply_to", parsed.reply_to, unread.get("reply-to", 0)),
        ("delivered_to", parsed.delivered_to, sum(unread.get(h, 0) for h in DELIVERY)),
    )
    for name, group, not_read in groups:
        if group:
            metadata[name] = [box.email for box in group[:MAX_LISTED_ADDRESSES]]
        omitted = max(0, len(group) - MAX_LISTED_ADDRESSES) + not_read
        if omitted:
            metadata[f"{name}_omitted"] = omitted
    if parsed.auto_reply_reason:
        metadata["auto_reply_reason"] = parsed.auto_reply_reason
    if parsed.html_only:
        metadata["html_only"] = True
    if parsed.warnings:
        metadata["parse_warnings"] = parsed.warnings
    if writer.box is not None and writer.source != "from":
        metadata["customer_from"] = writer.source
    sender = writer.box
    return Interaction(
        channel="email",
        customer=Customer(email=sender.email, name=sender.name) if sender else Customer(),
        inbox=parsed.inbox,
        thread=ThreadRef(
            message_id=parsed.message_id,
            in_reply_to=parsed.in_reply_to,
            references=parsed.references,
        ),
        subject=parsed.subject,
        text=reply.text,
        quoted_text=quoted,
        attachments=parsed.attachments,
        auto_reply=parsed.auto_reply_reason is not None,
        truncated=True if HTML_CUT in parsed.warnings else None,
        sent_at=parsed.date,
        metadata=metadata,
    )


def writable(interaction: Interaction) -> Interaction:
    """The interaction with each lone surrogate in its strings as U+FFFD. The charset
    rules never make one (``charsets.without_surrogates``); this guards every other way
    text comes out of a mail (the stdlib's own decoding of a header): one surrogate left
    in, the event cannot be encoded as UTF-8, a 500 the MTA retries for ever."""
    data = interaction.model_dump()
    try:
        orjson.dumps(data)
    except orjson.JSONEncodeError:  # a surrogate (or a value orjson does not write)
        pass
    else:  # every string is valid UTF-8, which no surrogate is: nothing to replace
        return interaction
    cleaned = _without_surrogates(data)
    return interaction if cleaned == data else Interaction.model_validate(cleaned)


def _without_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return without_surrogates(value)
    if isinstance(value, dict):
        return {_without_surrogates(k): _without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_surrogates(v) for v in value]
    return value


def interpret(
    raw: bytes, *, group_addresses: Iterable[str] = (), relay_addresses: Collection[str] = ()
) -> tuple[ParsedEmail, Interaction | None]:
    """Parse and normalise; no interaction when there is no sender to answer (no From,
    From's address holds a control character, or From is our own inbox and names nobody
    else), unless it is machine mail (a bounce from ``<>`` or a bare ``MAILER-DAEMON``):
    that is published flagged, with no customer, so it is recorded and never opens a
    ticket, instead of being refused.
    ``group_addresses``: ``SWITCHBOARD_EMAIL_GROUP_ADDRESSES``; ``relay_addresses``:
    ``SWITCHBOARD_EMAIL_RELAY_ADDRESSES``."""
    groups = tuple(group_addresses)  # read twice
    parsed = parse_email(raw, group_addresses=groups)
    writer = find_writer(parsed, raw, group_addresses=groups, relay_addresses=relay_addresses)
    if writer.source != "from" and parsed.sender and parsed.sender.email in relay_addresses:
        # a relay may stamp its mail machine-made (Auto-Submitted, Precedence: bulk), but
        # what it relays is a visitor's message, as a customer's own mail is
        parsed = replace(parsed, auto_reply_reason=None)
    if writer.box is None and parsed.auto_reply_reason is None:
        return parsed, None
    return parsed, writable(to_interaction(parsed, len(raw), writer))


async def accept(ingress: IngressContext, request: Request) -> Response:
    """``POST /v1/channels/email``; also served without FastAPI (``channels.app``)."""
    require_media_type(request, *MEDIA_TYPES)
    raw = await read_body(request, ingress.settings.max_body_bytes)
    require_secret(request, raw, ingress.settings.email_secret)
    if not raw.strip():
        raise Problem(400, "empty message", slug="invalid", errors=[_error("", "empty")])
    addresses = {
        "group_addresses": ingress.settings.email_group_addresses,
        "relay_addresses": ingress.settings.email_relay_addresses,
    }
    if len(raw) > THREADPOOL_ABOVE_BYTES:
        parsed, interaction = await run_in_threadpool(interpret, raw, **addresses)
    else:
        parsed, interaction = interpret(raw, **addresses)
    if interaction is None:
        raise _no_sender(parsed)
    # The Date header is the sender's clock; the event time is when it reached us.
    accepted = await ingress.publisher.interaction(
        SOURCE, provider_id(parsed, raw, interaction.customer.email), interaction, time=utcnow()
    )
    return Response(accepted.json(), 202, media_type=JSON)


def build_router() -> APIRouter:
    router = APIRouter(tags=["channels"])

    @router.post(
        PATH,
        status_code=202,
        response_model=AcceptedBody,
        responses=problem_responses(400, 401, 413, 415, 503),
        summary="One inbound email as raw MIME",
        description=(
            "The whole message, headers and body, exactly as received. The Message-ID "
            "names the event, so a redelivery is answered `duplicate: true`."
        ),
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    t: {"schema": {"type": "string", "format": "binary"}} for t in MEDIA_TYPES
                },
            },
            "parameters": openapi_parameters("SWITCHBOARD_EMAIL_SECRET"),
        },
    )
    async def email(request: Request, ingress: Ingress) -> Response:
        return await accept(ingress, request)

    return router


def _no_sender(parsed: ParsedEmail) -> Problem:
    if parsed.sender is None:
        return Problem(
            400,
            "not an email with a sender: no address in From",
            slug="invalid",
            errors=[_error("/headers/from", "no sender address")],
        )
    if names_nobody(parsed.sender):
        return Problem(
            400,
            "/headers/from: the address holds a control character (such as NUL); no mailbox does",
            slug="invalid",
            errors=[_error("/headers/from", "holds a control character (such as NUL)")],
        )
    own = parsed.sender.email
    return Problem(
        400,
        f"not an email with a sender: From is our own inbox {own} and neither "
        "X-Original-Sender nor a single Reply-To names who wrote it",
        slug="invalid",
        errors=[_error("/headers/from", f"our own inbox {own}, not a customer")],
    )


def _error(pointer: str, detail: str) -> dict[str, str]:
    return {"pointer": pointer, "detail": detail}
