"""What a WhatsApp Cloud API message says, by its type: the readable text, attachment
metadata and media references, an edit's new content, the ids behind a tapped button or
list row, and a Flow's answers. Pure functions of the message's JSON object; the
envelope around it is read in ``meta_payloads``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from channels.body import MAX_JSON_DEPTH
from router.codec import nested_too_deep
from router.events import Attachment

MEDIA_TYPES = ("image", "video", "audio", "voice", "document", "sticker")
FLOW_ANSWERS = 50
"""Answers of a WhatsApp Flow written into the text and metadata; more are counted."""
FLOW_VALUE_CHARS = 500
FLOW_KEY_CHARS = 100
FLOW_RAW_CHARS = 5000
"""A ``response_json`` that is no JSON object is kept as text up to this length."""


def wa_edited(kind: str, body: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """The message as it reads now: for an ``edit``, the type and body of the edited
    message (a text, or media with its new caption) and the id of the message it
    replaces; any other message is itself, replacing nothing."""
    edit = body.get("edit") if kind == "edit" else None
    if not isinstance(edit, dict):
        return kind, body, None
    message = edit.get("message")
    message = message if isinstance(message, dict) else {}
    inner = message.get("type")
    original = edit.get("original_message_id")
    return (
        inner if isinstance(inner, str) and inner else "text",
        message,
        original if isinstance(original, str) and original else None,
    )


def wa_content(kind: str, body: dict[str, Any]) -> tuple[str, list[Attachment], list[Any]]:
    """Readable text, attachment metadata and media references for one message type."""
    part = body.get(kind)
    part = part if isinstance(part, dict) else {}
    if kind in MEDIA_TYPES:
        ctype = str(part.get("mime_type") or "application/octet-stream")
        name = part.get("filename")
        attachment = Attachment(name=name if isinstance(name, str) else None, content_type=ctype)
        ref = {k: part[k] for k in ("id", "url", "sha256") if k in part}
        return str(part.get("caption") or "").strip(), [attachment], [ref | {"content_type": ctype}]
    render = WA_TEXT.get(kind)
    return (render(part, body).strip() if render else ""), [], []


def wa_reply_ids(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """What the business set behind the button or list row the customer tapped, the one
    thing its bot can act on (the title shown is only the text): a template's quick-reply
    button as ``button_payload``, an interactive button or list row as ``reply_id`` (as
    Messenger's ``postback`` and ``quick_reply``); an answer to the business asking to
    call, as ``call_permission`` (its ``response``, ``expiration_timestamp``...)."""
    part = body.get(kind)
    if not isinstance(part, dict):
        return {}
    if kind == "button":
        found, name = part.get("payload"), "button_payload"
    elif kind == "interactive":
        reply = part.get("button_reply") or part.get("list_reply")
        found, name = (reply.get("id") if isinstance(reply, dict) else None), "reply_id"
    else:
        return {}
    if isinstance(asked := part.get("call_permission_reply"), dict):
        return {"call_permission": asked}
    return {name: found} if isinstance(found, str) and found else {}


def wa_flow_reply(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp Flow's submission (``nfm_reply``): its name, the ``flow_token`` the
    business gave the Flow (what its bot correlates the answers by) and the answers, as
    ``flow_name``, ``flow_token`` and ``flow_response`` (bounded as the text is)."""
    reply = _nfm_reply(body.get(kind)) if kind == "interactive" else None
    if reply is None:
        return {}
    found: dict[str, Any] = {}
    if isinstance(name := reply.get("name"), str) and name:
        found["flow_name"] = name
    answers = _flow_answers(reply.get("response_json"))
    if answers is not None:
        token = answers.pop("flow_token", None)
        if isinstance(token, str) and token:
            found["flow_token"] = token[:FLOW_VALUE_CHARS]
        found["flow_response"] = dict(list(answers.items())[:FLOW_ANSWERS])
    return found


def _nfm_reply(part: object) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        return None
    reply = part.get("nfm_reply")
    return reply if isinstance(reply, dict) else None


def _flow_answers(raw: object) -> dict[str, Any] | None:
    """The answers of ``response_json`` (a JSON object in a string), each key and value
    cut to a bound, a nested value as its compact JSON; None when it is no JSON object,
    or one nested deeper than ``MAX_JSON_DEPTH`` (its text is then kept as it came, cut):
    orjson writes no deeper than 254 levels, and an event no deeper than that limit."""
    if isinstance(raw, dict):
        parsed: object = raw
    elif isinstance(raw, str):
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
    else:
        return None
    if not isinstance(parsed, dict) or nested_too_deep(parsed, MAX_JSON_DEPTH) is not None:
        return None
    return {str(k)[:FLOW_KEY_CHARS]: _flow_value(v) for k, v in parsed.items()}


def _flow_value(value: object) -> Any:
    if isinstance(value, str):
        return value[:FLOW_VALUE_CHARS]
    if value is None or isinstance(value, bool | int | float):
        return value
    return orjson.dumps(value).decode()[:FLOW_VALUE_CHARS]


def _flow_text(reply: dict[str, Any]) -> str:
    """The Flow's closing text (``body``, e.g. "Sent") and one ``key: value`` line per
    answer; a ``response_json`` that is no JSON object is kept as it came, cut."""
    lines = [str(reply.get("body") or "")]
    raw = reply.get("response_json")
    answers = _flow_answers(raw)
    if answers is None:
        lines.append(raw[:FLOW_RAW_CHARS] if isinstance(raw, str) else "")
    else:
        answers.pop("flow_token", None)
        shown = list(answers.items())[:FLOW_ANSWERS]
        lines += [f"{k}: {v if isinstance(v, str) else orjson.dumps(v).decode()}" for k, v in shown]
        if len(answers) > FLOW_ANSWERS:
            lines.append(f"({len(answers) - FLOW_ANSWERS} more answers)")
    return "\n".join(line for line in lines if line)


def _location(part: dict[str, Any], body: dict[str, Any]) -> str:
    del body
    lines = [part.get("name"), part.get("address"), part.get("url")]
    coords = f"{part.get('latitude')}, {part.get('longitude')}"
    return "\n".join(str(x) for x in (*lines, coords) if x)


def _contacts(part: dict[str, Any], body: dict[str, Any]) -> str:
    del part
    cards = body.get("contacts")
    cards = cards if isinstance(cards, list) else []
    return "\n".join(_contact_line(c) for c in cards if isinstance(c, dict))


def _interactive(part: dict[str, Any], body: dict[str, Any]) -> str:
    del body
    if (flow := _nfm_reply(part)) is not None:
        return _flow_text(flow)
    if isinstance(asked := part.get("call_permission_reply"), dict):
        # the customer's answer to the business asking to call them (kept in metadata)
        return f"Call permission: {asked.get('response') or 'answered'}"
    reply = part.get("button_reply") or part.get("list_reply") or {}
    title = [reply.get("title"), reply.get("description")] if isinstance(reply, dict) else []
    return "\n".join(str(x) for x in title if x)


def _order(part: dict[str, Any], body: dict[str, Any]) -> str:
    """A catalog order as an agent reads it: one line per item (quantity, SKU, unit
    price), then the customer's note. The order itself is kept in ``metadata.order``."""
    del body
    items = [i for i in part.get("product_items") or [] if isinstance(i, dict)]
    lines = [f"Order with {len(items)} item(s):"]
    for item in items:
        price = " ".join(str(item[k]) for k in ("item_price", "currency") if item.get(k))
        what = f"{item.get('quantity') or 1} x {item.get('product_retailer_id') or '?'}"
        lines.append(f"- {what}" + (f" at {price}" if price else ""))
    if part.get("text"):
        lines.append(str(part["text"]))
    return "\n".join(lines)


WA_TEXT: dict[str, Callable[[dict[str, Any], dict[str, Any]], str]] = {
    "text": lambda part, _: str(part.get("body") or ""),
    "button": lambda part, _: str(part.get("text") or ""),
    "location": _location,
    "contacts": _contacts,
    "interactive": _interactive,
    "order": _order,
}


def _contact_line(card: dict[str, Any]) -> str:
    name = (card.get("name") or {}).get("formatted_name") or ""
    phones = [p.get("phone") for p in card.get("phones") or [] if isinstance(p, dict)]
    return " ".join(str(x) for x in (name, *phones) if x)
