"""Where rule fields come from in an event's facts, and the per-event slot table.

At load time every field a ruleset mentions gets a slot; per event the engine fills the
slots the rules of its trigger read, once (the values with their text composed, NFC;
folded copies for the case-insensitive operators; business-hours flags for ``within``)
and every condition reads its slot by index.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import regex

from router.vocabulary import SLA_TARGETS
from rules.calendar import Calendar
from rules.errors import did_you_mean
from rules.facts import CLOCK_FACTS

Values = list[Any]
Producer = Callable[[Mapping[str, Any], datetime], Any]

TOP_FIELDS = ("channel", "inbox", "subject", "text", "language")
TICKET_FIELDS = (
    "id",
    "status",
    "channel",
    "channels_seen",
    "customer_id",
    "inbox",
    "queue",
    "priority",
    "tags",
    "assignee",
    "sla_policy",
    "sla",
    "contacts",
    "agent_replies",
    "reopen_count",
    "created_at",
    "updated_at",
    "rules_version",
    "follow_up_of",
    "handle_seconds",
    "language",
)
TICKET_MAPPINGS = ("sla",)
"""The ticket fields with fields below them (``ticket.sla.first_response.breached``);
below any other (``ticket.queue.name``) there is nothing, so such a test never matched."""
TICKET_ALIASES = ("queue", "priority", "tags", "status", "contacts", "reopen_count")
OPEN_PREFIXES = ("customer", "metadata")


def field_path(name: str) -> tuple[str, ...] | tuple[str, str]:
    """Where a field lives in the facts: bare ticket fields are ``ticket.<field>``."""
    if name in TICKET_ALIASES and name not in TOP_FIELDS:
        return ("ticket", name)
    return tuple(name.split("."))


def field_candidates() -> list[str]:
    """Every spelling a field may take, for "did you mean" hints."""
    return [
        *TOP_FIELDS,
        *TICKET_ALIASES,
        *(f"ticket.{f}" for f in TICKET_FIELDS),
        "customer.tier",
        "customer.email",
        "customer.phone",
        "customer.name",
        "customer.language",
        "metadata.",
    ]


def check_field(name: str) -> tuple[str, str] | None:
    """None when ``name`` is a known field, else (message, hint)."""
    if name in TOP_FIELDS or name in TICKET_ALIASES:
        return None
    head, _, rest = name.partition(".")
    if head in OPEN_PREFIXES and rest and all(rest.split(".")):
        return None
    if head == "ticket" and rest:
        return _check_ticket_field(name, rest)
    hint = did_you_mean(name, field_candidates()) or (
        "fields are " + ", ".join(TOP_FIELDS) + ", customer.<field>, ticket.<field>, "
        "metadata.<field>"
    )
    return f"unknown field '{name}'", hint


def _check_ticket_field(name: str, rest: str) -> tuple[str, str] | None:
    field, _, below = rest.partition(".")
    if field == "sla" and below:
        return _check_clock(name, below)
    if field in TICKET_FIELDS and below and field not in TICKET_MAPPINGS:
        return f"unknown field '{name}'", (
            f"ticket.{field} has no fields of its own: test ticket.{field} itself"
        )
    if field in TICKET_FIELDS:
        return None
    hint = did_you_mean(rest, TICKET_FIELDS) or "ticket fields: " + ", ".join(TICKET_FIELDS)
    return f"unknown ticket field '{rest}'", hint


def _check_clock(name: str, below: str) -> tuple[str, str] | None:
    """``ticket.sla.<target>`` or ``ticket.sla.<target>.<clock field>``: a misspelled
    target or field (``ticket.sla.first_reponse.breached``) had loaded and never
    matched."""
    target, _, clock_field = below.partition(".")
    clock_fields = CLOCK_FACTS
    if target not in SLA_TARGETS:
        hint = did_you_mean(target, SLA_TARGETS) or "targets: " + ", ".join(SLA_TARGETS)
        return f"unknown field '{name}'", hint
    if not clock_field:
        return None
    inner, _, deeper = clock_field.partition(".")
    if inner not in clock_fields:
        hint = did_you_mean(inner, clock_fields) or "a clock's fields: " + ", ".join(clock_fields)
        return f"unknown field '{name}'", hint
    if deeper:
        return f"unknown field '{name}'", (
            f"a clock's fields have no fields of their own: test ticket.sla.{target}.{inner}"
        )
    return None


_NO_TIME = datetime.min


def _getter(path: Sequence[str]) -> Producer:
    if len(path) == 1:
        (key,) = path

        def get1(facts: Mapping[str, Any], _now: datetime) -> Any:
            return facts.get(key)

        return get1
    if len(path) == 2:
        outer, inner = path

        def get2(facts: Mapping[str, Any], _now: datetime) -> Any:
            container = facts.get(outer)
            return container.get(inner) if isinstance(container, Mapping) else None

        return get2

    def get_deep(facts: Mapping[str, Any], _now: datetime) -> Any:
        value: Any = facts
        for depth, key in enumerate(path):
            if isinstance(value, list | tuple):  # a list on the way: each of its items
                return _through_list(value, path[depth:])
            if not isinstance(value, Mapping):
                return None
            value = value.get(key)
        return value

    return get_deep


def _through_list(items: Sequence[Any], path: Sequence[str]) -> list[Any] | None:
    """``metadata.order.product_items.product_retailer_id``: the path followed into every
    item of a list it meets, the values found as one list (a list value spread into it),
    which every test reads element by element; None when no item has it. A dotted path
    had stopped at a list, so such a condition never matched."""
    found: list[Any] = []
    get = _getter(path)
    for item in items:
        value = get(item, _NO_TIME) if isinstance(item, Mapping) else None
        if isinstance(value, list | tuple):
            found.extend(v for v in value if v is not None)
        elif value is not None:
            found.append(value)
    return found or None


_IGNORABLE = regex.compile(r"\p{Default_Ignorable_Code_Point}+")
"""Characters that render as nothing (zero-width space and joiners, soft hyphen, LRM/RLM
and the bidi controls, variation selectors, the BOM): ``ref\u200bund`` reads "refund"."""


def folded(text: str) -> str:
    """``text`` as the case-insensitive operators (contains, contains_all, starts_with)
    compare it: invisible characters (Default_Ignorable_Code_Point) removed, then
    compatibility-composed and case-folded, i.e. NFKC_Casefold apart from its few
    mappings of visible characters to nothing. So "cafe" plus a combining accent is
    "café", "REFUND" in full-width letters or with a soft hyphen inside is "refund", the
    ligature "\ufb01" is "fi" and "STRASSE" is "straße" folded. NFKC runs again after
    ``casefold``, which leaves 26 code points (U+01F0, polytonic Greek) decomposed:
    without it "μαΐου" is not found in the capitals of that word. Runs per event on the
    router's hot path: ASCII, most of what rules read, needs nothing beyond ``lower``."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKC", _IGNORABLE.sub("", text))
    return unicodedata.normalize("NFKC", text.casefold())


