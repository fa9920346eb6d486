"""An email's headers as the parser reads them: each header's text decoded (RFC 2047
encoded words of unstructured headers by the project's decoder, with the charset rules
bodies follow; the rest by the stdlib's ``policy.default``, the manual decoder where it
fails), raw 8-bit bytes through one charset decision per message
(:mod:`channels.charsets`), address headers parsed leniently and cut where they run to
thousands of addresses."""

from __future__ import annotations

import re
from email.message import Message

from channels.addresses import Mailbox, parse_addresses
from channels.charsets import HeaderCharset, escaped
from channels.header_policy import MAX_HEADER_CHARS, STRUCTURED
from channels.mail_text import CONTROL, decode_words
from channels.mime_parser import MAX_PARTS, raw_bytes

WHITESPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    return WHITESPACE.sub(" ", CONTROL.sub("", text)).strip()


def has_surrogates(text: str) -> bool:
    return not text.isascii() and any("\udc80" <= ch <= "\udcff" for ch in text)


# --- headers ---------------------------------------------------------------------------


class Headers:
    """Header access for one message, with one charset decision for its raw 8-bit bytes."""

    def __init__(self, msg: Message) -> None:
        self.msg = msg
        self._by_name: dict[str, list[object]] = {}
        #: each header's name as written at its first occurrence, for ``text`` to read
        #: the value as ``Message.get`` does without its scan of every header
        self._first_key: dict[str, str] = {}
        raw8 = []
        for key, value in msg.raw_items():
            lower = key.lower()
            if lower not in self._by_name:
                self._by_name[lower] = []
                self._first_key[lower] = key
            self._by_name[lower].append(value)
            if isinstance(value, str) and has_surrogates(value):
                raw8.append(raw_bytes(value))
        self.charset = HeaderCharset(raw8, declared_charsets(msg) if raw8 else [])
        self.warnings: list[str] = []
        #: the headers whose ``text`` was read cut to ``MAX_HEADER_CHARS``
        self.cut: set[str] = set()
        #: per address header, the addresses past the part of it that was parsed
        self.unread_addresses: dict[str, int] = {}

    def to_text(self, value: str) -> str:
        if not has_surrogates(value):
            return value
        return self.charset.decode(raw_bytes(value))

    def _values(self, name: str, part: Message | None) -> list[object]:
        """The raw values of header ``name``, in order; the message's are indexed once (a
        single-part mail's body is the message itself: its part is read from the index)."""
        if part is None or part is self.msg:
            return self._by_name.get(name.lower(), [])
        return [v for k, v in part.raw_items() if k.lower() == name.lower()]

    def raw(self, name: str, part: Message | None = None) -> list[str]:
        return [self.to_text(v if isinstance(v, str) else str(v)) for v in self._values(name, part)]

    def text(self, name: str, part: Message | None = None) -> str | None:
        """One header, decoded. Encoded words of an unstructured header (Subject) go to
        ``decode_words``, which reads their bytes by the rules bodies are read by
        (:mod:`channels.charsets`): ``policy.default`` trusts the label, and UTF-8 bytes
        labelled ``iso-8859-1`` came out as ``cafÃ©`` where the same body read ``café``.
        Other headers: ``policy.default`` first, the manual decoder where it fails."""
        source = self.msg if part is None else part
        raws = self._values(name, part)
        if not raws:
            return None
        raw = raws[0] if isinstance(raws[0], str) else str(raws[0])
        if "\x1b" in raw and raw.isascii() and (japanese := escaped(raw.encode("ascii"))):
            return clean(japanese)  # raw ISO-2022-JP, as Japanese Outlook writes Subject
        if "=?" in raw and name.lower() not in STRUCTURED:
            return clean(decode_words(self.to_text(raw)))
        if not has_surrogates(raw):
            try:
                value = self._get(name) if part is None else source.get(name)
            except Exception:  # noqa: BLE001 - the stdlib header parser has many failure modes
                value = None
            text = str(value) if value is not None else ""
            if text and "\ufffd" not in text and "=?" not in text:
                if len(raw) > MAX_HEADER_CHARS and name.lower() not in STRUCTURED:
                    self.cut.add(name.lower())  # as ``PlainHeaderPolicy`` reads it
                return clean(text)
        return clean(decode_words(self.to_text(raw)))

    def _get(self, name: str) -> object:
        """``self.msg.get(name)``, from the index: its first value, parsed by the policy."""
        key = self._first_key.get(name.lower())
        if key is None:
            return None
        return self.msg.policy.header_fetch_parse(key, self._by_name[key.lower()][0])  # type: ignore[arg-type]

    def was_cut(self, name: str) -> bool:
        return name.lower() in self.cut

    def size(self, name: str) -> int:
        """The length of the first value of header ``name`` as written (0: none)."""
        values = self._by_name.get(name.lower())
        return len(str(values[0])) if values else 0

    def addresses(self, name: str) -> list[Mailbox]:
        """The mailboxes of an address header. Of a value longer than ``MAX_HEADER_CHARS``
        (thousands of addresses) the addresses up to the last comma before it are parsed
        and the rest only counted, by their ``@``: parsing 200,000 Cc took seconds, and
        the event lists only the first ``channels.email.MAX_LISTED_ADDRESSES`` anyway."""
        raws = self.raw(name)
        if not raws:
            return []  # most address headers are absent
        values = [self._parsed_part(name, value) for value in raws]
        found = parse_addresses(values, decode_words, name)
        self.warnings.extend(w for w in found.warnings if w not in self.warnings)
        return found.boxes

    def _parsed_part(self, name: str, value: str) -> str:
        if len(value) <= MAX_HEADER_CHARS:
            return value
        cut = value.rfind(",", 0, MAX_HEADER_CHARS)
        head = value[: cut if cut > 0 else MAX_HEADER_CHARS]
        unread = value.count("@", len(head))
        key = name.lower()
        self.unread_addresses[key] = self.unread_addresses.get(key, 0) + unread
        warning = (
            f"{key}: {len(value):,} characters; the {unread:,} addresses after the "
            f"first {len(head):,} characters not read"
        )
        self.warnings.append(warning)
        return head


