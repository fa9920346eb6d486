"""Bytes to text for mail, where the declared charset is a hint, not a fact.

Three rules, the same for bodies and headers:

- a label names a *family*: ``gb2312`` is decoded as GB18030 (its superset, which is
  what GBK mailers really send), ``shift_jis`` as CP932, ``iso-8859-1`` as cp1252, and
  ``iso-2022-jp`` also accepts the NEC/IBM rows Microsoft writes under it (CP50220), or
  Shift_JIS/EUC-JP bytes that were mislabelled as it;
- valid UTF-8 with non-ASCII bytes wins over a single-byte label, which would decode it
  "successfully" into mojibake; so does UTF-8 with a few bytes that are not (a quoted
  Latin-1 line, a character cut at the end): its lines that are not UTF-8 are read on
  their own (``_mostly_utf8``);
- raw 8-bit header bytes: UTF-8, then the charsets the message declares anywhere, then a
  detector (``charset-normalizer``) on all of the message's 8-bit header bytes at once,
  so that Subject, From and file names of one message agree.

Whatever the codec, no text leaves here with a lone surrogate (``without_surrogates``).
"""

from __future__ import annotations

import codecs
import encodings
import functools
import pkgutil
import re
from collections.abc import Iterable
from encodings.aliases import aliases

from charset_normalizer import from_bytes

#: What a label really means in mail; each entry is tried in order.
FAMILIES: dict[str, tuple[str, ...]] = {
    "gb2312": ("gb18030",),
    "hz-gb-2312": ("hz",),  # 7-bit: its ~{ ~} shifts are ASCII, so it is decoded by name
    "gbk": ("gb18030",),
    "x-gbk": ("gb18030",),
    "euc-cn": ("gb18030",),
    "cp936": ("gb18030",),
    "gb18030": ("gb18030",),
    "big5": ("big5hkscs", "cp950"),
    "x-big5": ("big5hkscs", "cp950"),
    "shift_jis": ("cp932", "shift_jis_2004"),
    "shift-jis": ("cp932", "shift_jis_2004"),
    "sjis": ("cp932", "shift_jis_2004"),
    "x-sjis": ("cp932", "shift_jis_2004"),
    "ms_kanji": ("cp932",),
    "windows-31j": ("cp932",),
    "cp932": ("cp932",),
    "euc-jp": ("euc_jis_2004", "cp932"),
    "x-euc-jp": ("euc_jis_2004", "cp932"),
    "iso-2022-jp": ("iso2022_jp_ext", "iso2022_jp_2004", "cp50220", "cp932", "euc_jis_2004"),
    "iso-2022-jp-2": ("iso2022_jp_2", "cp50220", "cp932"),
    "csiso2022jp": ("iso2022_jp_ext", "cp50220", "cp932"),
    "euc-kr": ("cp949",),
    "ks_c_5601-1987": ("cp949",),
    "ks_c_5601": ("cp949",),
    "iso-2022-kr": ("iso2022_kr", "cp949"),
    # 8-bit bytes under an ASCII label: the label is wrong whatever they are, so they are
    # read as unlabelled ones (UTF-8, the message's other charsets, then the detector,
    # which leaves a few Windows quotes to cp1252 and finds a Russian letter's cp1251)
    "us-ascii": ("ascii",),
    "ascii": ("ascii",),
    "iso-8859-1": ("cp1252",),
    "iso8859-1": ("cp1252",),
    "latin1": ("cp1252",),
    "latin-1": ("cp1252",),
    "iso-8859-9": ("cp1254",),
    "iso-8859-11": ("cp874",),
    "tis-620": ("cp874",),
    "iso-8859-8-i": ("iso-8859-8",),
    "x-mac-roman": ("mac_roman",),
    "unicode-1-1-utf-7": ("utf-7",),
}
#: Labels whose codec decodes nearly any byte string, so a successful decode proves nothing.
PERMISSIVE = ("cp1252", "cp1250", "cp1251", "cp1253", "cp1254", "cp1257", "cp874", "koi8")
#: Where the detector may look: the charsets mail is really written in.
DETECTABLE = [
    "cp1252", "cp1250", "cp1251", "koi8_r", "koi8_u", "iso8859_2", "iso8859_7", "cp1253",
    "cp1254", "iso8859_8", "cp1255", "cp1256", "cp1257", "cp874", "cp932", "euc_jp",
    "gb18030", "big5", "cp949",
]  # fmt: skip
#: Fewer non-ASCII bytes than this say too little for the detector; cp1252 is likelier.
DETECT_MIN_BYTES = 8
LAST_RESORT = "cp1252"
#: The byte order mark as text: a leading one is the encoding's mark, not the writer's.
BOM = "\ufeff"
#: Codecs for which ASCII-only bytes may still mean something other than ASCII.
NOT_ASCII_COMPATIBLE = ("iso2022", "utf-7", "cp50220", "utf-16", "utf_16", "utf-32", "utf_32", "hz")
#: Code points no UTF-8 text holds: UTF-7 (``+2AA-``) and ``unicode_escape`` decode them.
SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"
#: More runs of bad bytes than this are no UTF-8 text with a few bad bytes (and each of
#: their lines would be judged on its own: seconds for a crafted 10 MiB part).
MAX_BAD_RUNS = 10_000


