"""Where the quoted history of an HTML email starts: the container each mailer wraps it in
(Gmail's ``gmail_quote`` div, Apple Mail's ``<blockquote type=cite>``, Outlook's border
line above "From: ... Sent: ...", ...).

In time linear in the HTML, whatever it holds: the tags are read one by one, each once
(possessive quantifiers, no backtracking), and only then their attributes are looked
at. One regular expression over the whole HTML (``<div[^>]*\\bclass...``) had taken time
growing with the square, and with ``<font[^>]*...#5f5f5f[^>]*>`` the cube, of a run of
unclosed tags: 8 s for a 30 KB email, the ingress's event loop held all along.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

TAG = re.compile(r"<(blockquote|div|hr|font|table)\b([^<>]*+)(>?)", re.IGNORECASE)
"""A candidate tag: its name, its attributes, and ``>`` when it is closed."""
ATTRIBUTE = re.compile(
    r"(?<![\w:.-])([\w:.-]++)\s*+=\s*+(\"[^\"]*+\"|'[^']*+'|[^\s\"'>]++)", re.IGNORECASE
)
"""``name=value`` in a tag, value quoted or not; each name is read from its first
character only (the lookbehind), so a long run of letters is read once."""

QUOTE_CLASSES = re.compile(
    r"\b(?:gmail_quote|gmail_attr|moz-cite-prefix|yahoo_quoted|OutlookMessageHeader"
    r"|zmail_extra|domino-section)\b",
    re.IGNORECASE,
)
OUTLOOK_IDS = re.compile(
    r"(?:x_)?(?:appendonsend|divRplyFwdMsg|mail-editor-reference-message-container"
    r"|OLK_SRC_BODY_SECTION)\b",
    re.IGNORECASE,
)
# Outlook for Windows: the border line above "From: ... Sent: ..."; Windows Mail and
# Outlook mobile write its colour rgb()
OUTLOOK_BORDER = re.compile(
    r"border-top\s*+:\s*+solid\s*+#(?:E1E1E1|B5C4DF)"
    r"|border-top-color\s*+:\s*+rgb\(\s*+229\s*+,\s*+229\s*+,\s*+229\s*+\)",
    re.IGNORECASE,
)
LEFT_RULE = re.compile(r"border-left\s*+:", re.IGNORECASE)  # Mail.ru and other webmailers
# Lotus Notes 8.5+: the grey "From:" label of its header block, right after the font tag
NOTES_LABEL = re.compile(r"\s*+(?:From|Von|De|Da|Van|Od|Från|Fra|Lähettäjä)\s*+:", re.IGNORECASE)
# Lotus Notes classic: a one-row table of sender, date, To, cc, Subject
NOTES_ROW = re.compile(r"\s*+<tr\b([^<>]*+)>\s*+<td\b[^<>]*+>\s*+<font\b([^<>]*+)", re.IGNORECASE)
VALIGN_TOP = re.compile(r"(?<![\w-])valign\s*+=\s*+[\"']?top", re.IGNORECASE)
SIZE_ONE = re.compile(r"(?<![\w-])size\s*+=\s*+[\"']?1", re.IGNORECASE)
NOTES_DETAILS = re.compile(r"Inactive hide details for", re.IGNORECASE)


def quote_start(html: str) -> int | None:
    """Where the first quote container of ``html`` starts, or None."""
    text_marker = NOTES_DETAILS.search(html)
    limit = text_marker.start() if text_marker else len(html)
    for tag in TAG.finditer(html, 0, limit):
        if _quotes(tag, html):
            return tag.start()
    return text_marker.start() if text_marker else None


def _quotes(tag: re.Match[str], html: str) -> bool:
    name = tag.group(1).lower()
    attributes = _attributes(tag.group(2))
    closed = bool(tag.group(3))
    if name == "table":
        row = NOTES_ROW.match(html, tag.end()) if closed else None
        return bool(row and VALIGN_TOP.search(row.group(1)) and SIZE_ONE.search(row.group(2)))
    if name == "font":
        colour = attributes.get("color", "").lower()
        return closed and colour.startswith("#5f5f5f") and bool(NOTES_LABEL.match(html, tag.end()))
    return any(check(attributes) for check in CHECKS[name])


def _attributes(text: str) -> dict[str, str]:
    """A tag's attributes, names in lower case, values without their quotes (the first
    of a name written twice)."""
    found: dict[str, str] = {}
    for attribute in ATTRIBUTE.finditer(text):
        value = attribute.group(2)
        if value[:1] in "\"'":
            value = value[1:-1]
        found.setdefault(attribute.group(1).lower(), value)
    return found


Check = Callable[[Mapping[str, str]], bool]
CHECKS: dict[str, tuple[Check, ...]] = {
    "blockquote": (  # Apple Mail, Thunderbird; Mail.ru
        lambda a: a.get("type", "").lower().startswith("cite"),
        lambda a: bool(LEFT_RULE.search(a.get("style", ""))),
    ),
    "div": (
        lambda a: bool(QUOTE_CLASSES.search(a.get("class", ""))),
        lambda a: bool(OUTLOOK_IDS.match(a.get("id", ""))),  # Outlook on the web, new Outlook
        lambda a: bool(OUTLOOK_BORDER.search(a.get("style", ""))),
    ),
    "hr": (lambda a: a.get("id", "").lower().startswith("zwchr"),),  # Zimbra
}
