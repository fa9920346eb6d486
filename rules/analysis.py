"""Warnings for ``rules check``: legal rulesets that probably do not do what was meant.

The checks are conservative: they reason only about a rule's top-level conditions
(an ``all`` of simple tests), so a warning is worth reading and silence is no proof.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from pathlib import Path

from jinja2 import FileSystemLoader, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from router.vocabulary import CHANNELS, PRIORITIES, STATUSES
from rules.conditions import Condition
from rules.engine import RuleSet
from rules.errors import Mark, RuleWarning, did_you_mean
from rules.fields import TICKET_ALIASES
from rules.language import SPLIT_CODES, code_hint
from rules.loader import skipped_rule_files
from rules.model import TRIGGERS, Rule
from rules.never_match import leaves, never_in_status, never_on_created
from rules.runaway import runaway_patterns

_QUEUE_FIELDS = ("queue", "ticket.queue")
TEMPLATES = "templates"  # beside the rules: the notifier's templates and notify targets
TARGETS_FILE = "notify_targets.yaml"
BODIES = ("email", "sms")  # NAME.email.j2, NAME.sms.j2: a template is at least one of them


def find_warnings(ruleset: RuleSet) -> list[RuleWarning]:
    """Every warning for ``ruleset``, in file order."""
    found = [
        *_shadowed(ruleset),
        *_queue_overrides(ruleset),
        *_escalation_cycles(ruleset),
        *_unrouted_queues(ruleset),
        *_implied_queue(ruleset),
        *_warnings_never_given(ruleset),
        *_values_never_seen(ruleset),
        *_priorities_without_target(ruleset),
        *_no_actions(ruleset),
        *_tags_added_and_removed(ruleset),
        *_numbers_in_text_fields(ruleset),
        *_capitals_in_addresses(ruleset),
        *_text_in_number_fields(ruleset),
        *_language_spellings(ruleset),
        *_customer_field_typos(ruleset),
        *never_on_created(ruleset),
        *never_in_status(ruleset),
        *runaway_patterns(ruleset),
    ]
    unique = dict.fromkeys(found)
    return sorted(unique, key=lambda w: (w.mark.file, w.mark.line, w.mark.col))


def templates_dir(rules_path: Path) -> Path:
    """``templates/`` in the rules directory, or beside the rules file."""
    base = rules_path if rules_path.is_dir() else rules_path.parent
    return base / TEMPLATES


def skipped_files(rules_path: Path) -> list[RuleWarning]:
    """A file of a rules directory that is not read because its suffix is not lower
    case (``20-c.YAML``): its rules would be missing without a word."""
    return [
        RuleWarning(
            Mark(str(file), 1, 1),
            f"not read: rule files end in .yaml or .yml, in lower case ({file.name})",
            f"rename it to {file.stem}{file.suffix.lower()}",
        )
        for file in skipped_rule_files(rules_path)
    ]


def notification_warnings(ruleset: RuleSet, templates: Path) -> list[RuleWarning]:
    """``auto_reply`` templates and ``notify`` targets the notifier would not find in
    ``templates``: it dead-letters such a notification, so every one would be lost."""
    targets = _target_names(templates / TARGETS_FILE)
    found: list[RuleWarning] = []
    for rule in ruleset.rules + ruleset.escalations:
        for action in rule.actions:
            names = (action.value,) if isinstance(action.value, str) else action.value
            for name in names:
                if action.name == "auto_reply" and not any(
                    (templates / f"{name}.{body}.j2").is_file() for body in BODIES
                ):
                    message = f"auto_reply template '{name}' has no {name}.email.j2 or "
                    found.append(
                        RuleWarning(action.mark, message + f"{name}.sms.j2 in {templates}")
                    )
                elif action.name == "notify" and targets is not None and name not in targets:
                    message = f"notify target '{name}' is not in {templates / TARGETS_FILE}"
                    found.append(RuleWarning(action.mark, message))
    return found


def template_warnings(ruleset: RuleSet, templates: Path) -> list[RuleWarning]:
    """Templates the rules use that Jinja cannot compile (a syntax error, an unknown
    filter or test): the notifier dead-letters every notification that needs one. Each
    as ``file:line``, where Jinja says it is."""
    used = {
        name
        for rule in ruleset.rules + ruleset.escalations
        for action in rule.actions
        if action.name == "auto_reply" and isinstance(action.value, str)
        for name in (action.value,)
    } | (_targets_templates(templates / TARGETS_FILE) or set())
    env = SandboxedEnvironment(loader=FileSystemLoader(templates), autoescape=False)
    found: list[RuleWarning] = []
    for name in sorted(used):
        for part in ("subject", *BODIES):
            path = templates / f"{name}.{part}.j2"
            if not path.is_file():
                continue
            try:
                env.get_template(path.name)
            except TemplateSyntaxError as exc:
                message = f"template {path.name} does not compile: {exc.message}"
                found.append(RuleWarning(Mark(str(path), exc.lineno or 1, 1), message))
            except (TemplateError, UnicodeDecodeError, OSError) as exc:
                message = f"template {path.name} cannot be read: {exc}"
                found.append(RuleWarning(Mark(str(path), 1, 1), message))
    return found


def _targets_templates(path: Path) -> set[str] | None:
    """The templates ``notify_targets.yaml`` names (each target's, else its own name)."""
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError):
        return None
    targets = document.get("targets") if isinstance(document, dict) else None
    if not isinstance(targets, dict):
        return None
    return {
        str(t.get("template") or name) if isinstance(t, dict) else str(name)
        for name, t in targets.items()
    }