def normalise_label(charset: str | None) -> str | None:
    if not charset:
        return None
    label = charset.strip().strip("\"'").lower()
    return label or None


def candidates(charset: str | None) -> list[str]:
    """The codecs a label stands for, in order; unknown labels stand for nothing."""
    label = normalise_label(charset)
    if label is None:
        return []
    names = FAMILIES.get(label) or (label,)
    found: list[str] = []
    for name in names:
        if name == "cp50220" or _known(name):
            found.append(name)
    return found


#: What the stdlib's codec search can find: its codec modules and their aliases. A label
#: outside it is unknown without ``codecs.lookup``, which tries an import per unknown
#: name (55 µs; a header of 20,000 encoded words with made-up charsets took a second).
CODEC_NAMES = frozenset(
    {*aliases, *aliases.values(), *(m.name for m in pkgutil.iter_modules(encodings.__path__))}
)


@functools.lru_cache(maxsize=1024)
def _known(name: str) -> bool:
    norm = encodings.normalize_encoding(name.lower())
    if norm not in CODEC_NAMES and norm.replace(".", "_") not in CODEC_NAMES:
        return False
    try:
        codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return False
    return True


@functools.lru_cache(maxsize=1024)
def _permissive(name: str) -> bool:
    """Whether codec ``name`` is single-byte; judged by its canonical name too, as mail
    labels ``windows-1252`` (``cp1252``) more often than any other name of it."""
    single_byte = (*PERMISSIVE, "iso8859", "iso-8859", "latin", "mac")
    if name.startswith(single_byte):
        return True
    try:
        return codecs.lookup(name).name.startswith(single_byte)
    except LookupError:
        return False


def _strict(data: bytes, name: str) -> str | None:
    try:
        if name == "cp50220":
            return decode_cp50220(data)
        return without_surrogates(data.decode(name))
    except (LookupError, UnicodeDecodeError, ValueError):
        return None


def without_surrogates(text: str) -> str:
    """``text`` with each lone surrogate as U+FFFD. UTF-7 decodes ``+2AA-`` to U+D800
    without complaint; no UTF-8 text can hold one, so the event carrying it could not be
    written (a 500, which the MTA retried for ever). The rest of the text stays readable."""
    return SURROGATE.sub(REPLACEMENT, text) if not text.isascii() else text


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


@functools.lru_cache(maxsize=64)
def _is_utf8(name: str) -> bool:
    try:
        return codecs.lookup(name).name == "utf-8"
    except LookupError:
        return False


