"""The roster file of ``switchboard simulate`` (contract section 10): who works when, with
which skills and seats, how long tickets take and how long customers wait.

It is read with the rule language's own machinery (``rules.source`` for YAML 1.2 with a
position on every node, ``rules.sections.SectionCompiler`` for the checks, ``RuleError``
for ``file:line:col`` messages), so a roster error reads exactly like a rule error and
every error in the file is reported at once. ``roster.schema.json`` beside this module
describes the same shape for editors.
"""

from __future__ import annotations

import json
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from router.errors import ConfigError
from rules.calendar import WEEKDAYS, Calendar
from rules.durations import DURATION_HINT, parse_duration, too_long
from rules.errors import (
    Mark,
    RuleError,
    RuleWarning,
    closest_or_all,
    did_you_mean,
    one_of,
    sorted_errors,
    yaml_text,
)
from rules.fields import FieldTable
from rules.loader import read_bounded
from rules.model import CHANNELS, Queue
from rules.sections import SectionCompiler
from rules.source import YMap, YNode, YScalar, YSeq, parse_yaml, type_name

TOP_KEYS = ("version", "timezone", "seed", "agents", "handling", "patience", "description")
AGENT_KEYS = ("id", "group", "count", "skills", "capacity", "shifts", "description")
DISTRIBUTIONS = ("exponential", "lognormal", "fixed")
HANDLING_KEYS = ("queue", "channel", *DISTRIBUTIONS)
Kind = Literal["exponential", "lognormal", "fixed"]


