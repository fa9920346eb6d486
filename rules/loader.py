"""Reads rule files, merges them, compiles them and fingerprints their content.

A directory is read as every ``*.yaml``/``*.yml`` file directly in it (not in
subdirectories, so ``tests/`` can hold ``rules test`` cases), in file-name order: rules
of ``10-vip.yaml`` run before those of ``20-billing.yaml``. Calendars, queues, SLA
policies and rule names must be unique across files; ``defaults`` and ``assignment``
may be set by one file only.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import regex

from rules.compiler import RuleCompiler
from rules.engine import RuleSet
from rules.errors import (
    Mark,
    RuleError,
    RuleSetInvalid,
    closest_or_all,
    sorted_errors,
    yaml_text,
)
from rules.fields import FieldTable, composed
from rules.model import Assignment, Metrics, Rule
from rules.source import YMap, YNode, YScalar, YSeq, parse_yaml, to_plain, type_name

TOP_KEYS = (
    "version",
    "calendars",
    "queues",
    "sla",
    "assignment",
    "defaults",
    "languages",
    "metrics",
    "rules",
    "escalations",
)
_NAMED_SECTIONS = ("calendars", "queues", "sla")
_SINGLE_SECTIONS = ("assignment", "defaults", "languages", "metrics")
_LIST_SECTIONS = ("rules", "escalations")
_NAMES = {
    "calendars": ("calendar", "office"),
    "queues": ("queue", "billing"),
    "sla": ("SLA policy", "standard"),
}
"""What an entry of a named section is called, and a name for one."""
_SECTION_EXAMPLES = {
    "calendars": "calendars: {office: {timezone: UTC, hours: {mon: [09:00-17:00]}}}",
    "queues": "queues: {general: {}, billing: {skills: [billing]}}",
    "sla": "sla: {standard: {first_response: 4h}}",
}


def rule_files(path: Path) -> list[Path]:
    """The files a directory ruleset is made of, in evaluation order."""
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and not p.name.startswith(".")
    )


def skipped_rule_files(path: Path) -> list[Path]:
    """Files of a rules directory that look like rule files but are not read: the
    suffix must be lower case (``20-billing.YAML`` is skipped)."""
    if not path.is_dir():
        return []
    return sorted(
        p
        for p in path.iterdir()
        if p.is_file()
        and p.suffix.lower() in (".yaml", ".yml")
        and p.suffix not in (".yaml", ".yml")
        and not p.name.startswith(".")
    )


MAX_RULE_FILE_BYTES = 64 * 1024 * 1024
"""A rule file larger than this is refused unread (``/dev/zero`` had read until memory
ran out): 12,000 rules are about 1 MB."""


def read_bounded(file: Path) -> bytes:
    """The file's bytes, refused (``OSError``) past ``MAX_RULE_FILE_BYTES`` unread."""
    with file.open("rb") as handle:
        data = handle.read(MAX_RULE_FILE_BYTES + 1)
    if len(data) > MAX_RULE_FILE_BYTES:
        raise OSError(f"larger than {MAX_RULE_FILE_BYTES // (1024 * 1024)} MiB")
    return data


def load_ruleset(path: str | Path) -> RuleSet:
    """Load a rule file or a directory of them; raises RuleSetInvalid with every error."""
    path = Path(path)
    if path.is_dir():
        files = rule_files(path)
        if not files:
            hint = "put *.yaml or *.yml rule files directly in it, or give one rule file"
            raise RuleSetInvalid(
                [RuleError(Mark(str(path), 1, 1), "no *.yaml rule files in this directory", hint)]
            )
    else:
        files = [path]
    sources: list[tuple[str, str]] = []
    errors: list[RuleError] = []
    for file in files:
        try:
            data = read_bounded(file)
        except OSError as exc:
            hint = "give the path of a readable UTF-8 rule file or a directory of them"
            errors.append(
                RuleError(
                    Mark(str(file), 1, 1), f"cannot read rule file: {exc.strerror or exc}", hint
                )
            )
            continue
        try:
            text = yaml_text(str(file), data, "rule file")
        except RuleError as error:
            errors.append(error)
            continue
        # line ends as a text-mode read gives them, whatever editor saved the file
        sources.append((str(file), text.replace("\r\n", "\n").replace("\r", "\n")))
    if errors:
        raise RuleSetInvalid(errors)
    return load_sources(sources)


def loads_ruleset(text: str, file: str = "<string>") -> RuleSet:
    """Load a ruleset from YAML text (``file`` names it in errors)."""
    return load_sources([(file, text)])


