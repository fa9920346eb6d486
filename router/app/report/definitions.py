"""Which FCR definition the report's FCR figures were counted under, in words.

The definition is the rules file's (``metrics.fcr``) and may change at any reload, so the
report does not assume it: every ``fcr`` window names the hash of the definition it was
counted under (recomputed windows take it from the ``.resolved`` and ``.reopened``
events). Its numbers are known for the rules file's current definition and the default;
a hash matching neither is shown as a hash, with the rules file's definition beside it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from html import escape
from pathlib import Path

from router.app.console import counted
from router.app.report.windows import Row
from rules import RuleSetInvalid, load_ruleset
from rules.model import FcrDefinition

DEFAULT_FCR = FcrDefinition()


@dataclass(frozen=True, slots=True)
class FcrDefinitions:
    """The hashes the period's ``fcr`` windows were counted under (sorted), whether some
    windows name none (written before records carried it), and the definitions whose
    numbers are known by hash: the rules file's, when readable, and the default."""

    counted: tuple[str, ...] = ()
    unnamed: bool = False
    rules: FcrDefinition | None = None
    known: Mapping[str, FcrDefinition] = field(default_factory=dict)


def rules_fcr(path: Path) -> FcrDefinition | None:
    """The rules file's FCR definition; None when it cannot be read or is invalid."""
    try:
        return load_ruleset(path).metrics.fcr
    except (RuleSetInvalid, OSError):
        return None


def fcr_definitions(rows: Iterable[Row], rules: FcrDefinition | None) -> FcrDefinitions:
    fcr = [row for row in rows if row.metric == "fcr"]
    known = {d.hash: d for d in (DEFAULT_FCR, rules) if d is not None}
    return FcrDefinitions(
        counted=tuple(sorted({h for row in fcr for h in row.definitions})),
        unnamed=any(not row.definitions for row in fcr),
        rules=rules,
        known=known,
    )


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m")) if n]
    return " ".join(parts) or f"{int(span.total_seconds())}s"


def in_words(d: FcrDefinition) -> str:
    """The definition's numbers, as the rules file sets them."""
    channels = f", on {', '.join(sorted(d.channels))} only" if d.channels is not None else ""
    contacts = counted(d.max_customer_contacts, "customer interaction")
    replies = counted(d.max_public_replies, "public agent reply", "public agent replies")
    return (
        f"at most {contacts}, at most {replies}, never reopened{channels}; a reopen within "
        f"{_duration(d.reopen_window)} of the resolution is subtracted in the reopen's window"
    )


def _named(h: str, defs: FcrDefinitions) -> str:
    known = defs.known.get(h)
    if known is not None:
        return f"<code>{escape(h)}</code>: {in_words(known)}"
    return (
        f"<code>{escape(h)}</code>: neither the rules file's current definition nor the "
        "default; its numbers are not known here"
    )


def fcr_text(defs: FcrDefinitions) -> str:
    """The FCR entry of the report's definitions (HTML)."""
    said = ["(resolved at first contact - reopened after first contact) / resolved."]
    if len(defs.counted) == 1:
        said.append(f"First contact, as counted under definition {_named(defs.counted[0], defs)}.")
    elif defs.counted:
        items = "".join(f"<li>{_named(h, defs)}</li>" for h in defs.counted)
        said.append(
            f"The figures mix {len(defs.counted)} FCR definitions (the rules changed within "
            f'the period); first contact as counted under each:<ul id="fcr-definitions">'
            f"{items}</ul>"
        )
    if defs.unnamed:
        some = "Some windows name" if defs.counted else "The FCR windows of this period name"
        said.append(f"{some} no definition (counted before records carried it).")
    current = defs.rules
    if current is not None and current.hash not in defs.counted:
        said.append(
            f"The rules file's current definition is <code>{escape(current.hash)}</code>: "
            f"{in_words(current)}."
        )
    elif current is None and not defs.counted:
        said.append(
            "The rules file could not be read; the default definition is "
            f"<code>{escape(DEFAULT_FCR.hash)}</code>: {in_words(DEFAULT_FCR)}."
        )
    return " ".join(said)
