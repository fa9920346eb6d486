"""``PlainHeaderPolicy`` answers exactly as ``policy.default`` does, only cheaper."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channels import mime
from channels.header_policy import PLAIN_HEADERS, plain_value

pytestmark = pytest.mark.unit

FIXTURES = Path(__file__).parents[2] / "fixtures"
MAIL = sorted(
    p
    for folder in ("email", "stalwart-mail-parser", "talon-standard-replies")
    for p in (FIXTURES / folder).rglob("*.eml")
)
NAMES = (
    "subject",
    "Content-Type",
    "content-disposition",
    "content-transfer-encoding",
    "message-id",
    "references",
    "x-loop",
    "date",
    "from",
)


def default_str(name: str, value: str) -> str:
    return str(policy.default.header_fetch_parse(name, value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-type", "text/plain ;charset = utf-8;format=flowed"),
        ("content-type", 'multipart/alternative;\r\n boundary="=_b 1"'),
        ("content-disposition", 'attachment; filename="a b.pdf"'),
        ("content-transfer-encoding", " base64 "),
        ("message-id", "<a.b+c@example.com>"),
        ("subject", "Order 1\r\n has not arrived"),
    ],
)
def test_common_headers_take_the_plain_path(name: str, value: str) -> None:
    assert plain_value(name, value) == default_str(name, value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("subject", "=?utf-8?q?caf=C3=A9?="),  # encoded words are decoded
        ("subject", "caf\udce9"),  # raw 8-bit bytes become U+FFFD
        ("message-id", "<no-closing@bracket"),  # the parser adds the ">"
        ("content-type", "text/plain; charset*=utf-8''x"),  # RFC 2231
        ("from", "Anna <anna@example.com>"),  # structured, never plain
    ],
)
def test_other_headers_are_left_to_the_stdlib(name: str, value: str) -> None:
    assert plain_value(name, value) is None


HEADER_TEXT = st.lists(
    st.sampled_from(
        [*"aZ09-_./;=\"'()<>@,:*\\ \t", "\r\n ", "\n\t", "text/plain", "charset", "=?", "?="]
    ),
    max_size=30,
).map("".join)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(NAMES), HEADER_TEXT)
def test_a_plain_value_is_what_policy_default_makes_of_it(name: str, value: str) -> None:
    plain = plain_value(name, value)
    if plain is not None:
        assert plain == default_str(name, value)


SPACE = st.sampled_from(["", " ", "\t", "  ", "\r\n "])
TOKEN = st.sampled_from(
    ["text", "plain", "utf-8", "Charset", "charset", "b*0", "x.y", "=_q", "a+b", "a%b", "a'b"]
)
VALUE = st.one_of(
    TOKEN, TOKEN.map(lambda t: f'"{t}"'), st.sampled_from(['"a b"', '""', '"a;b"', '"a\\"b"'])
)
PARAM = st.tuples(SPACE, TOKEN, SPACE, SPACE, VALUE, SPACE).map(
    lambda p: f";{p[0]}{p[1]}{p[2]}={p[3]}{p[4]}{p[5]}"
)
SHAPED = st.tuples(
    SPACE, TOKEN, st.sampled_from(["/", ""]), TOKEN, SPACE, st.lists(PARAM, max_size=4)
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(NAMES[1:3]), SHAPED)
def test_a_plain_mime_value_is_what_policy_default_makes_of_it(
    name: str, parts: tuple[str, str, str, str, str, list[str]]
) -> None:
    space, main, slash, sub, after, params = parts
    value = f"{space}{main}{slash}{sub}{after}{''.join(params)}"
    plain = plain_value(name, value)
    if plain is not None:
        assert plain == default_str(name, value)


def test_every_fixture_header_agrees_with_policy_default() -> None:
    checked = 0
    for path in MAIL:
        msg = BytesParser(policy=policy.compat32).parsebytes(path.read_bytes())
        for part in msg.walk():
            for name, value in part.raw_items():
                plain = plain_value(name, value)
                if plain is not None:
                    checked += 1
                    assert plain == default_str(name, value), (path.name, name, value)
    assert checked > 400


def test_parsing_every_fixture_gives_what_policy_default_gives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = [mime.parse_email(p.read_bytes()) for p in MAIL]
    monkeypatch.setattr(mime, "PLAIN_HEADERS", policy.default)
    assert fast == [mime.parse_email(p.read_bytes()) for p in MAIL]
    assert PLAIN_HEADERS is not policy.default
