"""Every error the rules package reports has its place and a hint (contract §3).

Two checks hold each other up. The corpus below reaches every place in ``rules/`` and in
the roster of ``simulate`` (``router/app/simulate/roster.py``, read with the same
machinery) that makes a ``RuleError`` (directly or through ``SectionCompiler.error``) and
asserts that each reported error reads ``file:line:col: message (hint: ...)``. The sites
it reached are compared with the sites found in the source, so a new error without a
corpus entry (and so without a checked hint) fails here; and every site must pass a hint
argument.
"""

from __future__ import annotations

import ast
import codecs
import inspect
import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

import pytest

from router.app.simulate.roster import RosterInvalid, check_against, load_roster, loads_roster
from rules import (
    RuleError,
    RuleSet,
    RuleSetHolder,
    RuleSetInvalid,
    load_ruleset,
    loads_ruleset,
)
from rules.casefile import CaseFileInvalid, load_cases
from rules.errors import Mark
from rules.loader import load_sources
from rules.replay import load_profile
from rules.sections import SectionCompiler
from tests.unit.rules.test_rules_errors import HEADER

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
ROSTER = ROOT / "router" / "app" / "simulate" / "roster.py"
SOURCES = (*sorted(RULES.glob("*.py")), ROSTER)
"""Every file whose ``RuleError`` sites are held to a hint, and reached by the corpus."""
FORM = re.compile(r"^\S+:\d+:\d+: [^\n]+ \(hint: [^\n]+\)$")

BASE = HEADER
HEAD = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n"


def rule(text: str) -> str:
    return BASE + "rules:\n  - " + text + "\n"


def escalation(text: str) -> str:
    return BASE + "escalations:\n  - " + text + "\n"


def calendar(spec: str) -> str:
    return HEAD + "calendars:\n  c: " + spec + "\n"


def deep(levels: int) -> str:
    return "version: 1\nx: " + "[" * levels + "]" * levels + "\n"