def _utf8_share(text: str) -> tuple[int, int]:
    """Of ``text`` decoded as UTF-8 with replacement: its characters that are UTF-8 text
    people write, and the runs of bytes that were not UTF-8 (each one U+FFFD) with the
    characters such bytes make by chance. A capital or ß of a single-byte charset before
    its quote, ellipsis or no-break space is a valid two-byte sequence (``É\xa0`` is
    U+0260 ``ɠ``, ``ß“`` U+07D3): IPA letters, C1 controls and the rarer scripts of the
    two-byte range count as bad, combining marks as neither."""
    good = bad = 0
    for ch in text:
        code = ord(ch)
        if code < 0x80 or 0x300 <= code < 0x370:
            continue
        if 0xA0 <= code < 0x250 or 0x370 <= code < 0x700 or (code >= 0x800 and ch != REPLACEMENT):
            good += 1
        else:
            bad += 1
    return good, bad


def _mostly_utf8(
    data: bytes, names: list[str], also: Iterable[str], *, labelled: bool
) -> str | None:
    """UTF-8 with a few bytes that are not: a Latin-1 line quoted in a UTF-8 reply, a
    character cut at the end of the part. Read whole as a single-byte charset, every
    UTF-8 character of it had become mojibake (``für`` as ``fĂĽr``). Its lines are read as
    UTF-8, bad bytes as U+FFFD, except those that hold fewer UTF-8 characters than bad
    bytes: these are read together by the rules for text that is not UTF-8
    (``_not_utf8``). None when the bytes are not UTF-8 enough to be read so: labelled
    UTF-8, they hold no UTF-8 character at all; unlabelled (or labelled single-byte),
    fewer UTF-8 characters than bad bytes. Those are read in another charset."""
    text = data.decode("utf-8", "replace")
    good, bad = _utf8_share(text)
    if good == 0 or (not labelled and good <= bad) or bad > MAX_BAD_RUNS:
        return None
    lines = text.split("\n")
    foreign = [i for i, line in enumerate(lines) if REPLACEMENT in line and _foreign(line)]
    if foreign:
        raw = data.split(b"\n")
        read = _not_utf8(b"\n".join(raw[i] for i in foreign), names, also).split("\n")
        if len(read) == len(foreign):  # else a decoder took a line break: keep U+FFFD
            for i, line in zip(foreign, read, strict=True):
                lines[i] = line
    return "\n".join(lines)


def _foreign(line: str) -> bool:
    """Whether a line decoded as UTF-8 has no more UTF-8 characters than bad bytes."""
    good, bad = _utf8_share(line)
    return good <= bad


def detect(data: bytes) -> str | None:
    """The detector's best codec for ``data``, when there is enough to judge."""
    if sum(b > 0x7F for b in data) < DETECT_MIN_BYTES:
        return None
    return _judged(data, DETECTABLE)


@functools.lru_cache(maxsize=64)
def _single_byte(codec: str) -> bool:
    """Whether ``codec`` reads each byte as one character (cp1252, koi8-r), as opposed to
    a multi-byte charset (gb18030, shift_jis), where bytes that fit are some evidence."""
    try:
        return len(bytes(range(0x80, 0x100)).decode(codec, errors="replace")) == 0x80
    except LookupError:
        return True


def _judged(data: bytes, codecs: list[str]) -> str | None:
    """The detector's pick among ``codecs`` for ``data``, however short."""
    try:
        best = from_bytes(data, cp_isolation=codecs).best()
    except Exception:  # noqa: BLE001 - a detector failure only means "no opinion"
        return None
    return best.encoding if best is not None else None