def composed(text: str) -> str:
    """``text`` composed (NFC), as ``equals``, ``in``, ``not_in`` and ``matches`` compare
    it: "e" plus a combining accent is "é", as a keyboard types it and the rule file
    spells it. Case, invisible characters and full-width letters stay as they are."""
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def composed_value(value: Any) -> Any:
    """A fact's value with its text composed (a list's elements too); others as given."""
    if type(value) is str:
        return value if value.isascii() else unicodedata.normalize("NFC", value)
    if isinstance(value, list | tuple) and any(
        type(item) is str and not item.isascii() for item in value
    ):
        return [composed(item) if type(item) is str else item for item in value]
    return value


def lowered(value: Any) -> Any:
    """The case-folded form used by contains / contains_all / starts_with."""
    if isinstance(value, str):
        return folded(value)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(folded(str(item)) for item in value if item is not None)
    if isinstance(value, int | float):
        return str(value).lower()
    return None


class FieldTable:
    """Slots for the values one event's evaluation needs, filled once per event."""

    def __init__(self) -> None:
        self._slots: dict[tuple[str, str], int] = {}
        self.producers: list[Producer] = []

    def slot(self, name: str, *, lower: bool = False) -> int:
        key = (name, "lower" if lower else "raw")
        if key not in self._slots:
            get = _getter(field_path(name))
            if lower:

                def produce(facts: Mapping[str, Any], now: datetime) -> Any:
                    return lowered(get(facts, now))

                self._add(key, produce)
            else:

                def produce_composed(facts: Mapping[str, Any], now: datetime) -> Any:
                    return composed_value(get(facts, now))

                self._add(key, produce_composed)
        return self._slots[key]

    def calendar_slot(self, calendar: Calendar) -> int:
        key = (calendar.name, "calendar")
        if key not in self._slots:
            is_open = calendar.is_open
            self._add(key, lambda _facts, now: is_open(now))
        return self._slots[key]

    def _add(self, key: tuple[str, str], producer: Producer) -> None:
        self._slots[key] = len(self.producers)
        self.producers.append(producer)

    def values(
        self, facts: Mapping[str, Any], now: datetime, slots: Sequence[int] | None = None
    ) -> Values:
        """Every slot's value; with ``slots``, only those (the others stay None): the
        rules of one trigger read a few of the slots of the whole ruleset."""
        producers = self.producers
        if slots is None:
            return [produce(facts, now) for produce in producers]
        values: Values = [None] * len(producers)
        for slot in slots:
            values[slot] = producers[slot](facts, now)
        return values