def aliases() -> str:
    names = "abcdefg"
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, name in itertools.pairwise(names):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# Rule files, each with one kind of error (a few reach a second site on the way).
RULE_FILES = [
    # the YAML itself (rules/source.py)
    "%YAML 1.1\n---\nversion: 1\n",
    'version: 1\nqueues: {"q\\ud800": {}}\n',
    HEAD + 'rules:\n  - {name: r, if: {text: {matches: "(a{1000}){1000}"}}, then: {tags: [t]}}\n',
    "version: 1\nqueues: {general: {}\ndefaults: {queue: general}\n",
    "version: 1\nqueues:\n\tgeneral: {}\n",
    "version: 1\nsubject: Re: invoice\n",
    "version: 1\nnote: \x07\n",
    deep(5000),
    "version: 1\nx: &x [*x]\n",
    "version: 1\nx: !regex a\n",
    aliases(),
    "version: 1\n? [a]\n: b\n",
    HEAD + "queues: {general: {}}\n",
    # the document (rules/loader.py)
    "",
    "- a\n- b\n",
    HEAD + "rulez: []\n",
    "queues: {general: {}}\ndefaults: {queue: general}\n",
    "version: 2\nqueues: {general: {}}\ndefaults: {queue: general}\n",
    HEAD + "rules: {name: r}\n",
    "version: 1\nqueues: [general]\ndefaults: {queue: general}\n",
    rule("{name: r, then: {queue: general}}\n  - {name: r, then: {queue: billing}}"),
    'version: 1\nqueues: {general: {}, "ref\\u200bund": {}, soporte-espa\u00f1ol: {},'
    " soporte-espan\u0303ol: {}}\ndefaults: {queue: general}\n",
    rule('{name: "vip\\u202e", then: {queue: general}}'),
    rule('{name: r, if: {subject: {contains: "\\u202e"}}, then: {queue: general}}'),
    # definitions (rules/sections.py)
    HEAD + "assignment: 5\n",
    "version: 1\nqueues: {'': {}, general: {}}\ndefaults: {queue: general}\n",
    "version: 1\nqueues: {general: {skils: [x]}}\ndefaults: {queue: general}\n",
    "version: 1\nqueues: {general: {skills: []}}\ndefaults: {queue: general}\n",
    "version: 1\nqueues: {general: {skills: [12]}}\ndefaults: {queue: general}\n",
    HEAD + "assignment: {strategy: fastest, accept_timeout: soon, capacity: {fax: 2, chat: 0}}\n",
    HEAD + "sla:\n  s: {first_response: 5, resolution: {hihg: 1h}, calendar: nope}\n",
    HEAD + "sla:\n  s: {description: none}\n",
    HEAD + "sla:\n  s: {first_response: {}}\n",
    calendar("{timezone: UTC}"),
    calendar("{hours: {mon: [09:00-17:00]}}"),
    calendar("{timezone: Europe/Berln, hours: {tues: [09:00-17:00], mon: [9-17]}}"),
    calendar('{timezone: UTC, hours: {mon: ["09:00-13:00", "12:00-17:00"]}}'),
    calendar("{timezone: UTC, hours: {mon: closed}}"),
    calendar("{timezone: UTC, hours: {mon: [09:00-17:00]}, holidays: 2026-12-25}"),
    calendar("{timezone: UTC, hours: {mon: [09:00-17:00]}, holidays: [2026-13-01]}"),
    "version: 1\nqueues: {general: {}}\ndefaults: {priority: highest}\n",
    "version: 1\nqueues: {general: {}}\ndefaults: {queue: genral}\n",
    HEAD + "languages: en\n",
    HEAD + "languages: [english, zz]\n",
    HEAD + "languages: [EN]\n",
    HEAD + "metrics: {fcr: {max_customer_contacts: 0}}\n",
    HEAD + "metrics: {fcr: {channels: []}}\n",
    # rules and escalations (rules/compiler.py)
    BASE + "rules: [5]\n",
    rule("{then: {queue: general}}"),
    rule("{name: r}"),
    rule("{name: r, then: {queue: general}, stop: 1}"),
    rule("{name: r, if: {subject: {within: office}}, then: {queue: general}}"),
    escalation("{name: e, then: {queue: general}}"),
    rule("{name: r, on: assignment.timeout, then: {queue: general}}"),
    escalation("{name: e, on: ticket.created, then: {queue: general}}"),
    rule("{name: r, on: ticket.create, then: {queue: general}}"),
    rule("{name: r, on: [], then: {queue: general}}"),
    rule("{name: r, if: 5, then: {queue: general}}"),
    rule("{name: r, if: {not: [a]}, then: {queue: general}}"),
    rule("{name: r, if: {not: {}}, then: {queue: general}}"),
    rule("{name: r, <<: {then: {queue: general}}}"),
    HEAD + "sla:\n  s: {first_response: 100000d}\n",
    rule("{name: r, if: {subjet: x}, then: {queue: general}}"),
    rule("{name: r, if: {any: []}, then: {queue: general}}"),
    rule("{name: r, if: {any: email}, then: {queue: general}}"),
    rule("{name: r, if: {channel: [email, chat]}, then: {queue: general}}"),
    rule("{name: r, if: {channel: {}}, then: {queue: general}}"),
    rule("{name: r, if: {subject: {contain: x}}, then: {queue: general}}"),
    rule("{name: r, if: {channel: null}, then: {queue: general}}"),
    rule("{name: r, if: {channel: {in: [[email]]}}, then: {queue: general}}"),
    rule("{name: r, if: {channel: {in: email}}, then: {queue: general}}"),
    rule("{name: r, if: {channel: {in: [true]}}, then: {queue: general}}"),
    rule("{name: r, if: {text: {contains: []}}, then: {queue: general}}"),
    rule("{name: r, if: {text: {contains: [{a: b}]}}, then: {queue: general}}"),
    rule('{name: r, if: {subject: {matches: "(unclosed"}}, then: {queue: general}}'),
    rule('{name: r, if: {subject: {matches: "a{4294967296}"}}, then: {queue: general}}'),
    rule('{name: r, if: {ticket.contacts: {gt: "abc"}}, then: {queue: general}}'),
    rule('{name: r, if: {subject: {matches: "^[[:digit:]]+$"}}, then: {queue: general}}'),
    rule("{name: r, if: {ticket.contacts: {gt: .nan}}, then: {queue: general}}"),
    rule("{name: r, if: {ticket.contacts: {gt: 1%s}}, then: {queue: general}}" % ("0" * 400)),
    rule('{name: r, if: {subject: {matches: "%s"}}, then: {queue: general}}' % ("(" * 101)),
    calendar("{timezone: UTC, hours: {mon: [09:00-10:00]}}")
    + "sla:\n  s: {calendar: c, resolution: 52w}\n",
    rule('{name: r, if: {ticket.contacts: {gte: "5"}}, then: {queue: general}}'),
    rule("{name: r, if: {language: {exists: 1}}, then: {queue: general}}"),
    rule("{name: r, then: [queue]}"),
    rule("{name: r, then: {queu: general}}"),
    rule("{name: r, then: {queue: biling, sla: premium, priority: hihg}}"),
    rule("{name: r, then: {tags: [vip, {a: b}], assign: ''}}"),
]