def load_sources(sources: Sequence[tuple[str, str]]) -> RuleSet:
    """Load a ruleset from (file name, YAML text) pairs, merged in the order given."""
    errors: list[RuleError] = []
    roots: list[tuple[str, YMap]] = []
    for file, text in sources:
        root, parse_errors = parse_yaml(text, file)
        errors.extend(parse_errors)
        root = None if root is None else _composed(root, errors)
        if root is None:
            if not parse_errors:
                errors.append(
                    RuleError(Mark(file, 1, 1), "empty rule file", "start with 'version: 1'")
                )
            continue
        if not isinstance(root, YMap):
            errors.append(
                RuleError(
                    root.mark,
                    f"a rule file must be a mapping, got {type_name(root)}",
                    "start with 'version: 1'",
                )
            )
            continue
        roots.append((file, root))
    if len(roots) < len(sources):
        # A file that cannot be read as YAML would only add misleading errors (a missing
        # queue it defines, say): report what is wrong with the files themselves first.
        raise RuleSetInvalid(sorted_errors(errors))
    merged = _Merged(errors)
    for file, root in roots:
        merged.add(file, root)
    ruleset = merged.compile(sources[0][0] if sources else "<string>")
    if errors or ruleset is None:
        raise RuleSetInvalid(sorted_errors(errors))
    return ruleset


def _composed(node: YNode, errors: list[RuleError]) -> YNode:
    """The file's text composed (NFC), keys and values: a name, value or pattern typed
    with a decomposed accent ("n" plus a combining tilde, as some systems save text) is
    the one spelled composed, which is what the engine compares text as. Two keys that
    differ only so are one key written twice."""
    if isinstance(node, YScalar):
        value = node.value
        if isinstance(value, str) and composed(value) != value:
            return YScalar(composed(value), node.mark, node.text)
        return node
    if isinstance(node, YSeq):
        return YSeq(tuple(_composed(item, errors) for item in node.items), node.mark)
    entries: dict[str, YNode] = {}
    keys: dict[str, Mark] = {}
    for key, item in node:
        name, mark = composed(key), node.keys[key]
        if name in entries:
            first = keys[name].line
            errors.append(
                RuleError(
                    mark,
                    f"duplicate key '{name}'",
                    f"'{name}' is already set at line {first}, its accents composed otherwise "
                    "(the same text in other code points); YAML keeps only one",
                )
            )
            continue
        entries[name] = _composed(item, errors)
        keys[name] = mark
    return YMap(entries, keys, node.mark, node.merges)


_HIDDEN = regex.compile(
    r"[[\p{Cc}\p{Cf}\p{Default_Ignorable_Code_Point}]"
    r"--[\u200C\u200D\u034F\u180B-\u180D\u180F\uFE00-\uFE0F\U000E0020-\U000E007F"
    r"\U000E0100-\U000E01EF]]",
    regex.V1,
)
"""What does not show and is no part of a name's writing: controls, the zero-width space,
the bidi marks and controls, the soft hyphen, the BOM. Not the joiners and variation
selectors that spell an emoji (``⚠️``, ``👩‍💻``) or a Persian or Indic word (ZWNJ):
a name written with them is as its writers write it, and refusing it would stop an
existing ruleset from loading."""


def hidden_character(name: str, what: str, mark: Mark) -> RuleError | None:
    """An error when ``name`` holds a character that does not show (a zero-width space,
    a bidi control, a control character): such a name looks like another one and is not
    it, so a reference typed as it looks fails with a hint naming the look-alike."""
    found = _HIDDEN.search(name)
    if found is None:
        return None
    char = found.group()
    shown = "".join(repr(c)[1:-1] if _HIDDEN.match(c) else c for c in name)
    label = unicodedata.name(char, "a control character")
    return RuleError(
        mark,
        f"{what} '{shown}' contains U+{ord(char):04X} {label}, which does not show",
        "delete it (retype the name): names are compared character by character",
    )


