"""`rules simulate --against` lists every event that routes differently, with what
differs per field, and says when the text output leaves some out."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rules import loads_ruleset
from rules.replay import Recorded, simulate

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]

AT = datetime(2026, 3, 4, 9, 0, tzinfo=UTC)
NOW = "2026-03-04T10:00:00+01:00"
HEADER = """version: 1
queues: {general: {}, sales: {}}
sla:
  standard: {first_response: 8h}
  fast: {first_response: 1h}
defaults: {queue: general, priority: normal, sla: standard}
"""
OLD = HEADER + "rules:\n  - {name: old vip, if: {text: {contains: vip}}, then: {tags: [vip]}}\n"
NEW = HEADER + (
    "rules:\n"
    "  - {name: quote, if: {text: {contains: quote}}, then: {queue: sales}}\n"
    "  - {name: vip, if: {text: {contains: vip}}, then: {tags: [gold]}}\n"
    "  - {name: fast, if: {text: {contains: hurry}}, then: {sla: fast}}\n"
)
# 25 move queue, 3 change tags only, 2 change sla only, 4 route the same
TEXTS = ["a quote"] * 25 + ["vip here"] * 3 + ["hurry"] * 2 + ["hello"] * 4


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rules.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path) -> tuple[Path, Path, Path]:
    new, old, events = tmp_path / "new.yaml", tmp_path / "old.yaml", tmp_path / "events.jsonl"
    new.write_text(NEW, encoding="utf-8")
    old.write_text(OLD, encoding="utf-8")
    lines = [json.dumps({"channel": "chat", "inbox": "web", "text": t}) for t in TEXTS]
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return new, old, events


def test_every_differing_event_is_kept_with_its_per_field_differences() -> None:
    events = [Recorded(n, {"text": text}) for n, text in enumerate(TEXTS, start=1)]
    report = simulate(loads_ruleset(NEW), events, against=loads_ruleset(OLD), now=AT)
    against = report.to_dict()["against"]
    assert against["changed"] == 30
    assert [e["line"] for e in against["examples"]] == list(range(1, 31))
    assert against["examples"][0]["changes"] == {
        "queue": ["general", "sales"],
        "matched": {"added": ["quote"], "removed": []},
    }
    assert against["examples"][25]["changes"] == {
        "tags": {"added": ["gold"], "removed": ["vip"]},
        "matched": {"added": ["vip"], "removed": ["old vip"]},
    }
    assert against["examples"][29]["changes"] == {
        "sla": ["standard", "fast"],
        "matched": {"added": ["fast"], "removed": []},
    }
    assert against["changed_fields"] == {"queue": 25, "sla": 2, "tags": 3, "matched": 30}
    assert against["queue_moves"] == [{"from": "general", "to": "sales", "count": 25}]


def test_a_renamed_rule_alone_does_not_route_differently() -> None:
    renamed = OLD.replace("old vip", "vip desk")
    report = simulate(
        loads_ruleset(renamed), [Recorded(1, {"text": "vip"})], against=loads_ruleset(OLD), now=AT
    )
    assert (report.evaluated, report.changed, report.examples) == (1, 0, [])


def test_text_lists_the_first_twenty_and_says_how_many_more(tmp_path: Path) -> None:
    new, old, events = write(tmp_path)
    result = run("simulate", new, "--events", events, "--against", old, "--now", NOW)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any(line.endswith(": 30 of 34 events route differently (88.2%)") for line in lines)
    assert "  by field: queue 25, sla 2, tags 3, matched 30" in lines
    listed = [line for line in lines if line.startswith("  line ")]
    assert len(listed) == 20
    assert listed[0] == '  line 1: queue: "general" -> "sales"; matched: +quote'
    assert lines[-1] == "  ... and 10 more (--json lists all)"


def test_text_show_option_cuts_or_lists_all(tmp_path: Path) -> None:
    new, old, events = write(tmp_path)
    args = ("simulate", new, "--events", events, "--against", old, "--now", NOW)
    shown = run(*args, "--show", "0").stdout.splitlines()
    assert [line for line in shown if line.startswith("  line ")][-1] == (
        '  line 30: sla: "standard" -> "fast"; matched: +fast'
    )
    assert "  line 26: tags: +gold -vip; matched: +vip -old vip" in shown
    assert not any("more (--json lists all)" in line for line in shown)
    cut = run(*args, "--show", "5").stdout.splitlines()
    assert len([line for line in cut if line.startswith("  line ")]) == 5
    assert cut[-1] == "  ... and 25 more (--json lists all)"


def test_json_lists_every_differing_event_whatever_show_says(tmp_path: Path) -> None:
    new, old, events = write(tmp_path)
    result = run(
        "simulate", new, "--events", events, "--against", old, "--now", NOW, "--json", "--show", "5"
    )
    against = json.loads(result.stdout)["against"]
    assert against["changed"] == 30
    assert len(against["examples"]) == 30
    assert against["changed_fields"] == {"queue": 25, "sla": 2, "tags": 3, "matched": 30}
