"""Reading request bodies: size limit before the body is read whole, content types, forms."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncGenerator, Collection, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from channels.problems import ROOT, Problem, invalid, invalid_fields
from router.actions import json_pointer
from router.codec import nested_too_deep
from router.settings import Settings

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"  # what a browser's FormData sends
# A web form has five fields and Twilio sends about forty; 2,000,000 fields (8 MB) cost
# seconds on the event loop and a quarter of a gigabyte to parse before being ignored.
MAX_FORM_FIELDS = 1000
MESSAGE_BODY_BYTES = 1024 * 1024
"""The least body limit of the endpoints that carry one short message (web form, chat,
voice; ``message_body_limit``)."""
OFF_LOOP_BYTES = 64 * 1024
"""A body larger than this is parsed in a worker thread (``parse_json_off_loop``): its
parse and duplicate-name pass would otherwise hold every other request."""
SURROGATE = re.compile("[\ud800-\udfff]")
MAX_JSON_DEPTH = 128
"""Levels of arrays and objects a JSON body (or one event of a Meta delivery) may nest.
orjson reads 1,024, but the router reads a record of at most ``MAX_EVENT_DEPTH`` (200,
its envelope's levels included) and orjson writes 254: a body deeper than that had
been answered 202 and dead-lettered, or 500. 128 leaves room for the levels an event
adds around what was sent (``data``, ``metadata``), and no real request nests so deep."""


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def single_header(headers: Headers, name: str) -> str | None:
    """The value of a header that holds one value (``Content-Type``, ``Authorization``,
    ``Idempotency-Key``), None when absent. Sent twice, whichever one was read could be
    the one the client (or a gateway in front, reading the other) did not mean: 400 at
    ``/header/<name>``, as FastAPI points at a query parameter (``/query/limit``)."""
    values = headers.getlist(name)
    if len(values) > 1:
        detail = f"the {name} header is repeated; send one"
        raise invalid_fields([{"pointer": f"/header/{name.lower()}", "detail": detail}])
    return values[0] if values else None


def require_media_type(request: Request, *allowed: str) -> str:
    """The body's media type, one of ``allowed``. ``Content-Type`` names one (RFC 9110,
    8.3): sent twice, it is a 400 at ``/header/content-type`` (``single_header``)."""
    single_header(request.headers, "Content-Type")
    found = media_type(request)
    if found not in allowed:
        raise Problem(
            415,
            f"content type {found or '(none)'!r} is not accepted here; use {' or '.join(allowed)}",
        )
    return found


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to exceed ``limit`` bytes;
    the error points at the whole body, as every other 413 points at what is too large."""
    errors = [{"pointer": ROOT, "detail": f"more than {limit} bytes"}]
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise Problem(
            413, f"body of {declared} bytes exceeds the limit of {limit} bytes", errors=errors
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, f"body exceeds the limit of {limit} bytes", errors=errors)
        chunks.append(chunk)
    return b"".join(chunks)


def message_body_limit(settings: Settings) -> int:
    """The body limit of the web form, chat and voice endpoints: one message each, which
    never needs the megabytes email does (``SWITCHBOARD_MAX_BODY_BYTES``), while a body
    of megabytes of JSON cost seconds of the event loop to parse. 1 MiB, or the record
    limit when larger: the longest text such a body can carry (``SWITCHBOARD_MAX_TEXT_BYTES``,
    at most an eighth of the record; a voice transcript of 100,000 characters, which is
    cut to fit) still fits when every character is sent as a 6-byte ``\\uXXXX`` escape,
    so a body that is large for its one long text is still read, and its text cut or
    refused at its field as before. Never more than ``SWITCHBOARD_MAX_BODY_BYTES``."""
    record = settings.limits().record_bytes
    return min(settings.max_body_bytes, max(MESSAGE_BODY_BYTES, record))


async def parse_json_off_loop(raw: bytes, *, own: bool = False) -> Any:
    """``parse_json``, in a worker thread for a body over ``OFF_LOOP_BYTES``: the
    duplicate-name pass is Python, one call per object, and must not hold the loop."""
    if len(raw) <= OFF_LOOP_BYTES:
        return parse_json(raw, own=own)
    return await run_in_threadpool(parse_json, raw, own=own)