def declared_charsets(msg: Message, seen: dict[int, str | None] | None = None) -> list[str]:
    """The charsets the parts declare, other than ASCII and UTF-8; ``seen`` is given each
    part's charset (by id), for the walk to read instead of parsing the header again."""
    found: dict[str, None] = {}
    for count, part in enumerate(msg.walk()):
        if count > MAX_PARTS:
            break
        charset = part_charset(part)
        if seen is not None:
            seen[id(part)] = charset
        if charset and charset not in ("us-ascii", "utf-8", "ascii"):
            found.setdefault(charset, None)
    return list(found)


#: ``get_content_charset`` per Content-Type as fetched: its parameter parsing (RFC 2231
#: included) costs more than the rest of reading a short part, and it depends on that
#: string alone, which most mail repeats (``text/plain; charset="utf-8"``).
_CHARSET_OF: dict[str, str | None] = {}
MAX_CACHED_TYPES = 512
_UNSEEN = "\x00unseen"  # no charset name: a Content-Type seen with none caches None
MAX_CACHED_TYPE_CHARS = 200


def part_charset(part: Message) -> str | None:
    try:
        value = part.get("content-type")
        if value is None:
            return None  # no Content-Type: no charset
        key = str(value)
        known = _CHARSET_OF.get(key, _UNSEEN)  # one read: a worker thread may clear the map
        if known is not _UNSEEN:
            return known
        charset = part.get_content_charset()
    except Exception:  # noqa: BLE001 - the stdlib email API raises many kinds on malformed input
        charset = None
    else:
        if len(key) <= MAX_CACHED_TYPE_CHARS:
            if len(_CHARSET_OF) >= MAX_CACHED_TYPES:
                _CHARSET_OF.clear()
            _CHARSET_OF[key] = charset
    return charset
