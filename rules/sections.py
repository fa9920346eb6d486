"""Compiles the definitions of a ruleset (calendars, queues, SLA, assignment, defaults).

Each method reports problems into ``self.errors`` (with the exact location and, where
we can guess, a hint) and returns a usable placeholder, so one pass finds them all.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from functools import cache
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from router.vocabulary import MAX_CAPACITY
from rules.calendar import WEEKDAYS, Calendar, parse_shift
from rules.conditions import show
from rules.durations import DURATION_HINT, parse_duration, too_long
from rules.errors import Mark, RuleError, closest_or_all, did_you_mean, one_of
from rules.fields import FieldTable
from rules.language import SPLIT_CODES, supported_languages
from rules.model import (
    CHANNELS,
    DEFAULT_CAPACITY,
    PRIORITIES,
    STRATEGIES,
    TARGETS,
    Assignment,
    Defaults,
    FcrDefinition,
    Metrics,
    Queue,
)
from rules.sla import SlaPolicy
from rules.source import YMap, YNode, YScalar, YSeq, to_plain, type_name

CALENDAR_KEYS = ("timezone", "hours", "holidays", "description")
QUEUE_KEYS = ("skills", "description")
POLICY_KEYS = ("calendar", *TARGETS, "warn_before", "description")
ASSIGNMENT_KEYS = ("strategy", "accept_timeout", "capacity")
DEFAULT_KEYS = ("queue", "priority", "sla")
METRICS_KEYS = ("fcr",)
FCR_KEYS = ("max_customer_contacts", "max_public_replies", "reopen_window", "channels")
LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")
SUPPORTED_LANGUAGES = supported_languages()
# keys written for another by meaning, not by spelling ("did you mean" would say 'then')
MEANT = {"when": ("if", "did you mean 'if'? conditions go under 'if', actions under 'then'")}


def text_hint(node: YNode) -> str:
    """How to write the text that ``node`` should have been."""
    if not isinstance(node, YScalar):
        return f"write one piece of text here, not {type_name(node)} (quote text with ': ')"
    if node.value is None or not str(node.value).strip():
        return "give it a value, e.g. billing"
    return f'quote it to make it text: "{node.written}"'


@cache
def iana_zones() -> frozenset[str]:
    """The zone names a calendar may use: those ``zoneinfo`` lists, but ``localtime``.

    ``ZoneInfo`` opens any file under the zone directories, so it was asked for names
    that are no zone: a region's directory (``Europe``) raised IsADirectoryError
    past the loader, and ``localtime`` or ``posixrules`` loaded whatever the host has
    there, so one rule file meant other hours on another machine.
    """
    return frozenset(available_timezones() - {"localtime"})


def _zone_hint(name: str, zones: frozenset[str]) -> str:
    if name == "localtime":
        return (
            "'localtime' is the host's own setting, which differs by machine: "
            "name the zone, e.g. Europe/Berlin"
        )
    region = sorted(zone for zone in zones if zone.startswith(f"{name}/"))
    if region:
        return f"'{name}' is a region, not a time zone: name one of its zones, e.g. {region[0]}"
    return did_you_mean(name, zones) or "use an IANA name like Europe/Berlin"


def _overlap(shifts: Iterable[tuple[int, int]]) -> bool:
    """Whether any two shifts of one day overlap (ends are exclusive)."""
    ordered = sorted(shifts)
    return any(start < end for (_, end), (start, _) in pairwise(ordered))


class SectionCompiler:
    """Compiles definitions; each must be compiled before anything refers to it."""

    def __init__(self, table: FieldTable) -> None:
        self.table = table
        self.errors: list[RuleError] = []
        self.calendars: dict[str, Calendar] = {}
        self.queues: dict[str, Queue] = {}
        self.policies: dict[str, SlaPolicy] = {}
        self.defined: dict[str, set[str]] = {}

    # -- small checks -------------------------------------------------------------------

    def error(self, mark: Mark, message: str, hint: str) -> None:
        """Record a problem; ``hint`` says what would be valid (every site gives one)."""
        self.errors.append(RuleError(mark, message, hint))

    def mapping(self, node: YNode | None, what: str, mark: Mark) -> YMap | None:
        if isinstance(node, YMap):
            return node
        if node is None or (isinstance(node, YScalar) and node.value is None):
            return YMap({}, {}, mark)
        hint = "write 'key: value' entries, indented below it, or {key: value}"
        self.error(node.mark, f"{what} must be a mapping, got {type_name(node)}", hint)
        return None

    def keys(self, node: YMap, allowed: Iterable[str], what: str) -> None:
        allowed = tuple(allowed)
        for key, mark in node.keys.items():
            if key not in allowed:
                meant = MEANT.get(key)
                hint = meant[1] if meant and meant[0] in allowed else closest_or_all(key, allowed)
                self.error(mark, f"unknown key '{key}' in {what}", hint)

    def string(self, node: YNode, what: str) -> str | None:
        if isinstance(node, YScalar) and isinstance(node.value, str) and node.value.strip():
            return node.value
        self.error(
            node.mark, f"{what} must be a non-empty string, got {type_name(node)}", text_hint(node)
        )
        return None

    def strings(self, node: YNode, what: str) -> tuple[str, ...]:
        """A string or a list of strings."""
        items = node.items if isinstance(node, YSeq) else (node,)
        if isinstance(node, YSeq) and not items:
            self.error(node.mark, f"{what} must not be an empty list", "name at least one: [x]")
        found = (self.string(item, what) for item in items)
        return tuple(s for s in found if s is not None)

    def choice(self, node: YNode, what: str, choices: Iterable[str]) -> str | None:
        choices = tuple(choices)
        value = self.string(node, what)
        if value is None:
            return None
        if value not in choices:
            hint = closest_or_all(value, choices)
            self.error(node.mark, f"unknown {what} '{value}'", hint)
            return None
        return value

    def duration(self, node: YNode, what: str) -> timedelta | None:
        if isinstance(node, YScalar) and isinstance(node.value, str):
            value = parse_duration(node.value)
            if value is not None:
                return value
            if too_long(node.value):
                self.error(
                    node.mark,
                    f"duration '{node.value}' for {what} is longer than 100 years",
                    "durations are at most 100 years: use at most 36500d",
                )
                return None
            self.error(node.mark, f"bad duration '{node.value}' for {what}", DURATION_HINT)
            return None
        self.error(node.mark, f"{what} must be a duration, got {type_name(node)}", DURATION_HINT)
        return None

    def boolean(self, node: YNode, what: str) -> bool:
        if isinstance(node, YScalar) and isinstance(node.value, bool):
            return node.value
        hint = "write true or false (without quotes)"
        if isinstance(node, YScalar) and str(node.value).lower() in ("yes", "no", "on", "off"):
            hint = "YAML 1.2 reads yes/no/on/off as strings: write true or false"
        self.error(node.mark, f"{what} must be true or false, got {type_name(node)}", hint)
        return False

    def reference(
        self, node: YNode, what: str, compiled: Mapping[str, Any], section: str
    ) -> str | None:
        """A name defined in ``section``; None (and an error) when it is not.

        A name that is defined but failed to compile returns None without a second
        error: its own errors already say what is wrong.
        """
        name = self.string(node, what)
        if name is None:
            return None
        known = self.defined.get(section, set()) | set(compiled)
        if name not in known:
            hint = did_you_mean(name, known) or f"define it under '{section}:'"
            self.error(node.mark, f"unknown {what} '{name}'", hint)
            return None
        return name if name in compiled else None

    # -- definitions --------------------------------------------------------------------

    def calendar(self, name: str, node: YNode) -> None:
        spec = self.mapping(node, f"calendar '{name}'", node.mark)
        if spec is None:
            return
        self.keys(spec, CALENDAR_KEYS, f"calendar '{name}'")
        zone = self._timezone(spec)
        hours: dict[str, tuple[tuple[int, int], ...]] = {}
        hours_node = spec.get("hours")
        reported = len(self.errors)
        if hours_node is None:
            self.error(spec.mark, f"calendar '{name}' needs 'hours'", "e.g. mon: [09:00-17:00]")
        else:
            hours_map = self.mapping(hours_node, "hours", spec.mark)
            for day, shifts_node in hours_map or ():
                if day not in WEEKDAYS:
                    hint = closest_or_all(day, WEEKDAYS)
                    self.error(
                        hours_map.keys[day] if hours_map else spec.mark,
                        f"unknown weekday '{day}'",
                        hint,
                    )
                    continue
                hours[day] = self._shifts(shifts_node)
                if _overlap(hours[day]):
                    hint = "shifts of one day must not overlap: mon: [09:00-12:00, 13:00-17:00]"
                    mark = hours_map.keys[day] if hours_map else shifts_node.mark
                    self.error(mark, f"calendar '{name}': shifts on {day} overlap", hint)
        holidays = self._holidays(spec.get("holidays"))
        # a refused shift is reported where it is: the calendar built without it would
        # add "needs at least one shift" for a calendar whose author wrote one
        refused = len(self.errors) > reported
        if zone is None or hours_node is None or refused or any(map(_overlap, hours.values())):
            return
        try:
            self.calendars[name] = Calendar(name, zone, hours, holidays)
        except ValueError as exc:
            hint = (
                "open on some day, with shifts that do not overlap: mon: [09:00-12:00, 13:00-17:00]"
            )
            self.error(hours_node.mark, f"calendar '{name}': {exc}", hint)

    def _timezone(self, spec: YMap) -> ZoneInfo | None:
        node = spec.get("timezone")
        if node is None:
            self.error(spec.mark, "a calendar needs 'timezone'", "e.g. timezone: Europe/Berlin")
            return None
        name = self.string(node, "timezone")
        if name is None:
            return None
        zones = iana_zones()
        if name in zones:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):  # listed, but unreadable
                pass
        self.error(node.mark, f"unknown time zone '{name}'", _zone_hint(name, zones))
        return None

    def _shifts(self, node: YNode) -> tuple[tuple[int, int], ...]:
        if isinstance(node, YScalar) and node.value in ("closed", None):
            return ()
        shifts = []
        for item in node.items if isinstance(node, YSeq) else (node,):
            text = self.string(item, "a shift")
            if text is None:
                continue
            try:
                shifts.append(parse_shift(text))
            except ValueError as exc:
                self.error(item.mark, str(exc), "write shifts like 09:00-17:00")
        return tuple(shifts)

    def _holidays(self, node: YNode | None) -> frozenset[dt.date]:
        if node is None:
            return frozenset()
        if not isinstance(node, YSeq):
            self.error(
                node.mark,
                f"holidays must be a list of dates, got {type_name(node)}",
                'e.g. holidays: ["2026-12-25", "2026-12-26"]',
            )
            return frozenset()
        days: set[dt.date] = set()
        for item in node.items:
            value = item.value if isinstance(item, YScalar) else None
            if isinstance(value, dt.date):
                days.add(value)
                continue
            if isinstance(value, str):
                try:
                    days.add(dt.date.fromisoformat(value))
                    continue
                except ValueError:
                    pass
            self.error(
                item.mark, f"bad holiday {show(to_plain(item))}", "write dates as YYYY-MM-DD"
            )
        return frozenset(days)

    def queue(self, name: str, node: YNode, mark: Mark) -> None:
        """A queue; ``mark`` is where its name is written (warnings point there)."""
        spec = self.mapping(node, f"queue '{name}'", mark)
        if spec is None:
            return
        self.keys(spec, QUEUE_KEYS, f"queue '{name}'")
        skills_node = spec.get("skills")
        skills = self.strings(skills_node, "a skill") if skills_node is not None else ()
        self.queues[name] = Queue(name, frozenset(skills), mark)

    def policy(self, name: str, node: YNode) -> None:
        spec = self.mapping(node, f"SLA policy '{name}'", node.mark)
        if spec is None:
            return
        self.keys(spec, POLICY_KEYS, f"SLA policy '{name}'")
        calendar = None
        if (cal_node := spec.get("calendar")) is not None:
            cal_name = self.reference(cal_node, "calendar", self.calendars, "calendars")
            calendar = self.calendars.get(cal_name) if cal_name else None
        targets: dict[str, dict[str, timedelta]] = {}
        for target in TARGETS:
            if (target_node := spec.get(target)) is not None:
                targets[target] = self._target(name, target, target_node)
        if not any(k in spec.entries for k in TARGETS):
            self.error(spec.mark, f"SLA policy '{name}' sets no target", one_of(TARGETS))
        warn = spec.get("warn_before")
        warn_before = self.duration(warn, "warn_before") if warn is not None else None
        warn_mark = spec.keys.get("warn_before")
        self.policies[name] = SlaPolicy(name, targets, calendar, warn_before, warn_mark)

    def _target(self, policy: str, target: str, node: YNode) -> dict[str, timedelta]:
        """A target's time per priority. One that names no priority (``{}``) starts no
        clock: an error, as a policy that sets no target is."""
        if isinstance(node, YMap):
            if not node.entries:
                self.error(
                    node.mark,
                    f"SLA policy '{policy}': {target} sets no priority",
                    f"give its priorities their times, e.g. {target}: {{urgent: 1h, normal: 4h}}, "
                    f"one time for every priority, {target}: 4h, or leave it out",
                )
            per_priority: dict[str, timedelta] = {}
            for priority, value in node:
                if priority not in PRIORITIES:
                    hint = closest_or_all(priority, PRIORITIES)
                    self.error(node.keys[priority], f"unknown priority '{priority}'", hint)
                    continue
                if (duration := self.duration(value, f"{target}.{priority}")) is not None:
                    per_priority[priority] = duration
            return per_priority
        duration = self.duration(node, target)
        return dict.fromkeys(PRIORITIES, duration) if duration is not None else {}

    def assignment(self, node: YNode | None, mark: Mark) -> Assignment:
        spec = self.mapping(node, "assignment", mark)
        if spec is None:
            return Assignment()
        self.keys(spec, ASSIGNMENT_KEYS, "assignment")
        strategy = "least_loaded"
        if (strategy_node := spec.get("strategy")) is not None:
            strategy = self.choice(strategy_node, "strategy", STRATEGIES) or strategy
        timeout = timedelta(minutes=2)
        if (timeout_node := spec.get("accept_timeout")) is not None:
            timeout = self.duration(timeout_node, "accept_timeout") or timeout
        capacity = dict(DEFAULT_CAPACITY)
        capacity_node = spec.get("capacity")
        capacity_map = self.mapping(capacity_node, "capacity", mark) if capacity_node else None
        for channel, value in capacity_map or ():
            if channel not in CHANNELS:
                hint = closest_or_all(channel, CHANNELS)
                self.error(
                    capacity_map.keys[channel] if capacity_map else mark,
                    f"unknown channel '{channel}'",
                    hint,
                )
            elif not (
                isinstance(value, YScalar)
                and type(value.value) is int
                and 0 < value.value <= MAX_CAPACITY
            ):
                self.error(
                    value.mark,
                    f"capacity for {channel} must be a whole number from 1 to {MAX_CAPACITY:,}",
                    f"tickets an agent takes at once, e.g. {channel}: 3",
                )
            else:
                capacity[channel] = value.value
        return Assignment(strategy, timeout, capacity)

    def defaults(self, node: YNode | None, mark: Mark) -> Defaults | None:
        """``defaults`` fill what no rule set; without a queue there (or without the
        section) a ticket no rule routes lands in the first queue declared, else
        ``general``, and ``rules check`` says so."""
        implied = next(iter(self.queues), "general")
        if node is None:
            return Defaults(implied, implied_at=mark)
        spec = self.mapping(node, "defaults", mark)
        if spec is None:
            return None
        self.keys(spec, DEFAULT_KEYS, "defaults")
        queue_node = spec.get("queue")
        queue = (
            self.reference(queue_node, "queue", self.queues, "queues")
            if queue_node is not None
            else implied
        )
        priority = "normal"
        if (priority_node := spec.get("priority")) is not None:
            priority = self.choice(priority_node, "priority", PRIORITIES) or priority
        sla = None
        if (sla_node := spec.get("sla")) is not None:
            sla = self.reference(sla_node, "SLA policy", self.policies, "sla")
        if not queue:
            return None
        return Defaults(queue, priority, sla, implied_at=spec.mark if queue_node is None else None)

    def languages(self, node: YNode | None) -> tuple[str, ...]:
        """``languages: [en, de]``: ISO 639-1 codes the router detects in messages."""
        if node is None:
            return ()
        if not isinstance(node, YSeq):
            self.error(node.mark, f"languages must be a list, not {type_name(node)}", "[en, de]")
            return ()
        codes: list[str] = []
        for item in node.items:
            code = item.value if isinstance(item, YScalar) else None
            if isinstance(code, str) and code != code.lower() and LANGUAGE_CODE.match(code.lower()):
                hint = f"write it in lower case: {code.lower()}"
                self.error(item.mark, f"language '{code}' is not lower case", hint)
            elif not (isinstance(code, str) and LANGUAGE_CODE.match(code)):
                self.error(
                    item.mark,
                    "a language is a two-letter ISO 639-1 code in lower case",
                    "e.g. en, de",
                )
            elif code not in SUPPORTED_LANGUAGES:
                hint = (
                    SPLIT_CODES.get(code)
                    or did_you_mean(code, SUPPORTED_LANGUAGES)
                    or "see docs/rules.md#languages"
                )
                self.error(item.mark, f"language '{code}' cannot be detected", hint)
            elif code not in codes:
                codes.append(code)
        return tuple(codes)

    def metrics(self, node: YNode | None, mark: Mark) -> Metrics:
        spec = self.mapping(node, "metrics", mark) if node is not None else None
        if spec is None:
            return Metrics()
        self.keys(spec, METRICS_KEYS, "metrics")
        fcr_node = spec.get("fcr")
        fcr = self.mapping(fcr_node, "fcr", spec.mark) if fcr_node is not None else None
        if fcr is None:
            return Metrics()
        self.keys(fcr, FCR_KEYS, "fcr")
        default = FcrDefinition()
        counts = {
            name: self._count(fcr.get(name), name, getattr(default, name))
            for name in ("max_customer_contacts", "max_public_replies")
        }
        window = default.reopen_window
        if (window_node := fcr.get("reopen_window")) is not None:
            window = self.duration(window_node, "reopen_window") or window
        channels = None
        if (channels_node := fcr.get("channels")) is not None:
            items = channels_node.items if isinstance(channels_node, YSeq) else (channels_node,)
            if not items:  # no channel would count: first-contact resolution at zero
                self.error(
                    channels_node.mark,
                    "fcr channels must not be an empty list",
                    "name the channels whose tickets count, e.g. channels: [chat, email], "
                    "or leave channels out to count every channel",
                )
            found = (self.choice(item, "channel", CHANNELS) for item in items)
            channels = frozenset(c for c in found if c is not None)
        return Metrics(FcrDefinition(reopen_window=window, channels=channels, **counts))

    def _count(self, node: YNode | None, what: str, default: int) -> int:
        if node is None:
            return default
        if isinstance(node, YScalar) and type(node.value) is int and node.value >= 1:
            return node.value
        self.error(node.mark, f"{what} must be a whole number of at least 1", f"e.g. {what}: 1")
        return default
