"""Reading request bodies: size limit before the body is read whole, content types, forms."""

from __future__ import annotations

import codecs
import re
from collections.abc import AsyncGenerator
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson
from fastapi import Request
from pydantic import BaseModel, ValidationError
from starlette.datastructures import Headers
from starlette.formparsers import MultiPartException, MultiPartParser

from channels.problems import ROOT, Problem, invalid, invalid_fields
from router.actions import json_pointer

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"  # what a browser's FormData sends
# A web form has five fields and Twilio sends about forty; 2,000,000 fields (8 MB) cost
# seconds on the event loop and a quarter of a gigabyte to parse before being ignored.
MAX_FORM_FIELDS = 1000
SURROGATE = re.compile("[\ud800-\udfff]")
CONTENT_TYPE_POINTER = "/header/content-type"
"""Where an error in the header points: as FastAPI points at a header (``/query/limit``
for a query parameter)."""


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_media_type(request: Request, *allowed: str) -> str:
    """The body's media type, one of ``allowed``. ``Content-Type`` names one (RFC 9110,
    8.3): sent twice, whichever one was read could be the one the client did not mean."""
    if len(request.headers.getlist("content-type")) > 1:
        detail = "the Content-Type header is repeated; send one"
        raise invalid_fields([{"pointer": CONTENT_TYPE_POINTER, "detail": detail}])
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


def parse_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise malformed("JSON", exc) from None


def malformed(what: str, exc: Exception) -> Problem:
    """400 for a body that is not the ``what`` it says it is, the error at the root."""
    return Problem(
        400,
        f"malformed {what}: {exc}",
        slug="malformed",
        errors=[{"pointer": "", "detail": f"malformed {what}"}],  # the whole body
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


async def parse_multipart(raw: bytes, content_type: str) -> dict[str, str]:
    """The text fields of a ``multipart/form-data`` body (a browser's ``FormData``);
    file parts are not read into the event (an attachment has no field here)."""
    headers = Headers({"content-type": content_type})
    try:
        form = await _StrictMultiPart(headers, raw).parse()
    except (MultiPartException, ValueError) as exc:
        raise malformed("multipart body", exc) from None
    try:
        return {name: value for name, value in form.multi_items() if isinstance(value, str)}
    finally:
        await form.close()


def validate(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None