def parse_json(raw: bytes, *, own: bool = False) -> Any:
    """The JSON document ``raw``. ``own`` (our own endpoints' bodies, never a provider's
    webhook, taken as sent and read event by event): nested deeper than
    ``MAX_JSON_DEPTH`` is a 400 where it goes too deep (``refuse_too_deep``), and a
    member name repeated in one object is a 400 at it (``repeated_members``), as a
    gateway reading the first of two ``ticket_id``s would see another request than we do."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed("JSON", not_utf8_at(raw) or exc) from None
    if own:
        refuse_too_deep(raw, document)
        repeated = repeated_members(raw) if may_repeat(raw, document) else []
        if repeated:
            detail = "this member name is repeated in its object; send each once"
            raise invalid_fields([{"pointer": where, "detail": detail} for where in repeated])
    return document


def too_deep(raw: bytes, document: Any) -> str | None:
    """The pointer to an array or object of ``document`` (read from ``raw``) nested deeper
    than ``MAX_JSON_DEPTH``, None when none is. A body with fewer brackets than that
    cannot be, and is not walked."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:
        return None
    path = nested_too_deep(document, MAX_JSON_DEPTH)
    return None if path is None else json_pointer(path)


def refuse_too_deep(raw: bytes, document: Any) -> None:
    """400 at the value of ``document`` nested deeper than ``MAX_JSON_DEPTH``."""
    where = too_deep(raw, document)
    if where is not None:
        detail = f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects"
        raise invalid_fields([{"pointer": where, "detail": detail}])


NAME_END = re.compile(rb'"[ \t\n\r]*:')
"""How every member name of a JSON text ends (RFC 8259: a string, whitespace, a colon);
a string value may hold it too, so it is counted at least once per name."""