def decode_bytes(data: bytes, charset: str | None = None, also: Iterable[str] = ()) -> str:
    """Text from ``data`` labelled ``charset``; ``also`` are the message's other charsets.

    Order: the label's family (UTF-8 first when the label is single-byte and the bytes are
    valid UTF-8), then UTF-8, then ``also``, then the detector, then cp1252; bytes labelled
    UTF-8, or unlabelled, that are mostly UTF-8 are read line by line (``_mostly_utf8``).
    A leading
    byte order mark is a mark of the encoding, not text: it goes (``without_bom``)."""
    return without_bom(_decode(data, charset, also))


def without_bom(text: str) -> str:
    """``text`` without the byte order mark(s) a writer put before it: Windows editors
    start UTF-8 files with one, and left in, the customer's first word did not match a
    rule on it (``\ufeffrefund``). One inside the text is left as written."""
    return text.lstrip(BOM) if text.startswith(BOM) else text


def _decode(data: bytes, charset: str | None, also: Iterable[str]) -> str:
    names = candidates(charset)
    stateful = any(n.startswith(NOT_ASCII_COMPATIBLE) for n in names)
    if data.isascii() and not stateful:
        return escaped(data) or data.decode("ascii")
    utf8_first = not names or all(_permissive(n) for n in names)
    if utf8_first or _is_utf8(names[0]):
        text = _utf8(data)
        if text is None and utf8_first:  # unlabelled: UTF-8 cut short, else another's
            text = _cut_short(data)
        elif text is None:  # labelled UTF-8
            text = _mostly_utf8(data, names, also, labelled=True)
        if text is not None:
            return text
    return _not_utf8(data, names, also)


def _not_utf8(data: bytes, names: list[str], also: Iterable[str]) -> str:
    """``data`` read by the label's family, UTF-8, the message's other charsets, the
    detector, then cp1252."""
    tried: set[str] = set()
    for name in (*names, "utf-8", *(c for label in also for c in candidates(label))):
        if name in tried:
            continue
        tried.add(name)
        text = _strict(data, name)
        if text is not None:
            return text
    guess = detect(data)
    if guess is not None and (text := _strict(data, guess)) is not None:
        return text
    return data.decode(LAST_RESORT, errors="replace")


#: 7-bit charsets that switch by escape sequences, tried on ASCII bytes that hold one
#: (ESC then ``$`` or ``(``): Japanese Outlook writes ISO-2022-JP with no charset, or
#: under ``us-ascii``, and its escapes had been shown as text (``$B$3$l(B``).
ESCAPED = ("iso-2022-jp", "iso-2022-kr")


def escaped(data: bytes) -> str | None:
    """ASCII bytes read as the ISO-2022 charset their escape sequences switch to; None
    when they hold none, or are no such text (a terminal's colour codes)."""
    if b"\x1b$" not in data and b"\x1b(" not in data:
        return None
    for name in (c for label in ESCAPED for c in candidates(label)):
        text = _strict(data, name) if name.startswith(NOT_ASCII_COMPATIBLE) else None
        if text is not None:
            return text
    return None


class HeaderCharset:
    """One decision per message for raw 8-bit header bytes (RFC 6532 allows only UTF-8;
    older mailers write their own charset). UTF-8 values stay UTF-8; the rest decode with
    the first declared charset that fits them all, else the detector's view of all of
    them together, else cp1252."""

    def __init__(self, raw_values: Iterable[bytes], declared: Iterable[str]) -> None:
        self._declared = [c for label in declared for c in candidates(label)]
        legacy = [v for v in raw_values if not v.isascii() and _utf8_value(v) is None]
        self.codec = self._choose(legacy)

    def _choose(self, legacy: list[bytes]) -> str:
        if not legacy:
            return LAST_RESORT
        fitting = [
            name
            for name in dict.fromkeys(self._declared)
            if name != "utf-8" and all(_strict(v, name) is not None for v in legacy)
        ]
        wide = [name for name in fitting if not _single_byte(name)]
        if wide and len(wide) < len(fitting):
            # a single-byte charset reads nearly any bytes, so fitting proves little when a
            # multi-byte one fits too (Chinese headers in a mail whose first part, a virus
            # scanner's note, says iso-8859-1): the detector judges between them
            return _judged(b"\n".join(legacy), fitting) or fitting[0]
        if fitting:
            return fitting[0]
        guess = detect(b"\n".join(legacy))
        return guess or LAST_RESORT

    def decode(self, data: bytes) -> str:
        if data.isascii():
            return escaped(data) or data.decode("ascii")
        text = _utf8_value(data)
        if text is None:
            text = _strict(data, self.codec)
        if text is None:
            text = data.decode(LAST_RESORT, errors="replace")
        return without_bom(text)


