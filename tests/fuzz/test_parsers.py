"""The MIME parser and the rule loader, fuzzed without any I/O.

MIME (``channels/mime.py``, ``channels/email.py``): arbitrary bytes and generated
messages (nested multiparts, any charset and transfer encoding, encoded words, broken
boundaries) parse without raising and in bounded time, and interpreting them gives an
interaction or none. Rules (``rules/loader.py``): arbitrary text and generated rule files
load or fail with ``RuleSetInvalid`` whose every error is located (``file:line:col``
inside the text), never another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from channels.email import interpret
from channels.mime import parse_email
from rules import RuleSetInvalid
from rules.loader import loads_ruleset
from tests.budget import cpu_budget
from tests.fuzz.conftest import FUZZ

pytestmark = pytest.mark.fuzz

PARSE_BUDGET_S = 5.0  # of CPU time

# ---------------------------------------------------------------- MIME

header_names = st.sampled_from(
    ["From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
     "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Auto-Submitted",
     "X-Autoreply", "Precedence", "Return-Path", "MIME-Version", "Reply-To", "Sender"]
)  # fmt: skip
header_values = st.one_of(
    st.text(max_size=60).map(lambda t: t.replace("\r", " ").replace("\n", " ")),
    st.sampled_from(
        ["=?utf-8?B?w6nDqQ==?=", "=?iso-8859-1?Q?caf=E9?=", "=?bogus?X?zz?=", "=?utf-8?B?!!!?=",
         "Ann <ann@example.com>", "<>", "MAILER-DAEMON", "<a@b> <c@d>", "undisclosed-recipients:;",
         "text/plain; charset=utf-16", "text/html; charset=x-unknown", "multipart/mixed",
         "multipart/alternative; boundary=\"b\"", "message/rfc822", "base64", "quoted-printable",
         "8bit", "x-uuencode", "attachment; filename*=utf-8''%E2%82%AC.pdf", "inline; filename=",
         "Mon, 32 Foo 2026 99:99:99 +9999", "auto-replied", "bulk"]
    ),
)  # fmt: skip
bodies = st.one_of(
    st.binary(max_size=600),
    st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from(
        [b"SGVsbG8=\n", b"=E9=\n=ZZ", b"begin 644 x.txt\n#86)C\n`\nend\n", b"<p>hi<br>"]
    ),
)


@st.composite
def mime_part(draw: st.DrawFn, depth: int = 0) -> bytes:
    headers = draw(st.lists(st.tuples(header_names, header_values), max_size=6))
    lines = [f"{name}: {value}".encode("utf-8", "surrogatepass") for name, value in headers]
    if depth < 3 and draw(st.booleans()):
        boundary = draw(st.sampled_from(["b", "b1", "", "=_x", "b" * 80]))
        kind = draw(st.sampled_from(["mixed", "alternative", "related", "digest", "report"]))
        lines.append(f'Content-Type: multipart/{kind}; boundary="{boundary}"'.encode())
        parts = draw(st.lists(mime_part(depth + 1), max_size=3))
        body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts)
        if draw(st.booleans()):
            body += b"--" + boundary.encode() + b"--\r\n"
    else:
        body = draw(bodies)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def parse_in_time(raw: bytes) -> None:
    with cpu_budget(PARSE_BUDGET_S):
        parsed = parse_email(raw)
        assert parsed is not None
        _, interaction = interpret(raw)
    if interaction is not None:
        assert interaction.channel == "email"


@FUZZ
@given(raw=st.binary(max_size=4000))
def test_any_bytes_parse_as_an_email_without_raising(raw: bytes) -> None:
    parse_in_time(raw)


@FUZZ
@given(raw=mime_part())
def test_generated_mime_messages_parse_without_raising(raw: bytes) -> None:
    parse_in_time(raw)


# ---------------------------------------------------------------- rules

keys = st.sampled_from(
    ["version", "calendars", "queues", "sla", "assignment", "defaults", "rules", "escalations",
     "languages", "metrics", "name", "on", "if", "then", "stop", "any", "all", "not", "text",
     "subject", "channel", "customer.tier", "ticket.priority", "contains", "matches", "in",
     "gt", "within", "queue", "priority", "tags", "first_response", "warn_before", "timezone",
     "hours", "holidays", "skills", "strategy", "capacity", "fcr", "reopen_window", "x"]
)  # fmt: skip
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.text(max_size=20),
    st.sampled_from(["(?i)\\b(", "[", "30m", "1d", "0s", "99:99-00:00", "Mars/Olympus",
                     "2026-02-30", "ticket.created", "sla.first_response.breached", "general",
                     "urgent"]),
)  # fmt: skip
rule_trees = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=25,
)


def load_or_locate(text: str) -> None:
    try:
        loads_ruleset(text, file="fuzz.yaml")
    except RuleSetInvalid as exc:
        errors = exc.errors
    else:
        return
    assert errors, "an invalid ruleset names at least one error"
    lines = max(1, text.count("\n") + 1)
    for error in errors:
        assert error.file == "fuzz.yaml", str(error)
        assert 1 <= error.line <= lines + 1, (str(error), lines)
        assert error.col >= 1, str(error)
        assert str(error).startswith(f"fuzz.yaml:{error.line}:{error.col}"), str(error)
        assert error.hint.strip(), f"no hint: {error}"
        assert "\n" not in str(error), str(error)


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_loads_or_fails_with_located_errors(text: str) -> None:
    load_or_locate(text)


@FUZZ
@given(tree=st.dictionaries(keys, rule_trees, max_size=6), version=st.sampled_from([1, 2, "1"]))
def test_generated_rule_files_load_or_fail_with_located_errors(
    tree: dict[str, object], version: object
) -> None:
    load_or_locate(json.dumps({"version": version, **tree}, indent=2))  # JSON is YAML 1.2


# ---------------------------------------------------------------- found by fuzzing

LAUGHS = "version: 1\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        # an alias inside the node it names: RecursionError before the fix
        ("version: 1\na: &a [*a]\n", "fuzz.yaml:2:", "contains it"),
        # aliases of aliases, 9**10 nodes: a hang before the fix
        (LAUGHS, "fuzz.yaml:", "more than 100,000 nodes"),
        # OverflowError from timedelta before the fix
        ("version: 1\nsla:\n  s: {first_response: 99999999999w}\n", "fuzz.yaml:3:", "duration"),
        ("version: 1\nmetrics: {fcr: {reopen_window: 999999999999d}}\n", "fuzz.yaml:2:", ""),
        # accepted before the fix, then OverflowError in SlaPolicy.due while routing
        ("version: 1\nsla:\n  s: {first_response: 3000000d}\n", "fuzz.yaml:3:", "duration"),
        # OverflowError from re.compile before the fix
        (
            "version: 1\nqueues: {general: {}}\nrules:\n  - name: r\n"
            "    if: {text: {matches: 'a{99999999999}'}}\n    then: {queue: general}\n",
            "fuzz.yaml:5:",
            "bad regular expression",
        ),
        # RecursionError out of the YAML composer before the fix
        ("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n", "fuzz.yaml:2:68", "nested too deeply"),
        # a control character: a multi-line message at 1:1 before the fix
        ("version: 1\nnote: \x07\n", "fuzz.yaml:2:7", "unacceptable character"),
    ],
    ids=[
        "recursive-alias",
        "billion-laughs",
        "huge-duration",
        "huge-window",
        "due-past-year-9999",
        "huge-repeat",
        "deep-nesting",
        "control-character",
    ],
)
def test_loader_seeds_fail_with_a_located_error(text: str, where: str, says: str) -> None:
    with cpu_budget(PARSE_BUDGET_S), pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, file="fuzz.yaml")
    load_or_locate(text)
    messages = [str(e) for e in caught.value.errors]
    assert any(m.startswith(where) and says in m for m in messages), messages