def _target_names(path: Path) -> set[str] | None:
    """The targets ``notify_targets.yaml`` names; None when it cannot be read (the
    notifier says why, per notification)."""
    try:
        document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    except (OSError, YAMLError, UnicodeDecodeError):
        return set() if not path.exists() else None
    targets = document.get("targets") if isinstance(document, dict) else None
    return set(targets) if isinstance(targets, dict) else None


def _implied_queue(ruleset: RuleSet) -> Iterable[RuleWarning]:
    defaults = ruleset.defaults
    if defaults.implied_at is not None:
        yield RuleWarning(
            defaults.implied_at,
            f"no default queue: a ticket no rule routes lands in '{defaults.queue}' "
            "(say so with defaults: {queue: ...})",
        )


def _warnings_never_given(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A ``warn_before`` as long as a target leaves no time to warn in: the warning of
    that target would be due when its clock starts, so none is given."""
    for policy in ruleset.sla_policies.values():
        if policy.warn_before is None or policy.warn_mark is None:
            continue
        short = sorted(
            f"{target} {priority}"
            for target, allowed in policy.targets.items()
            for priority, length in allowed.items()
            if length <= policy.warn_before
        )
        if short:
            yield RuleWarning(
                policy.warn_mark,
                f"warn_before is not shorter than the target, so no warning is given for: "
                f"{', '.join(short)} (policy '{policy.name}')",
            )


def _priorities_without_target(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A ``priority`` action setting a priority that an SLA policy the ticket may have
    gives no target, where it gives other priorities one: the ticket loses that clock,
    which then never warns or breaches. The policies are the rule's own ``sla``, else
    those its conditions allow (``ticket.sla_policy``) among all a ticket can get."""
    rules = ruleset.rules + ruleset.escalations
    given = {a.value for r in rules for a in r.actions if a.name == "sla"}
    given |= {ruleset.defaults.sla} if ruleset.defaults.sla else set()
    for rule in rules:
        action, own = rule.action("priority"), rule.action("sla")
        if action is None or not isinstance(action.value, str):
            continue
        priority = action.value
        policies = (
            {own.value} if own else given & _choices(rule.condition).get("ticket.sla_policy", given)
        )
        for name in sorted(p for p in policies if isinstance(p, str)):
            policy = ruleset.sla_policies.get(name)
            for target, allowed in policy.targets.items() if policy else ():
                if not allowed or priority in allowed:
                    continue
                has = ", ".join(p for p in PRIORITIES if p in allowed)
                yield RuleWarning(
                    action.mark,
                    f"SLA policy '{name}' has no {target} target for priority '{priority}' "
                    f"(only for {has}): the ticket loses its {target} clock, which then "
                    "never warns or breaches",
                    f"add {priority} to {target} in '{name}', or give {target} one value "
                    f"for every priority, e.g. {target}: 8h",
                )


def _no_actions(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A rule with an empty ``then`` that does not stop: matching it changes nothing."""
    for rule in ruleset.rules + ruleset.escalations:
        if not rule.actions and not rule.stop:
            yield RuleWarning(
                rule.mark,
                f"{rule.kind} '{rule.name}' has no actions: matching it changes nothing",
                "give 'then' an action, e.g. then: {tags: [seen]}, or add stop: true "
                "to keep later rules from running",
            )


def _tags_added_and_removed(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """One ``then`` that adds and removes the same tag: the key written later wins
    (``{tags: [t], remove_tags: [t]}`` leaves no ``t``, the reverse leaves it), which a
    reader of the rule cannot tell at a glance."""
    for rule in ruleset.rules + ruleset.escalations:
        added, removed = rule.action("tags"), rule.action("remove_tags")
        if added is None or removed is None:
            continue
        both = [t for t in added.value if t in removed.value]
        if not both:
            continue
        later = max((added, removed), key=lambda a: (a.mark.line, a.mark.col))
        outcome = "removes" if later is removed else "keeps"
        yield RuleWarning(
            later.mark,
            f"{rule.kind} '{rule.name}' both adds and removes {', '.join(map(repr, both))}: "
            f"'{later.name}' is written later, so the rule {outcome} "
            f"{'it' if len(both) == 1 else 'them'}",
            "name each tag in one of the two lists",
        )


_TICKET_VOCABULARIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ticket.channel": ("channel", CHANNELS),
    "ticket.channels_seen": ("channel", CHANNELS),
    "ticket.priority": ("priority", PRIORITIES),
    "ticket.status": ("status", STATUSES),
}
VOCABULARIES = {
    "channel": ("channel", CHANNELS),
    **_TICKET_VOCABULARIES,
    # the shorthands (``priority: high`` in an escalation) are the same fields
    **{
        alias: _TICKET_VOCABULARIES[f"ticket.{alias}"]
        for alias in TICKET_ALIASES
        if f"ticket.{alias}" in _TICKET_VOCABULARIES
    },
}


def _values_never_seen(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """A condition comparing a field of a fixed vocabulary with a value outside it
    (``channel: fax``, a misspelt ``ticket.priority``): it can never hold (or, negated,
    always does), which is rarely what was meant."""
    for rule in ruleset.rules + ruleset.escalations:
        for leaf in leaves(rule.condition):
            known = VOCABULARIES.get(leaf.field or "")
            if known is None or leaf.op not in ("equals", "in", "not_in", "contains"):
                continue
            what, words = known
            operands = leaf.operand if isinstance(leaf.operand, list | tuple) else [leaf.operand]
            for value in operands:
                if isinstance(value, str) and value not in words:
                    hint = did_you_mean(value, words) or f"one of: {', '.join(words)}"
                    yield RuleWarning(
                        leaf.mark or rule.mark,
                        f"'{value}' is no {what} ({hint}): {leaf.field} never equals it",
                    )


_TEXT_PREFIXES = ("metadata.", "customer.attributes.")
_TEXT_FIELDS = (
    "inbox",
    "ticket.inbox",
    "subject",
    "text",
    "customer.email",
    "customer.phone",
    "customer.name",
)
"""Fields that always hold text: an SMS inbox or a phone number is E.164 text."""
_ADDRESS_FIELDS = ("inbox", "ticket.inbox", "customer.email")
_NUMBER_FIELDS = tuple(
    f"{prefix}{name}"
    for name in ("contacts", "reopen_count", "agent_replies", "handle_seconds")
    for prefix in ("ticket.", "")
    if prefix or name in TICKET_ALIASES
)
_EQUALITY = ("equals", "in", "not_in")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _compared(ruleset: RuleSet) -> Iterable[tuple[Condition, object, str]]:
    """Each value an ``equals``/``in``/``not_in`` test compares exactly, with its leaf
    and the value as the file spells it (``+4930123456``, ``01234``, ``1.50``)."""
    for rule in ruleset.rules + ruleset.escalations:
        for leaf in leaves(rule.condition):
            if leaf.op not in _EQUALITY:
                continue
            operands = leaf.operand if isinstance(leaf.operand, list | tuple) else [leaf.operand]
            spelled = leaf.written if len(leaf.written) == len(operands) else ()
            for i, value in enumerate(operands):
                yield leaf, value, (spelled[i] if spelled else None) or str(value)


def _numbers_in_text_fields(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """``{metadata.plan_id: 42}`` on a field channels and CRMs mostly fill with strings,
    ``{inbox: +15551234567}`` on one that is always text: equality is exact, so "42"
    never equals 42 (``gt``/``lt`` read numbers in strings). The hint quotes the value
    as written: YAML reads ``01234`` as 1234 and ``+4930123456`` as 4930123456."""
    for leaf, value, written in _compared(ruleset):
        field = leaf.field or ""
        text_only = field in _TEXT_FIELDS
        if type(value) not in (int, float) or not (text_only or field.startswith(_TEXT_PREFIXES)):
            continue
        read_as = "" if written == str(value) else f", which YAML reads as the number {value}"
        what = f"{written}{read_as}" if read_as else f"the number {value}"
        yield RuleWarning(
            leaf.mark or Mark("<rules>", 1, 1),
            f"{field} is compared with {what} ({leaf.op}): a value sent as text "
            f'("{written}") never equals it',
            f'quote it ("{written}") to compare text'
            + ("" if text_only else "; gt, gte, lt and lte read numbers in text"),
        )


def _capitals_in_addresses(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """``{inbox: Billing@Acme.example}``: ingress lower-cases e-mail addresses (the
    inbox and ``customer.email``), and equality is exact, so it never matches."""
    for leaf, value, _ in _compared(ruleset):
        if (
            leaf.field in _ADDRESS_FIELDS
            and isinstance(value, str)
            and value != value.lower()
            and _EMAIL.match(value)
        ):
            yield RuleWarning(
                leaf.mark or Mark("<rules>", 1, 1),
                f"{leaf.field} is compared with '{value}' ({leaf.op}): addresses arrive "
                "lower-cased, so one with capitals never equals it",
                f"write it in lower case: {value.lower()}",
            )


def _text_in_number_fields(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """``{ticket.reopen_count: "2"}``: the ticket's counts are numbers, and equality is
    exact, so the text "2" never equals a count of 2."""
    for leaf, value, _ in _compared(ruleset):
        if leaf.field not in _NUMBER_FIELDS or not isinstance(value, str):
            continue
        number = _number_in(value)
        hint = (
            f"write the number without quotes: {number}"
            if number is not None
            else f"compare with a number, e.g. {{{leaf.field}: 2}} or {{gte: 2}}"
        )
        yield RuleWarning(
            leaf.mark or Mark("<rules>", 1, 1),
            f'{leaf.field} is a number, compared with the text "{value}" ({leaf.op}): '
            "a number never equals text",
            hint,
        )


def _number_in(text: str) -> str | None:
    """``text`` as a YAML number is written, when it is one (``"2"``, ``" 2.5"``)."""
    try:
        number = float(text.strip())
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return str(int(number)) if number.is_integer() and "." not in text else text.strip()


_LANGUAGE_FIELDS = ("language",)  # customer.language is as the CRM spells it
_LANGUAGE_CODE = re.compile(r"^[a-z]{2}$")


def _language_spellings(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """``{language: DE}``, ``{language: german}``: a message's language is a lower-case
    ISO 639-1 code (``de``), so any other spelling never equals it."""
    for leaf, value, _ in _compared(ruleset):
        if leaf.field not in _LANGUAGE_FIELDS or not isinstance(value, str):
            continue
        if _LANGUAGE_CODE.match(value) and value not in SPLIT_CODES:
            continue
        hint = code_hint(value) or "write a lower-case ISO 639-1 code, e.g. en, de"
        yield RuleWarning(
            leaf.mark or Mark("<rules>", 1, 1),
            f"'{value}' is no language code ({hint}): {leaf.field} never equals it",
        )


_CUSTOMER_FIELDS = ("tier", "email", "phone", "name", "language", "id")


def _customer_field_typos(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """``customer.teir``: ``customer.*`` is open (any CRM attribute is a field), so a
    misspelt known field loads and reads an attribute no CRM sends: never set."""
    for rule in ruleset.rules + ruleset.escalations:
        for leaf in leaves(rule.condition):
            head, _, name = (leaf.field or "").partition(".")
            if head != "customer" or "." in name or name in _CUSTOMER_FIELDS:
                continue
            close = get_close_matches(name, _CUSTOMER_FIELDS, n=1, cutoff=0.6)
            if close:
                yield RuleWarning(
                    leaf.mark or rule.mark,
                    f"customer.{name} is no customer field (did you mean "
                    f"'customer.{close[0]}'?): it reads a CRM attribute of that name, "
                    "unset unless the CRM sends one",
                    "correct the name, or write customer.attributes."
                    f"{name} to say it is a CRM attribute",
                )


def _where(rule: Rule, seen_from: Rule) -> str:
    """A rule named in a warning about another: by line, and by file too when the two
    are in different files of a rules directory."""
    if rule.mark.file != seen_from.mark.file:
        return f"'{rule.name}' ({rule.mark.file}:{rule.mark.line})"
    return f"'{rule.name}' (line {rule.mark.line})"


def _shadowed(ruleset: RuleSet) -> Iterable[RuleWarning]:
    """Rules that an earlier ``stop`` rule always pre-empts, for every trigger they have.

    An earlier stop rule whose top-level conditions are a subset of this rule's matches
    whenever this one would (an always-matching rule is the empty subset).
    """
    positions: dict[str, dict[Rule, int]] = {}
    stops: dict[str, list[tuple[int, Rule, frozenset[object]]]] = {}
    for trigger in TRIGGERS:  # once per ruleset: per rule, the scans had made it quadratic
        listening = ruleset.rules_for(trigger)
        positions[trigger] = {rule: position for position, rule in enumerate(listening)}
        stops[trigger] = [
            (position, rule, _atom_keys(rule.condition))
            for position, rule in enumerate(listening)
            if rule.stop
        ]
    for rule in ruleset.rules + ruleset.escalations:
        mine = _atom_keys(rule.condition)
        shadows: list[Rule] = []
        for trigger in rule.triggers:
            position = positions[trigger][rule]
            shadow = next(
                (r for at, r, keys in stops[trigger] if at < position and keys <= mine), None
            )
            if shadow is None:
                break
            shadows.append(shadow)
        else:
            if shadows:
                shadow = shadows[0]
                if shadow.condition.kind == "true":
                    why = "always matches"
                elif shadow.condition.key == rule.condition.key:
                    why = "has the same condition"
                else:
                    why = "matches whenever it would"
                yield RuleWarning(
                    rule.mark,
                    f"rule '{rule.name}' can never match: earlier rule "
                    f"{_where(shadow, rule)} {why} and stops",
                )


def _atom_keys(condition: Condition) -> frozenset[object]:
    return frozenset(atom.key for atom in condition.atoms())


def _choices(condition: Condition) -> dict[str, frozenset[str]]:
    """Per field, the string values a top-level equals/in test allows."""
    found: dict[str, frozenset[str]] = {}
    for atom in condition.atoms():
        if atom.kind == "leaf" and atom.field and atom.op in ("equals", "in"):
            values = [atom.operand] if atom.op == "equals" else list(atom.operand)
            if all(isinstance(v, str) for v in values):
                found[atom.field] = found.get(atom.field, frozenset(values)) & frozenset(values)
    return found


def _disjoint(a: Condition, b: Condition) -> bool:
    left, right = _choices(a), _choices(b)
    return any(not (left[f] & right[f]) for f in left.keys() & right.keys())


def _queue_overrides(ruleset: RuleSet) -> Iterable[RuleWarning]:
    seen: set[tuple[str, str]] = set()
    for trigger in ("ticket.created", "message.received", "ticket.reopened"):
        routing = [
            (rule, action.value)
            for rule in ruleset.rules_for(trigger)
            if (action := rule.action("queue")) is not None
        ]
        keys = [_atom_keys(rule.condition) for rule, _ in routing]
        for i, j in _may_override(routing, keys):
            (first, first_queue), (later, later_queue) = routing[i], routing[j]
            if (first.name, later.name) in seen:
                continue
            a, b = keys[i], keys[j]
            if b <= a:
                seen.add((first.name, later.name))
                yield RuleWarning(
                    later.mark,
                    f"rule '{later.name}' sets queue '{later_queue}' whenever rule "
                    f"{_where(first, later)} sets queue '{first_queue}' (its "
                    "conditions are a subset), so the earlier queue never sticks",
                )
            elif a & b and not a <= b and not _disjoint(first.condition, later.condition):
                seen.add((first.name, later.name))
                yield RuleWarning(
                    later.mark,
                    f"rules {_where(first, later)} and '{later.name}' set different queues "
                    f"('{first_queue}', '{later_queue}') and can both match; "
                    "the later rule wins",
                )


def _may_override(
    routing: Sequence[tuple[Rule, object]], keys: Sequence[frozenset[object]]
) -> list[tuple[int, int]]:
    """The pairs ``(i, j)``, ``i < j``, of rules setting different queues where rule ``j``
    may override rule ``i``, which does not stop: those sharing a top-level condition, and
    every earlier one for a rule with none (it matches whenever they do). No other pair
    can warn, and found through an index of the conditions, they are never compared:
    comparing every pair had taken ``rules check`` 55 s on 6,000 keyword rules."""
    holders: dict[object, list[int]] = {}
    pairs: set[tuple[int, int]] = set()
    for j, (rule, queue) in enumerate(routing):
        if keys[j]:
            earlier: Iterable[int] = (i for key in keys[j] for i in holders.get(key, ()))
        else:
            earlier = (i for i in range(j) if not routing[i][0].stop)
        pairs.update((i, j) for i in earlier if routing[i][1] != queue)
        if not rule.stop:
            for key in keys[j]:
                holders.setdefault(key, []).append(j)
    return sorted(pairs)


def _escalation_cycles(ruleset: RuleSet) -> Iterable[RuleWarning]:
    edges: dict[str, set[str]] = {}
    sources_of: dict[str, tuple[set[str], str]] = {}
    for rule in ruleset.escalations:
        action = rule.action("queue")
        if action is None or not isinstance(action.value, str):
            continue
        target = action.value
        choices = _choices(rule.condition)
        sources = set().union(*(choices[f] for f in _QUEUE_FIELDS if f in choices))
        sources = sources or set(ruleset.queues)
        sources.discard(target)
        sources_of[rule.name] = (sources, target)
        for source in sources:
            edges.setdefault(source, set()).add(target)
    for rule in ruleset.escalations:
        if rule.name not in sources_of:
            continue
        sources, target = sources_of[rule.name]
        path = _path_back(edges, target, sources)
        if path is not None:
            route = " -> ".join([path[-1], *path])
            yield RuleWarning(
                rule.mark,
                f"escalation '{rule.name}' can lead back to where it started ({route}); "
                "tickets may bounce between queues",
            )


def _path_back(edges: dict[str, set[str]], start: str, goals: set[str]) -> list[str] | None:
    """The shortest queue path from ``start`` to any of ``goals``, if there is one."""
    previous: dict[str, str | None] = {start: None}
    todo = deque([start])
    while todo:
        queue = todo.popleft()
        for nxt in sorted(edges.get(queue, ())):
            if nxt in previous:
                continue
            previous[nxt] = queue
            if nxt in goals:
                path = [nxt]
                step: str | None = queue
                while step is not None:
                    path.append(step)
                    step = previous[step]
                return path[::-1]
            todo.append(nxt)
    return None


def _unrouted_queues(ruleset: RuleSet) -> Iterable[RuleWarning]:
    routed = {ruleset.defaults.queue}
    for rule in ruleset.rules + ruleset.escalations:
        action = rule.action("queue")
        if action is not None and isinstance(action.value, str):
            routed.add(action.value)
    for name, queue in ruleset.queues.items():
        if name not in routed and queue.mark is not None:
            yield RuleWarning(
                queue.mark, f"no rule, escalation or default routes to queue '{name}'"
            )