CASE_FILES: list[str | bytes] = [
    "cases: []\nwhen: now\n",
    "now: 2026-03-04\ncases: []\n",
    "cases:\n  - name: caf\xe9\n".encode("latin-1"),
    codecs.BOM_UTF16_LE + b"c\x00a",  # a UTF-16 mark, then an odd byte
    "cases: {name: x}\n",
    "5\n",
    "now: yesterday\ncases: []\n",
    "cases: [5]\n",
    "cases:\n  - {nam: x, event: 5, trigger: ticket.create}\n",
    "cases:\n  - {name: x, event: {}, expect: {queu: general}}\n",
    "cases:\n  - {name: x, event: {specversion: '1.0', type: a.b, data: {}}, expect: {}}\n",
    "cases:\n  - {name: x, event: {chanel: email, ticket: {stauts: new}}, expect: {}}\n",
    "cases:\n  - {name: x, event: {}, expect: {tags: 5, matched: [{a: 1}]}}\n",
    "cases:\n  - {name: x, event: {}, expect: {queue: [billing]}}\n",
]

# ``rules explain --customer`` profiles (rules/replay.py)
PROFILE_FILES: list[str | bytes] = [
    "- gold\n",
    "{tier: gold, arr: 5}\n",
    "{tier: gold, attributes: [arr]}\n",
    "{tier: caf\xe9}\n".encode("latin-1"),
    "{tier: [gold}\n",
]


SHIFTS = '{mon: ["09:00-10:00"]}'


def roster(agents: str = f"[{{id: a, shifts: {SHIFTS}}}]", rest: str = "") -> str:
    return f"version: 1\ntimezone: UTC\nagents: {agents}\nhandling: [{{fixed: 1m}}]\n{rest}"


def handling(text: str) -> str:
    return roster().replace("handling: [{fixed: 1m}]", "handling: " + text)


# Roster files (router/app/simulate/roster.py), each with one kind of error or a few.
ROSTER_FILES = [
    "",
    "- 1\n",
    "timezone: UTC\nagents: []\n",
    "version: 2\ntimezone: UTC\n",
    roster(rest="seed: soon\n"),
    roster(f"[{{group: g, shifts: {SHIFTS}}}, {{group: h, count: -1, shifts: {SHIFTS}}}]"),
    roster("{id: a}"),
    roster(f"[{{id: a, shifts: {SHIFTS}}}, {{id: a, shifts: {SHIFTS}}}]"),
    roster(f"[{{shifts: {SHIFTS}}}]"),
    roster(f"[{{id: a, count: 2, shifts: {SHIFTS}}}]"),
    roster(f"[{{id: a, capacity: {{fax: 1, chat: many}}, shifts: {SHIFTS}}}]"),
    roster("[{id: a}]"),
    roster('[{id: a, shifts: {funday: ["09:00-10:00"]}}]'),
    roster("[{id: a, shifts: {}}]"),
    roster(rest="patience: {fax: {fixed: 1m}}\n"),
    handling("recorded"),
    handling("{fixed: 1m}"),
    handling("[{queue: billing}]"),
    handling("[{lognormal: {mean: 7m}}]"),
    handling("[{fixed: soon}]"),
    handling("[{fixed: 100000d}]"),
    handling("[{fixed: 1e308}]"),
    roster(f"[{{group: g, count: 1000000000, shifts: {SHIFTS}}}]"),
    roster('[{id: a, shifts: {mon: ["09:00-17:00", "16:00-18:00"]}}]'),
]


def error_calls() -> Iterator[tuple[str, ast.Call]]:
    """Every call in ``SOURCES`` that makes a RuleError: ``RuleError(...)`` or
    ``self.error(...)``, except the one inside ``SectionCompiler.error`` that relays."""
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relay = {
            id(node)
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef) and fn.name == "error"
            for node in ast.walk(fn)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _makes_error(node) and id(node) not in relay:
                yield path.relative_to(ROOT).as_posix(), node


def _makes_error(call: ast.Call) -> bool:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id == "RuleError"
    return (
        isinstance(func, ast.Attribute)
        and func.attr == "error"
        and isinstance(func.value, ast.Name)
        and func.value.id == "self"
    )


def _hint_argument(call: ast.Call) -> ast.expr | None:
    if len(call.args) >= 3:
        return call.args[2]
    return next((k.value for k in call.keywords if k.arg == "hint"), None)


def test_every_error_site_passes_a_hint() -> None:
    missing = []
    for name, call in error_calls():
        hint = _hint_argument(call)
        if hint is None or (isinstance(hint, ast.Constant) and not hint.value):
            missing.append(f"{name}:{call.lineno}")
    assert missing == []