def content_hash(roots: Sequence[YNode]) -> str:
    """sha256 over the files' data as canonical JSON: comments and layout do not count;
    the order of keys does (the first queue declared is the fallback, and the actions of
    a rule apply in the order written: ``tags`` then ``remove_tags`` is not the reverse)."""
    canonical = json.dumps(
        [to_plain(root) for root in roots],
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class _Merged:
    """The sections of several files gathered in order, checking for clashes."""

    def __init__(self, errors: list[RuleError]) -> None:
        self.errors = errors
        self.roots: list[YMap] = []
        self.files: list[str] = []
        self.named: dict[str, dict[str, tuple[YNode, Mark]]] = {s: {} for s in _NAMED_SECTIONS}
        self.single: dict[str, tuple[YNode, Mark]] = {}
        self.lists: dict[str, list[YNode]] = {s: [] for s in _LIST_SECTIONS}

    def add(self, file: str, root: YMap) -> None:  # noqa: PLR0912 - one branch per section
        self.roots.append(root)
        self.files.append(file)
        for key, mark in root.keys.items():
            if key not in TOP_KEYS:
                self.errors.append(
                    RuleError(
                        mark,
                        f"unknown top-level key '{key}'",
                        closest_or_all(key, TOP_KEYS),
                    )
                )
        version = root.get("version")
        if version is None:
            self.errors.append(
                RuleError(root.mark, "missing 'version'", "start every rule file with 'version: 1'")
            )
        elif not (
            isinstance(version, YScalar) and type(version.value) is int and version.value == 1
        ):
            self.errors.append(
                RuleError(
                    version.mark,
                    f"unsupported version {json.dumps(to_plain(version), default=str)}",
                    "this Switchboard reads 'version: 1'",
                )
            )
        for section in _NAMED_SECTIONS:
            self._named(section, root)
        for section in _SINGLE_SECTIONS:
            node = root.get(section)
            if node is None:
                continue
            if section in self.single:
                first = self.single[section][1]
                self.errors.append(
                    RuleError(
                        root.keys[section],
                        f"'{section}' is already set",
                        f"first set at {first}; keep one",
                    )
                )
            else:
                self.single[section] = (node, root.keys[section])
        for section in _LIST_SECTIONS:
            node = root.get(section)
            if node is None or (isinstance(node, YScalar) and node.value is None):
                continue
            if isinstance(node, YSeq):
                self.lists[section].extend(node.items)
            else:
                self.errors.append(
                    RuleError(
                        node.mark,
                        f"'{section}' must be a list, got {type_name(node)}",
                        "each entry starts with '- name: ...'",
                    )
                )

    def _named(self, section: str, root: YMap) -> None:
        node = root.get(section)
        if node is None or (isinstance(node, YScalar) and node.value is None):
            return
        if not isinstance(node, YMap):
            self.errors.append(
                RuleError(
                    node.mark,
                    f"'{section}' must be a mapping of names, got {type_name(node)}",
                    f"name each entry, e.g. {_SECTION_EXAMPLES[section]}",
                )
            )
            return
        known = self.named[section]
        what, example = _NAMES[section]
        for name, value in node:
            mark = node.keys[name]
            if not name.strip():  # no reference can name it: its text must not be empty
                self.errors.append(
                    RuleError(
                        mark,
                        f"empty {what} name",
                        f"name it, e.g. {example}; rules and defaults refer to it by name",
                    )
                )
                continue
            if (hidden := hidden_character(name, f"{what} name", mark)) is not None:
                self.errors.append(hidden)  # still defined: its references say nothing more
            if name in known:
                self.errors.append(
                    RuleError(
                        mark, f"duplicate {what} '{name}'", f"already defined at {known[name][1]}"
                    )
                )
                continue
            known[name] = (value, mark)

    def compile(self, first_file: str) -> RuleSet | None:
        compiler = RuleCompiler(FieldTable())
        compiler.errors = self.errors
        compiler.defined = {section: set(names) for section, names in self.named.items()}
        for name, (node, _) in self.named["calendars"].items():
            compiler.calendar(name, node)
        for name, (node, mark) in self.named["queues"].items():
            compiler.queue(name, node, mark)
        for name, (node, _) in self.named["sla"].items():
            compiler.policy(name, node)
        top = Mark(first_file, 1, 1)
        assignment_node = self.single.get("assignment")
        assignment = (
            compiler.assignment(assignment_node[0], assignment_node[1])
            if assignment_node
            else Assignment()
        )
        defaults_node = self.single.get("defaults")
        defaults = (
            compiler.defaults(*defaults_node) if defaults_node else compiler.defaults(None, top)
        )
        languages_node = self.single.get("languages")
        languages = compiler.languages(languages_node[0] if languages_node else None)
        metrics_node = self.single.get("metrics")
        metrics = compiler.metrics(*metrics_node) if metrics_node else Metrics()
        compiled: dict[str, list[Rule]] = {}
        names: dict[str, Mark] = {}
        for section, kind in (("rules", "rule"), ("escalations", "escalation")):
            compiled[section] = []
            for node in self.lists[section]:
                self._check_name(node, names, kind)
                rule = compiler.rule(node, kind)
                if rule is not None:
                    compiled[section].append(rule)
        if self.errors or defaults is None:
            return None
        return RuleSet(
            content_hash=content_hash(self.roots),
            files=self.files,
            defaults=defaults,
            queues=compiler.queues,
            sla_policies=compiler.policies,
            assignment=assignment,
            languages=languages,
            metrics=metrics,
            calendars=compiler.calendars,
            rules=compiled["rules"],
            escalations=compiled["escalations"],
            table=compiler.table,
        )

    def _check_name(self, node: YNode, names: dict[str, Mark], kind: str) -> None:
        name_node = node.get("name") if isinstance(node, YMap) else None
        if not (isinstance(name_node, YScalar) and isinstance(name_node.value, str)):
            return
        name = name_node.value
        if (hidden := hidden_character(name, f"{kind} name", name_node.mark)) is not None:
            self.errors.append(hidden)
        elif name in names:
            self.errors.append(
                RuleError(
                    name_node.mark,
                    f"duplicate rule name '{name}'",
                    f"already used at {names[name]}",
                )
            )
        else:
            names[name] = name_node.mark