def _utf8_value(data: bytes) -> str | None:
    """A raw header value as UTF-8 (RFC 6532), its last character as U+FFFD when it was
    cut short. Any other bad byte makes it another charset's: Shift_JIS and EUC-JP kana
    hold valid two-byte UTF-8 sequences by chance, more of them than bad bytes."""
    text = _utf8(data)
    return text if text is not None else _cut_short(data)


def _cut_short(data: bytes) -> str | None:
    """UTF-8 whose last character was cut short (a lead byte, then fewer continuation
    bytes than it needs), that character as U+FFFD; None for anything else. A lone last
    byte that could lead one is taken so only after other UTF-8 characters: alone it is
    likelier a single-byte charset's letter (``caf\xe9``)."""
    for cut in (1, 2, 3):
        lead, rest = data[-cut] if len(data) >= cut else 0, data[len(data) - cut + 1 :]
        needs = 1 if 0xC2 <= lead < 0xE0 else 2 if 0xE0 <= lead < 0xF0 else 3 if lead < 0xF5 else 0
        short = lead >= 0xC2 and needs >= cut and all(0x80 <= b < 0xC0 for b in rest)
        head = _utf8(data[:-cut]) if short else None
        if head is not None and (cut > 1 or not head.isascii()):
            return head + REPLACEMENT
    return None


# --- ISO-2022-JP as Microsoft writes it (CP50220) ---------------------------------------

_ESC_JIS = (b"\x1b$B", b"\x1b$@")
_ESC_ASCII = (b"\x1b(B", b"\x1b(J")
_ESC_KANA = b"\x1b(I"


def decode_cp50220(data: bytes) -> str:
    """ISO-2022-JP whose JIS X 0208 segments may use the NEC and IBM rows (①, ㈱, 髙):
    each two-byte JIS code is mapped to its Shift_JIS code and decoded as CP932."""
    out = bytearray()
    mode = "ascii"
    i = 0
    while i < len(data):
        if data[i] == 0x1B:
            seq = data[i : i + 3]
            if seq in _ESC_JIS:
                mode = "jis"
            elif seq in _ESC_ASCII:
                mode = "ascii"
            elif seq == _ESC_KANA:
                mode = "kana"
            else:
                raise ValueError("unsupported ISO-2022-JP escape")
            i += 3
            continue
        byte = data[i]
        if byte > 0x7F:
            raise ValueError("8-bit byte in ISO-2022-JP")
        if mode == "jis" and byte not in (0x0A, 0x0D):
            if i + 1 >= len(data):
                raise ValueError("truncated JIS pair")
            out += _jis_to_sjis(byte, data[i + 1])
            i += 2
            continue
        out.append(byte | 0x80 if mode == "kana" and 0x21 <= byte <= 0x5F else byte)
        i += 1
    return bytes(out).decode("cp932")


def _jis_to_sjis(j1: int, j2: int) -> bytes:
    if not (0x21 <= j1 <= 0x7E and 0x21 <= j2 <= 0x7E):
        raise ValueError("not a JIS X 0208 code")
    s1 = ((j1 - 0x21) >> 1) + 0x81
    if s1 > 0x9F:
        s1 += 0x40
    s2 = j2 + (0x1F + (1 if j2 >= 0x60 else 0) if j1 & 1 else 0x7E)
    return bytes((s1, s2))