def may_repeat(raw: bytes, document: Any) -> bool:
    """Whether an object of ``document`` (read from ``raw``) may repeat a member name:
    only when ``raw`` ends more names than ``document``'s objects hold members, which
    spares the common body ``repeated_members``'s second parse."""
    members, stack = 0, [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            members += len(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return len(NAME_END.findall(raw)) > members


class _Repeated(dict[str, Any]):
    """An object in which ``names`` were given more than once (the last value kept)."""

    names: list[str]


def repeated_members(raw: bytes) -> list[str]:
    """The pointer of every member whose name its object repeats (RFC 8259, 4: names
    SHOULD be unique, and parsers differ on which value wins). Call on a document
    ``orjson`` already read: the second, slower parse (stdlib ``json``, one hook call per
    object) is linear in the body, and only bodies the endpoint limits reach it."""
    found = False

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal found
        obj = dict(pairs)
        if len(obj) == len(pairs):
            return obj
        found = True
        repeated = _Repeated(obj)
        repeated.names = names_repeated(name for name, _ in pairs)
        return repeated

    try:
        tree = json.loads(raw, object_pairs_hook=pairs_hook)
    except RecursionError:  # deeper than Python's stack: refused, as orjson refuses deeper
        raise malformed("JSON", ValueError("nested too deeply")) from None
    return [json_pointer(path) for path in _repeated_in(tree)] if found else []


_REPEATED = object()
"""On ``_repeated_in``'s stack: the member before it is one its object repeats."""


def _repeated_in(tree: Any) -> Iterator[list[int | str]]:
    """The path of each member whose name ``tree``'s objects repeat (``_Repeated``), in
    document order. A stack, not recursion: a document may nest as deep as orjson lets."""
    stack: list[tuple[list[int | str], Any]] = [([], tree)]
    while stack:
        path, node = stack.pop()
        if node is _REPEATED:
            yield path
        elif isinstance(node, dict):
            repeated = node.names if isinstance(node, _Repeated) else ()
            members: list[tuple[list[int | str], Any]] = []
            for name, value in node.items():
                if name in repeated:
                    members.append(([*path, name], _REPEATED))
                members.append(([*path, name], value))
            stack.extend(reversed(members))
        elif isinstance(node, list):
            stack.extend(reversed([([*path, index], item) for index, item in enumerate(node)]))


def names_repeated(names: Iterable[str], among: Collection[str] | None = None) -> list[str]:
    """Each name given more than once (of ``among`` only, when given), in order."""
    counts: dict[str, int] = {}
    for name in names:
        if among is None or name in among:
            counts[name] = counts.get(name, 0) + 1
    return [name for name, count in counts.items() if count > 1]


class NotUTF8(ValueError):
    """A JSON body that is not UTF-8 (RFC 8259, 8.1), at byte ``offset`` (from 0)."""

    def __init__(self, offset: int, byte: int) -> None:
        super().__init__(f"the body is not valid UTF-8 at byte {offset} (0x{byte:02X})")
        self.offset = offset


def not_utf8_at(raw: bytes) -> NotUTF8 | None:
    """Where ``raw`` stops being UTF-8, for a body orjson refused: its own message
    ("str is not valid UTF-8: surrogates not allowed: line 1 column 1 (char 0)") names
    neither the reason a client can act on nor the place."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return NotUTF8(exc.start, raw[exc.start])
    return None


def malformed(what: str, exc: Exception) -> Problem:
    """400 for a body that is not the ``what`` it says it is, the error at the root."""
    detail = str(exc) if isinstance(exc, NotUTF8) else f"malformed {what}"
    return Problem(
        400,
        f"malformed {what}: {exc}",
        slug="malformed",
        errors=[{"pointer": "", "detail": detail}],  # the whole body
    )


def form_fields(raw: bytes) -> int:
    """The fields of a form body, counted before any is parsed (an upper bound: empty
    ones too)."""
    return raw.count(b"&") + 1


def check_form_fields(raw: bytes) -> None:
    """413 for a form body of more than ``MAX_FORM_FIELDS`` fields."""
    fields = form_fields(raw)
    if fields > MAX_FORM_FIELDS:
        raise Problem(
            413,
            f"form body of {fields:,} fields exceeds the limit of {MAX_FORM_FIELDS:,} fields",
            errors=[{"pointer": "", "detail": f"more than {MAX_FORM_FIELDS:,} fields"}],
        )


def parse_form_pairs(raw: bytes) -> list[tuple[str, str]]:
    """Every key/value pair in order, repeated keys kept (signatures need them all).

    The form is UTF-8 (Twilio's always is). A percent-escape that is no UTF-8 is 400 at
    its field, never replaced with U+FFFD: every sender whose ``From`` arrived so would
    be one customer. The escapes are read with ``surrogateescape`` to find that field."""
    check_form_fields(raw)
    try:
        text = raw.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=bool(text), errors="surrogateescape"
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise malformed("form body", exc) from None
    for key, value in pairs:
        if not_utf8(value) or not_utf8(key):
            where = ROOT if not_utf8(key) else json_pointer([key])
            raise Problem(
                400,
                f"{where or 'form body'}: percent-escaped bytes that are not UTF-8",
                slug="malformed",
                errors=[{"pointer": where, "detail": "not UTF-8"}],
            )
    return pairs


def not_utf8(text: str) -> bool:
    """Whether ``text`` holds a byte that ``surrogateescape`` kept as no UTF-8."""
    return SURROGATE.search(text) is not None


def parse_form(raw: bytes) -> dict[str, str]:
    return dict(parse_form_pairs(raw))


def refuse_repeated_fields(pairs: Iterable[tuple[str, Any]], fields: Collection[str]) -> None:
    """400 at each of ``fields`` the form gives more than once (``email=a&email=b``): which
    one counts is a guess a gateway in front may make otherwise. Other names may repeat
    (a page's own checkboxes): nothing reads them."""
    repeated = names_repeated((name for name, _ in pairs), among=fields)
    if repeated:
        detail = "this field is repeated in the form; send it once"
        raise invalid_fields(
            [{"pointer": json_pointer([name]), "detail": detail} for name in repeated]
        )


def declared_charset(content_type: str) -> str | None:
    """The ``charset`` parameter of a Content-Type, lowercased; None when there is none."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower() or None
    return None


def text_codec(name: str) -> str:
    """The codec of a declared charset. One Python does not know (or no text encoding,
    as base64) is 415: guessing would store the customer's words garbled."""
    try:
        "".encode(name)  # a text encoding, not base64 or rot13
        return codecs.lookup(name).name
    except LookupError:
        raise Problem(
            415, f"charset {name!r} is unknown; send the form as UTF-8 or in a known charset"
        ) from None


class _StrictMultiPart(MultiPartParser):
    """Starlette's parser, except that a text part is decoded in its own declared charset,
    else the body's, else UTF-8 (as browsers send), strictly: bytes that are no text in
    it are ``400`` and an unknown charset ``415``, where Starlette falls back to Latin-1
    and stores the customer's words garbled."""

    def __init__(self, headers: Headers, raw: bytes) -> None:
        async def once() -> AsyncGenerator[bytes, None]:
            yield raw

        super().__init__(headers, once(), max_files=10, max_fields=50)
        self._body_charset = declared_charset(headers.get("content-type", ""))

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is not None:
            super().on_part_end()
            return
        declared = dict(part.item_headers).get(b"content-type", b"").decode("latin-1")
        codec = text_codec(declared_charset(declared) or self._body_charset or "utf-8")
        self.items.append((part.field_name, bytes(part.data).decode(codec)))


async def parse_multipart(
    raw: bytes, content_type: str, *, once: Collection[str] = ()
) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (a browser's ``FormData``);
    file parts are not read into the event (an attachment has no field here). A field
    of ``once`` sent twice is a 400 at it (``refuse_repeated_fields``)."""
    headers = Headers({"content-type": content_type})
    try:
        form = await _StrictMultiPart(headers, raw).parse()
    except (MultiPartException, ValueError) as exc:
        raise malformed("multipart body", exc) from None
    try:
        fields = [(name, value) for name, value in form.multi_items() if isinstance(value, str)]
        refuse_repeated_fields(fields, once)
        return dict(fields)
    finally:
        await form.close()


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None