class RosterInvalid(ConfigError):
    """A roster failed to load; ``errors`` holds every problem found, in file order, and
    ``setting`` the option that named the file (``--roster`` or ``--against``)."""

    def __init__(self, errors: list[RuleError], option: str = "--roster") -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(option, f"invalid roster: {errors[0]}{more}")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A duration drawn at random: exponential (mean), lognormal (mean and standard
    deviation of the duration itself, not of its log) or fixed."""

    kind: Kind
    mean_s: float
    sd_s: float = 0.0

    def sample(self, rng: random.Random) -> float:
        if self.kind == "fixed":
            return self.mean_s
        if self.kind == "exponential":
            return rng.expovariate(1.0 / self.mean_s)
        sigma2 = math.log(1.0 + (self.sd_s / self.mean_s) ** 2)
        return rng.lognormvariate(math.log(self.mean_s) - sigma2 / 2, math.sqrt(sigma2))

    def to_yaml(self) -> dict[str, object]:
        if self.kind == "lognormal":
            return {"lognormal": {"mean": _seconds(self.mean_s), "sd": _seconds(self.sd_s)}}
        if self.kind == "fixed":
            return {"fixed": _seconds(self.mean_s)}
        return {"exponential": {"mean": _seconds(self.mean_s)}}


@dataclass(frozen=True, slots=True)
class HandlingRule:
    """How long an agent works on a ticket of ``queue`` on ``channel`` (None: any)."""

    queue: str | None
    channel: str | None
    distribution: Distribution
    mark: Mark | None = field(default=None, compare=False)  # of ``queue``, for errors

    def matches(self, queue: str, channel: str) -> bool:
        return self.queue in (None, queue) and self.channel in (None, channel)


@dataclass(frozen=True, slots=True)
class Staff:
    """One roster entry: a named agent, or a group of ``count`` identical agents named
    ``<group>-1`` .. ``<group>-<count>``. ``hours`` keeps the shifts as written (weekday ->
    shift strings) for printing a roster back; ``shifts`` is the same as a calendar."""

    name: str
    group: bool
    count: int
    skills: frozenset[str]
    capacity: Mapping[str, int]
    hours: Mapping[str, tuple[str, ...]]
    shifts: Calendar
    mark: Mark = field(compare=False)
    skill_marks: Mapping[str, Mark] = field(default_factory=dict, compare=False)

    def agent_ids(self) -> list[str]:
        return _agent_ids(self.name, self.group, self.count)


def _agent_ids(name: str, group: bool, count: int) -> list[str]:
    """A named agent is its own id; a group of N is <group>-1 .. <group>-N."""
    if not group:
        return [name]
    return [f"{name}-{i}" for i in range(1, count + 1)]


@dataclass(frozen=True, slots=True)
class Roster:
    file: str
    timezone: ZoneInfo
    seed: int
    staff: tuple[Staff, ...]
    handling: tuple[HandlingRule, ...]
    patience: Mapping[str, Distribution]

    def handling_for(self, queue: str, channel: str) -> Distribution:
        for rule in self.handling:
            if rule.matches(queue, channel):
                return rule.distribution
        raise ConfigError(
            "--roster",
            f"{self.file}: no 'handling' entry matches queue '{queue}' on channel "
            f"'{channel}' (end the list with a catch-all like {{exponential: {{mean: 6m}}}})",
        )

    def with_counts(self, counts: Mapping[str, int]) -> Roster:
        """The same roster with other head counts (group name -> count)."""
        staff = tuple(replace(s, count=counts.get(s.name, s.count)) for s in self.staff)
        return replace(self, staff=staff)

    def head_count(self) -> int:
        return sum(s.count for s in self.staff)


MAX_GROUP = 10_000
"""Agents in one group, at most: more is no roster, and would only fill memory."""
LONGEST_S = 36500 * 86400.0
"""A duration, at most (100 years, as the rules allow): longer ones overflow the clock."""


def load_roster(path: str | Path, option: str = "--roster") -> Roster:
    """The roster in the file; ``RosterInvalid`` naming ``option`` with every error."""
    path = Path(path)
    try:
        data = read_bounded(path)  # /dev/zero: refused, not read until memory runs out
    except OSError as exc:
        hint = f"give {option} a readable UTF-8 YAML file, e.g. examples/staffing/roster.yaml"
        error = RuleError(Mark(str(path), 1, 1), f"cannot read: {exc.strerror or exc}", hint)
        raise RosterInvalid([error], option) from None
    try:
        text = yaml_text(str(path), data, "roster")
    except RuleError as error:
        raise RosterInvalid([error], option) from None
    return loads_roster(text, str(path), option)


def loads_roster(text: str, file: str = "<string>", option: str = "--roster") -> Roster:
    """The roster in ``text``; raises ``RosterInvalid`` with every error found."""
    root, errors = parse_yaml(text, file)
    if root is None and not errors:
        errors = [RuleError(Mark(file, 1, 1), "empty roster", "start with 'version: 1'")]
    if root is None or errors:
        raise RosterInvalid(sorted_errors(errors), option)
    compiler = RosterCompiler(file)
    roster = compiler.roster(root)
    if compiler.errors or roster is None:
        raise RosterInvalid(sorted_errors(compiler.errors), option)
    return roster


def check_against(
    roster: Roster, queues: Mapping[str, Queue], option: str = "--roster"
) -> list[RuleWarning]:
    """The roster read against the rules it runs with, where a typo would otherwise
    silently change the result: a handling entry for a queue the rules do not have never
    matches (``RosterInvalid``), and a skill no queue requires serves nothing (a warning,
    returned: an agent may hold skills for rules not written yet)."""
    errors: list[RuleError] = []
    for rule in roster.handling:
        if rule.queue is not None and rule.queue not in queues:
            hint = did_you_mean(rule.queue, queues) or one_of(sorted(queues))
            mark = rule.mark or Mark(roster.file, 1, 1)
            errors.append(RuleError(mark, f"unknown queue '{rule.queue}' in handling", hint))
    if errors:
        raise RosterInvalid(sorted_errors(errors), option)
    required = sorted({skill for queue in queues.values() for skill in queue.skills})
    warnings: list[RuleWarning] = _handling_gaps(roster, queues)
    for staff in roster.staff:
        for skill in sorted(staff.skills - set(required)):
            hint = did_you_mean(skill, required) or (
                f"the rules require {', '.join(required)}" if required else "no queue needs one"
            )
            mark = staff.skill_marks.get(skill, staff.mark)
            warnings.append(
                RuleWarning(mark, f"skill '{skill}' is required by no queue of the rules ({hint})")
            )
    return warnings


def _handling_gaps(roster: Roster, queues: Mapping[str, Queue]) -> list[RuleWarning]:
    """A warning when some queue of the rules on some channel has no handling entry: a
    ticket there stops the run, so a day that happens to have none passes and the next
    one does not. Said before the run, where the list is."""
    gaps = [
        (queue, channel)
        for queue in sorted(queues)
        for channel in CHANNELS
        if not any(rule.matches(queue, channel) for rule in roster.handling)
    ]
    if not gaps:
        return []
    queue, channel = gaps[0]
    more = f" and {len(gaps) - 1} more" if len(gaps) > 1 else ""
    last = roster.handling[-1].mark if roster.handling else None
    message = (
        f"no handling entry for queue '{queue}' on channel '{channel}'{more}: a ticket there "
        "stops the run (end the list with a catch-all like {exponential: {mean: 6m}})"
    )
    return [RuleWarning(last or Mark(roster.file, 1, 1), message)]


class RosterCompiler(SectionCompiler):
    """The rule compiler's checks (strings, durations, time zones, shifts) applied to a
    roster: each problem is recorded with its place and the reading goes on."""

    def __init__(self, file: str) -> None:
        super().__init__(FieldTable())
        self.file = file

    def roster(self, root: YNode) -> Roster | None:
        if not isinstance(root, YMap):
            hint = "start with 'version: 1'"
            self.error(root.mark, f"a roster must be a mapping, got {type_name(root)}", hint)
            return None
        self.keys(root, TOP_KEYS, "the roster")
        self._version(root)
        zone = self._timezone(root)
        seed = self._seed(root.get("seed"))
        staff = self._staff(root.get("agents"), root.mark, zone)
        handling = self._handling(root.get("handling"), root.mark)
        patience = self._patience(root.get("patience"))
        if zone is None or self.errors:
            return None
        return Roster(self.file, zone, seed, staff, handling, patience)

    def _version(self, root: YMap) -> None:
        version = root.get("version")
        if version is None:
            self.error(root.mark, "missing 'version'", "start the roster with 'version: 1'")
        elif not (
            isinstance(version, YScalar) and type(version.value) is int and version.value == 1
        ):
            self.error(version.mark, "unsupported version", "this Switchboard reads 'version: 1'")

    def _seed(self, node: YNode | None) -> int:
        if node is None:
            return 0
        if isinstance(node, YScalar) and type(node.value) is int:
            return node.value
        self.error(
            node.mark,
            f"seed must be a whole number, got {_given(node)}",
            "write it without quotes, e.g. seed: 42; the same seed replays the same run",
        )
        return 0

    def _group_count(self, node: YNode | None, mark: Mark) -> int:
        if node is None:
            self.error(mark, "a group needs 'count'", "e.g. count: 4")
            return 0
        if isinstance(node, YScalar) and type(node.value) is int and node.value > MAX_GROUP:
            self.error(
                node.mark,
                f"count {node.value:,} is more than a roster simulates ({MAX_GROUP:,} agents)",
                f"at most count: {MAX_GROUP}",
            )
            return 0
        if isinstance(node, YScalar) and type(node.value) is int and node.value >= 0:
            return node.value
        self.error(
            node.mark,
            f"count must be a whole number >= 0, got {_given(node)}",
            "the number of agents in the group, without quotes, e.g. count: 4",
        )
        return 0

    def _staff(self, node: YNode | None, mark: Mark, zone: ZoneInfo | None) -> tuple[Staff, ...]:
        if node is None:
            self.error(mark, "missing 'agents'", "list agents or {group: NAME, count: N}")
            return ()
        if not isinstance(node, YSeq) or not node.items:
            self.error(
                node.mark,
                f"'agents' must be a non-empty list, got {_given(node)}",
                "one item per agent or group, e.g. "
                'agents: [{group: day, count: 4, shifts: {mon: ["09:00-17:00"]}}]',
            )
            return ()
        staff: list[Staff] = []
        seen: dict[str, Mark] = {}
        for item in node.items:
            entry = self._entry(item, zone, seen)
            if entry is not None:
                staff.append(entry)
        return tuple(staff)

    def _claim(self, agent_ids: list[str], mark: Mark, seen: dict[str, Mark]) -> None:
        """Record the entry's agent ids in ``seen``; an error for each one taken already.
        Called as soon as the ids are known, so a duplicate is reported with the entry's
        other errors, not only once they are fixed."""
        taken = [agent_id for agent_id in agent_ids if agent_id in seen]
        if taken:  # one error for the entry: a group named twice clashes in every member
            more = f" and {len(taken) - 1:,} more" if len(taken) > 1 else ""
            first = taken[0]
            self.error(mark, f"duplicate agent '{first}'{more}", f"first at {seen[first]}")
        for agent_id in agent_ids:
            seen.setdefault(agent_id, mark)

    def _entry(self, node: YNode, zone: ZoneInfo | None, seen: dict[str, Mark]) -> Staff | None:
        spec = self.mapping(node, "an agent", node.mark)
        if spec is None:
            return None
        self.keys(spec, AGENT_KEYS, "an agent")
        id_node, group_node = spec.get("id"), spec.get("group")
        if (id_node is None) == (group_node is None):
            self.error(
                spec.mark,
                "an agent needs 'id', a group needs 'group' (one of them)",
                "write 'id: a-1' for one agent, or 'group: day' with 'count: 4' for several",
            )
            return None
        group = group_node is not None
        name = self.string(group_node or id_node or spec, "group" if group else "id")
        count = self._group_count(spec.get("count"), spec.mark) if group else 1
        if name is not None:
            self._claim(_agent_ids(name, group, count), spec.mark, seen)
        if not group and "count" in spec.keys:
            self.error(
                spec.keys["count"], "'count' is for groups", "write 'group:' instead of 'id:'"
            )
        skills_node = spec.get("skills")
        skills: frozenset[str] = frozenset()
        if skills_node is not None and not (
            isinstance(skills_node, YSeq) and not skills_node.items
        ):
            skills = frozenset(self.strings(skills_node, "a skill"))  # [] is no skills
        marks = _marks(skills_node)
        capacity = self._capacity(spec.get("capacity"), spec.mark)
        hours, calendar = self._hours(spec, zone, name or "?")
        if name is None or calendar is None:
            return None
        return Staff(name, group, count, skills, capacity, hours, calendar, spec.mark, marks)

    def _capacity(self, node: YNode | None, mark: Mark) -> dict[str, int]:
        spec = self.mapping(node, "capacity", mark)
        capacity: dict[str, int] = {}
        for channel, value in spec or ():
            if channel not in CHANNELS:
                hint = closest_or_all(channel, CHANNELS)
                self.error(
                    spec.keys[channel] if spec else mark, f"unknown channel '{channel}'", hint
                )
            elif isinstance(value, YScalar) and type(value.value) is int and value.value >= 0:
                capacity[channel] = value.value
            else:
                self.error(
                    value.mark,
                    f"capacity must be a whole number >= 0, got {_given(value)}",
                    "the most tickets at once on that channel, e.g. capacity: {email: 3, chat: 2}",
                )
        return capacity

    def _hours(
        self, spec: YMap, zone: ZoneInfo | None, name: str
    ) -> tuple[dict[str, tuple[str, ...]], Calendar | None]:
        """The shifts as written and as a calendar. Shifts with an error (a bad shift, an
        unknown weekday) get no calendar: what is left of them without the bad ones would
        draw a second, wrong error from it (no shift in the week for a lone night shift
        written ``22:00-06:00``)."""
        node = spec.get("shifts")
        if node is None:
            self.error(spec.mark, f"'{name}' needs 'shifts'", 'e.g. shifts: {mon: ["09:00-17:00"]}')
            return {}, None
        errors = len(self.errors)
        week = self.mapping(node, "shifts", spec.mark)
        hours: dict[str, tuple[str, ...]] = {}
        parsed: dict[str, tuple[tuple[int, int], ...]] = {}
        for day, shifts_node in week or ():
            if day not in WEEKDAYS:
                hint = closest_or_all(day, WEEKDAYS)
                self.error(week.keys[day] if week else node.mark, f"unknown weekday '{day}'", hint)
                continue
            before = len(self.errors)
            parsed[day] = self._shifts(shifts_node)
            if len(self.errors) == before:
                items = shifts_node.items if isinstance(shifts_node, YSeq) else (shifts_node,)
                hours[day] = tuple(str(i.value) for i in items if isinstance(i, YScalar))
                self._overlapping(day, parsed[day], items)
        if zone is None or week is None or len(self.errors) > errors:
            return hours, None
        try:
            return hours, Calendar(name, zone, parsed)
        except ValueError as exc:
            hint = (
                "work on some day, with shifts that do not overlap: "
                'shifts: {mon: ["09:00-12:00", "13:00-17:00"]}'
            )
            self.error(node.mark, f"shifts of '{name}': {exc}", hint)
            return hours, None

    def _overlapping(
        self, day: str, shifts: tuple[tuple[int, int], ...], items: Sequence[YNode]
    ) -> None:
        """Each shift that starts before an earlier one of its day ends, reported where
        it is written (the calendar would only say that the day's shifts overlap)."""
        if len(shifts) != len(items):  # "closed", or no shift
            return
        written = sorted(
            (
                (shift, str(item.value), item.mark)
                for shift, item in zip(shifts, items, strict=True)
                if isinstance(item, YScalar)
            ),
            key=lambda w: w[0],  # stable: of two equal shifts, the second is reported
        )
        latest: tuple[tuple[int, int], str] | None = None  # the shift that ends last
        for shift, text, mark in written:
            if latest is not None and shift[0] < latest[0][1]:
                hint = 'shifts of one day must not overlap: mon: ["09:00-12:00", "13:00-17:00"]'
                self.error(mark, f"shift '{text}' on {day} overlaps '{latest[1]}'", hint)
            if latest is None or shift[1] > latest[0][1]:
                latest = (shift, text)

    def _handling(self, node: YNode | None, mark: Mark) -> tuple[HandlingRule, ...]:
        if node is None:
            self.error(mark, "missing 'handling'", "e.g. handling: [{exponential: {mean: 6m}}]")
            return ()
        if isinstance(node, YScalar) and node.value == "recorded":
            self.error(
                node.mark,
                "'handling: recorded' is not supported by this version",
                "give distributions per queue/channel, e.g. [{exponential: {mean: 6m}}]",
            )
            return ()
        if not isinstance(node, YSeq) or not node.items:
            self.error(
                node.mark,
                f"'handling' must be a non-empty list, got {_given(node)}",
                "first match wins; end with a catch-all, e.g. "
                "handling: [{queue: billing, fixed: 4m}, {exponential: {mean: 6m}}]",
            )
            return ()
        rules: list[HandlingRule] = []
        for item in node.items:
            spec = self.mapping(item, "a handling entry", item.mark)
            if spec is None:
                continue
            self.keys(spec, HANDLING_KEYS, "a handling entry")
            queue_node = spec.entries.get("queue")
            queue = self.string(queue_node, "queue") if queue_node is not None else None
            channel = None
            if "channel" in spec.keys:
                channel = self.choice(spec.entries["channel"], "channel", CHANNELS)
            distribution = self._distribution(spec, "a handling entry")
            if distribution is not None:
                where = queue_node.mark if queue_node is not None else None
                rules.append(HandlingRule(queue, channel, distribution, where))
        return tuple(rules)

    def _patience(self, node: YNode | None) -> dict[str, Distribution]:
        if node is None:
            return {}
        spec = self.mapping(node, "patience", node.mark)
        patience: dict[str, Distribution] = {}
        for channel, value in spec or ():
            if channel not in CHANNELS:
                hint = closest_or_all(channel, CHANNELS)
                self.error(
                    spec.keys[channel] if spec else node.mark, f"unknown channel '{channel}'", hint
                )
                continue
            entry = self.mapping(value, f"patience on {channel}", value.mark)
            if entry is not None:
                self.keys(entry, DISTRIBUTIONS, f"patience on {channel}")
                found = self._distribution(entry, f"patience on {channel}")
                if found is not None:
                    patience[channel] = found
        return patience

    def _distribution(self, spec: YMap, what: str) -> Distribution | None:
        kinds = [k for k in DISTRIBUTIONS if k in spec.keys]
        if len(kinds) != 1:
            self.error(spec.mark, f"{what} needs one distribution", one_of(DISTRIBUTIONS))
            return None
        kind: Kind = kinds[0]  # type: ignore[assignment]
        node = spec.entries[kind]
        if kind == "fixed" and isinstance(node, YScalar):
            value = self._seconds(node, "fixed")
            return None if value is None else Distribution("fixed", value)
        params = self.mapping(node, kind, node.mark)
        if params is None:
            return None
        wanted = ("mean", "sd") if kind == "lognormal" else ("mean",)
        self.keys(params, wanted, kind)
        values: list[float] = []
        for name in wanted:
            if name not in params.keys:
                example = "{mean: 7m, sd: 4m}" if kind == "lognormal" else "{mean: 6m}"
                self.error(params.mark, f"{kind} needs '{name}'", f"e.g. {kind}: {example}")
                return None
            value = self._seconds(params.entries[name], f"{kind} {name}")
            if value is None:
                return None
            values.append(value)
        return Distribution(kind, values[0], values[1] if len(values) > 1 else 0.0)

    def _seconds(self, node: YNode, what: str) -> float | None:
        """A duration as rules write it (``6m``), or a number of seconds; above zero."""
        if isinstance(node, YScalar) and type(node.value) in (int, float):
            seconds = float(node.value)  # type: ignore[arg-type]
            if seconds > LONGEST_S and math.isfinite(seconds):
                longest = f"duration {node.value} s for {what} is longer than 100 years"
                self.error(node.mark, longest, "use at most 36500d")
                return None
            if 0 < seconds <= LONGEST_S:  # not .inf, .nan
                return seconds
        elif isinstance(node, YScalar) and isinstance(node.value, str):
            value = parse_duration(node.value)
            if value is not None:
                return value.total_seconds()
            if too_long(node.value):
                longest = f"duration '{node.value}' for {what} is longer than 100 years"
                self.error(node.mark, longest, "use at most 36500d")
                return None
        self.error(node.mark, f"bad duration for {what}", DURATION_HINT + "; or seconds > 0")
        return None


def _given(node: YNode) -> str:
    """What a value is, for "must be ..., got ..." messages: a number as it reads
    (``-1``, ``1.5``), where "a number" would not say what is wrong with it; an empty
    list as such; anything else by its kind (``a string``)."""
    if isinstance(node, YScalar) and type(node.value) in (int, float):
        return str(node.value)
    if isinstance(node, YSeq) and not node.items:
        return "an empty list"
    return type_name(node)


def _marks(node: YNode | None) -> dict[str, Mark]:
    """Where each string of a string-or-list node is written (the first time)."""
    items = node.items if isinstance(node, YSeq) else (node,) if node is not None else ()
    marks: dict[str, Mark] = {}
    for item in items:
        if isinstance(item, YScalar) and isinstance(item.value, str):
            marks.setdefault(item.value, item.mark)
    return marks


def on_shift(staff: Staff, start: datetime, end: datetime) -> list[tuple[float, float]]:
    """The spans (epoch seconds) a roster entry works between ``start`` and ``end``, from
    its shifts in the roster's time zone; back-to-back shifts (a night shift written as
    22:00-24:00 and 00:00-06:00) are one span."""
    zone = staff.shifts.timezone
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date()
    spans: list[tuple[float, float]] = []
    while day <= last:
        for begin, finish in staff.shifts.open_intervals(day):
            a, b = max(begin, start).timestamp(), min(finish, end).timestamp()
            if b <= a:
                continue
            if spans and spans[-1][1] >= a:
                spans[-1] = (spans[-1][0], max(spans[-1][1], b))
            else:
                spans.append((a, b))
        day += timedelta(days=1)
    return spans


def _seconds(value: float) -> str | float:
    """A duration for printing a roster back: ``6m`` or ``90s`` where whole, else seconds."""
    if value.is_integer():
        minutes, seconds = divmod(int(value), 60)
        return f"{minutes}m" if minutes and not seconds else f"{int(value)}s"
    return round(value, 3)


_PLAIN = re.compile(r"[A-Za-z0-9_][\w.-]*")
_NOT_PLAIN = re.compile(r"[-+]?\d+(\.\d*)?|true|false|null|yes|no|on|off", re.IGNORECASE)


def _flow(value: object) -> str:
    """A value in YAML flow style; strings plain where YAML 1.2 reads them back as the
    same string, else quoted (JSON strings are YAML strings)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, str):
        plain = _PLAIN.fullmatch(value) and not _NOT_PLAIN.fullmatch(value)
        return value if plain else json.dumps(value)
    return json.dumps(value)


def dump_roster(roster: Roster) -> str:
    """The roster as a roster file, one entry per line, for printing the roster
    ``--target`` found."""
    lines = ["version: 1", f"timezone: {roster.timezone.key}", f"seed: {roster.seed}", "agents:"]
    for staff in roster.staff:
        entry: dict[str, object] = (
            {"group": staff.name, "count": staff.count} if staff.group else {"id": staff.name}
        )
        if staff.skills:
            entry["skills"] = sorted(staff.skills)
        if staff.capacity:
            entry["capacity"] = dict(staff.capacity)
        entry["shifts"] = {day: list(shifts) for day, shifts in staff.hours.items()}
        lines.append("  - " + _flow(entry))
    lines.append("handling:")
    for rule in roster.handling:
        where = {k: v for k, v in (("queue", rule.queue), ("channel", rule.channel)) if v}
        lines.append("  - " + _flow({**where, **rule.distribution.to_yaml()}))
    if roster.patience:
        patience = {c: d.to_yaml() for c, d in roster.patience.items()}
        lines.append("patience: " + _flow(patience))
    return "\n".join(lines) + "\n"
