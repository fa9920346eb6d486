"""Address headers as real mail writes them: lenient, and saying where it was lenient.

The stdlib's ``getaddresses`` splits on a comma inside an RFC 2047 display name
(``=?iso-8859-1?Q?M=FCller,=20Anna?=``), glues words after an address into it, and gives
up on ``Name addr@host`` without brackets. This parser splits on commas outside quotes,
brackets, comments and encoded words, then takes from each mailbox the one address it
holds. Whatever it had to repair (a missing bracket, junk after the address, a trailing
dot in the domain) is returned as a warning for the event's metadata, so an agent can
see why a sender looks the way it does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from router.actions import CONTROL
from router.identity import normalize_email

ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=")
ANGLE = re.compile(r"<([^<>]*@[^<>]*)>")
BARE = re.compile(r"[^\s<>()\[\]\\,;:\"@]+@[^\s<>()\[\]\\,;:\"@]+")
#: An address whose local part is quoted (``"john.smith"@example.com``), as RFC 5322
#: allows and mailers write a Japanese carrier's dotted address (``"taro..yamada"@...``)
QUOTED_LOCAL = re.compile(r'"(?:[^"\\\s]|\\.)+"@[^\s<>()\[\]\\,;:"@]+')
COMMENT = re.compile(r"\((?:[^()\\]|\\.)*\)")
QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
SPACE = re.compile(r"\s+")
_DOMAIN = r"@(?:\[[^\]<>]*\]|[^\s,:\[\]<>@]+)"
#: RFC 5322's obsolete source route before the address: ``<@relay.test:alice@example.com>``
ROUTE = re.compile(rf"^[\s,]*{_DOMAIN}(?:\s*,\s*(?:{_DOMAIN})?)*\s*:\s*")


@dataclass(frozen=True, slots=True)
class Mailbox:
    email: str
    name: str | None = None


@dataclass
class Addresses:
    boxes: list[Mailbox]
    warnings: list[str]


def _split(value: str) -> list[str]:
    """Mailbox chunks: commas/semicolons outside quotes, <>, () and encoded words."""
    if "," not in value and ";" not in value:
        return [value]  # no separator at all (one mailbox, as most headers hold): one chunk
    chunks: list[str] = []
    start = depth_paren = 0
    in_quote = in_angle = False
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "=" and value.startswith("=?", i) and not in_quote:
            word = ENCODED_WORD.match(value, i)
            if word:
                i = word.end()
                continue
        if ch == "\\":
            i += 2
            continue
        if ch == '"' and not depth_paren:
            in_quote = not in_quote
        elif not in_quote:
            if ch == "(":
                depth_paren += 1
            elif ch == ")" and depth_paren:
                depth_paren -= 1
            elif ch == "<" and not depth_paren:
                in_angle = True
            elif ch == ">" and not depth_paren:
                in_angle = False
            elif ch in ",;" and not (depth_paren or in_angle):
                chunks.append(value[start:i])
                start = i + 1
        i += 1
    chunks.append(value[start:])
    return chunks


def _display(text: str, decode: Callable[[str], str]) -> str | None:
    text = text.strip()
    if ":" in text and not text.startswith('"'):
        # a group's name ("Team: Anna <a@x>"): what follows the colon is the display name
        text = text.rsplit(":", 1)[1] if '"' not in text.split(":", 1)[0] else text
    text = QUOTED.sub(lambda m: re.sub(r"\\(.)", r"\1", m.group(1)), text)
    return _unwrapped(_name(decode(text))) or None


def _name(text: str) -> str:
    """A display name without control characters, as Subject is read and the other
    channels read names (``router.actions.strip_controls``): a NUL or an escape sequence
    is no part of anyone's name, and breaks what shows it."""
    return SPACE.sub(" ", CONTROL.sub("", text)).strip()


def _unwrapped(name: str) -> str:
    """A name without the quotes around it (an encoded word that held them) or an
    unpaired one at an end; the quotes within it stay: ``OOO "Romashka"`` had lost its
    closing quote, ``ФГУП "СибНИА..."`` as well."""
    if len(name) > 1 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    if name.count('"') % 2:
        name = name[1:] if name.startswith('"') else name[:-1] if name.endswith('"') else name
    return name.strip()


def _comment_name(text: str) -> str | None:
    comments = COMMENT.findall(text)
    if len(comments) == 1 and not COMMENT.sub("", text).strip():
        return comments[0][1:-1].strip() or None
    return None


def _trailing(after: str, warn: Callable[[str], None]) -> None:
    """What follows an address is dropped; say what there was."""
    rest = COMMENT.sub("", after).strip()
    if rest.startswith(">"):
        warn("stray '>' after the address")
        rest = rest.lstrip(">").strip()
    if rest:
        warn("text after the address ignored")


def _mailbox(chunk: str, decode: Callable[[str], str], warn: Callable[[str], None]) -> Mailbox:
    """One mailbox from one chunk; raises ValueError when it holds no address."""
    angle = ANGLE.search(chunk)
    if angle is not None:
        addr, before, after = angle.group(1).strip(), chunk[: angle.start()], chunk[angle.end() :]
        if ROUTE.match(addr):
            warn("source route before the address removed")
            addr = ROUTE.sub("", addr, count=1)
        _trailing(after, warn)
        name = _display(COMMENT.sub("", before), decode)
    else:
        bare = QUOTED_LOCAL.search(chunk) or BARE.search(
            QUOTED.sub(lambda m: " " * len(m.group(0)), chunk)
        )
        if bare is None:
            raise ValueError("no address")
        addr, before, after = bare.group(0), chunk[: bare.start()], chunk[bare.end() :]
        name = _display(COMMENT.sub("", before), decode)
        comment = _comment_name(after)
        _trailing(after, warn)
        if name:
            warn("address without angle brackets")
        # RFC 2047 allows encoded words in a comment: "a@x (Anna =?utf-8?Q?M=C3=BCller?=)"
        name = name or (_name(decode(comment)) or None if comment else None)
    addr = decode(addr).strip()
    if addr.endswith("."):
        warn("trailing dot in the domain removed")
        addr = addr.rstrip(".")
    return Mailbox(normalize_email(addr), name)


def parse_addresses(values: list[str], decode: Callable[[str], str], label: str) -> Addresses:
    """Every mailbox in the values of one address header, in order."""
    found = Addresses([], [])

    def warn(text: str) -> None:
        note = f"{label}: {text}"
        if note not in found.warnings:
            found.warnings.append(note)

    for value in values:
        pending = ""
        for chunk in _split(value):
            if "@" not in chunk and chunk.strip() and ":" not in chunk:
                # "Müller, Anna <a@x>": a display name with a bare comma; keep it whole
                pending += chunk + ","
                continue
            text, pending = pending + chunk, ""
            if not text.strip():
                continue
            try:
                found.boxes.append(_mailbox(text, decode, warn))
            except ValueError:
                if "@" in text:
                    warn("unreadable address skipped")
        if pending.strip(", "):
            warn("display name without an address ignored")
    return found