@pytest.fixture
def made_at(monkeypatch: pytest.MonkeyPatch) -> set[tuple[str, int]]:
    """The source sites (path from the repository root, line) of every RuleError made
    in ``SOURCES`` while the test runs."""
    sites: set[tuple[str, int]] = set()
    original: Callable[..., None] = RuleError.__init__
    relay = SectionCompiler.error.__code__

    sources = {path.resolve() for path in SOURCES}

    def recording(self: RuleError, mark: Mark, message: str, hint: str) -> None:
        # the caller's line: the first line of the call expression (Python 3.11+)
        here = inspect.currentframe()
        frame: FrameType | None = here.f_back if here is not None else None
        if frame is not None and frame.f_code is relay:
            frame = frame.f_back
        path = Path(frame.f_code.co_filename).resolve() if frame is not None else None
        if frame is not None and path in sources:
            sites.add((path.relative_to(ROOT).as_posix(), frame.f_lineno))
        original(self, mark, message, hint)

    monkeypatch.setattr(RuleError, "__init__", recording)
    return sites


def rule_file_errors(text: str) -> list[RuleError]:
    with pytest.raises(RuleSetInvalid) as caught:
        loads_ruleset(text, file="bad.yaml")
    return caught.value.errors


def test_every_error_has_its_place_and_a_hint(
    tmp_path: Path, made_at: set[tuple[str, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    errors: list[RuleError] = []
    for text in RULE_FILES:
        errors.extend(rule_file_errors(text))
    with pytest.raises(RuleSetInvalid) as clash:  # two files of one ruleset disagree
        load_sources([("a.yaml", HEAD + "queues: {x: {}}\n"), ("b.yaml", HEAD)])
    errors.extend(clash.value.errors)
    for path in (tmp_path / "missing.yaml", tmp_path):  # unreadable file, empty directory
        with pytest.raises(RuleSetInvalid) as unreadable:
            load_ruleset(path)
        errors.extend(unreadable.value.errors)
    for n, case_text in enumerate([*CASE_FILES, None]):
        cases = tmp_path / f"cases{n}.yaml"
        if isinstance(case_text, bytes):  # not UTF-8
            cases.write_bytes(case_text)
        elif case_text is not None:  # the last one is missing
            cases.write_text(case_text, encoding="utf-8")
        with pytest.raises(CaseFileInvalid) as bad_cases:
            load_cases(cases)
        errors.extend(bad_cases.value.errors)
    for n, profile_text in enumerate([*PROFILE_FILES, None]):
        profile = tmp_path / f"profile{n}.yaml"
        if isinstance(profile_text, bytes):
            profile.write_bytes(profile_text)
        elif profile_text is not None:  # the last one is missing
            profile.write_text(profile_text, encoding="utf-8")
        with pytest.raises(RuleError) as bad_profile:
            load_profile(profile)
        errors.append(bad_profile.value)
    for roster_text in ROSTER_FILES:
        with pytest.raises(RosterInvalid) as bad_roster:
            loads_roster(roster_text, "roster.yaml")
        errors.extend(bad_roster.value.errors)
    with pytest.raises(RosterInvalid) as no_roster:
        load_roster(tmp_path / "missing-roster.yaml")
    errors.extend(no_roster.value.errors)
    misnamed = loads_roster(handling("[{queue: biling, fixed: 1m}, {fixed: 1m}]"), "r.yaml")
    with pytest.raises(RosterInvalid) as unknown_queue:  # read against the rules' queues
        check_against(misnamed, load_ruleset(ROOT / "rules" / "examples").queues)
    errors.extend(unknown_queue.value.errors)
    holder = RuleSetHolder(ROOT / "rules" / "examples", detects=False)
    monkeypatch.setattr("rules.holder.load_ruleset", crashing)  # a loader defect
    errors.extend(holder.reload())

    unhinted = [str(e) for e in errors if not e.hint.strip() or not FORM.match(str(e))]
    assert unhinted == []
    unreached = sorted({(name, call.lineno) for name, call in error_calls()} - made_at)
    assert unreached == [], "add a bad file for each of these error sites to the corpus"


def crashing(path: Path) -> RuleSet:
    raise RecursionError("maximum recursion depth exceeded")


def test_quoted_number_hint_shows_it_unquoted() -> None:
    (error,) = rule_file_errors(rule('{name: r, if: {ticket.contacts: {gt: "5"}}, then: {}}'))
    assert str(error) == (
        "bad.yaml:11:42: 'gt' needs a number, got a string "
        "(hint: write the number without quotes: {gt: 5})"
    )
