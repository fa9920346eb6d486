"""The shipped example ruleset: loads cleanly, passes its own cases, matches the schema."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from rules import load_ruleset, loads_ruleset
from rules.analysis import find_warnings
from rules.casefile import load_cases, run_case
from rules.compiler import RULE_KEYS
from rules.loader import TOP_KEYS
from rules.model import ACTIONS, ESCALATION_TRIGGERS, RULE_TRIGGERS
from rules.operators import OPERATORS
from rules.source import parse_yaml, to_plain

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[3] / "rules"
EXAMPLES = PACKAGE / "examples"
CASES = EXAMPLES / "tests" / "cases.yaml"
SCHEMA = json.loads((PACKAGE / "schema.json").read_text(encoding="utf-8"))


def test_examples_load_without_warnings() -> None:
    rs = load_ruleset(EXAMPLES)
    assert rs.files == (str(EXAMPLES / "rules.yaml"),)
    assert set(rs.queues) == {"general", "billing", "tech", "tech-t2", "sales", "vip"}
    assert len(rs.escalations) >= 3
    assert find_warnings(rs) == []


CASE_LIST = load_cases(CASES)


def test_there_are_enough_example_cases() -> None:
    assert len(CASE_LIST) >= 10


@pytest.mark.parametrize("case", CASE_LIST, ids=[c.name for c in CASE_LIST])
def test_example_case(case: Any) -> None:
    result = run_case(load_ruleset(EXAMPLES), case)
    assert result.mismatches == ()


# -- JSON Schema ---------------------------------------------------------------------------


def validate(  # noqa: PLR0912 - one branch per JSON Schema keyword
    instance: Any, schema: dict[str, Any], root: dict[str, Any] = SCHEMA
) -> list[str]:
    """The subset of JSON Schema 2020-12 that rules/schema.json uses (jsonschema is not a
    dependency); returns the problems found, empty when valid."""
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return validate(instance, target, root)
    problems: list[str] = []
    kinds = schema.get("type")
    if kinds is not None:
        allowed = [kinds] if isinstance(kinds, str) else kinds
        checks = {
            "object": lambda v: isinstance(v, dict),
            "array": lambda v: isinstance(v, list),
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "null": lambda v: v is None,
        }
        if not any(checks[k](instance) for k in allowed):
            return [f"{instance!r} is not {kinds}"]
    if "const" in schema and instance != schema["const"]:
        problems.append(f"{instance!r} != {schema['const']!r}")
    if "enum" in schema and instance not in schema["enum"]:
        problems.append(f"{instance!r} not in {schema['enum']}")
    if isinstance(instance, str):
        if len(instance) < schema.get("minLength", 0):
            problems.append(f"{instance!r} too short")
        if "pattern" in schema and not re.search(schema["pattern"], instance):
            problems.append(f"{instance!r} does not match {schema['pattern']}")
    if isinstance(instance, int | float) and "minimum" in schema and instance < schema["minimum"]:
        problems.append(f"{instance!r} below minimum")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            problems.append("too few items")
        for item in instance:
            problems += validate(item, schema.get("items", {}), root)
    if isinstance(instance, dict):
        problems += _validate_object(instance, schema, root)
    for sub in schema.get("allOf", []):
        problems += validate(instance, sub, root)
    if "anyOf" in schema and all(validate(instance, s, root) for s in schema["anyOf"]):
        problems.append(f"{instance!r} matches none of anyOf")
    if "oneOf" in schema and sum(not validate(instance, s, root) for s in schema["oneOf"]) != 1:
        problems.append(f"{instance!r} does not match exactly one of oneOf")
    return problems


def _validate_object(
    instance: dict[str, Any], schema: dict[str, Any], root: dict[str, Any]
) -> list[str]:
    problems = [f"missing {key!r}" for key in schema.get("required", []) if key not in instance]
    if len(instance) < schema.get("minProperties", 0):
        problems.append("too few properties")
    properties = dict(schema.get("properties", {}))
    for sub in schema.get("allOf", []):
        properties.update(sub.get("properties", {}))
        if "$ref" in sub:
            properties.update(validate_ref_properties(sub["$ref"], root))
    for key, value in instance.items():
        if key in properties:
            problems += validate(value, properties[key], root)
            continue
        pattern = next((p for p in schema.get("patternProperties", {}) if re.search(p, key)), None)
        if pattern is not None:
            problems += validate(value, schema["patternProperties"][pattern], root)
            continue
        extra = schema.get("additionalProperties", schema.get("unevaluatedProperties", True))
        if extra is False:
            problems.append(f"unexpected key {key!r}")
        elif isinstance(extra, dict):
            problems += validate(value, extra, root)
    return problems


def validate_ref_properties(ref: str, root: dict[str, Any]) -> dict[str, Any]:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return dict(target.get("properties", {}))


def yaml_as_json(path: Path) -> Any:
    node, errors = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    assert not errors
    assert node is not None
    return json.loads(json.dumps(to_plain(node), default=str))


def test_the_example_validates_against_the_schema() -> None:
    assert validate(yaml_as_json(EXAMPLES / "rules.yaml"), SCHEMA) == []


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({"version": 1, "rulez": []}, "unexpected key 'rulez'"),
        ({"version": 2}, "2 != 1"),
        ({"version": 1, "rules": [{"name": "r", "then": {"queu": "x"}}]}, "unexpected key 'queu'"),
        (
            {"version": 1, "rules": [{"name": "r", "if": {"subjet": "x"}, "then": {}}]},
            "unexpected key 'subjet'",
        ),
        ({"version": 1, "sla": {"s": {"first_response": "30x"}}}, "does not match exactly one"),
        ({"version": 1, "escalations": [{"name": "e", "then": {}}]}, "missing 'on'"),
        (
            {"version": 1, "metrics": {"fcr": {"channels": []}}},
            "does not match exactly one of oneOf",
        ),
        (
            {"version": 1, "sla": {"s": {"first_response": {}}}},
            "does not match exactly one of oneOf",
        ),
    ],
)
def test_the_schema_rejects_what_the_loader_rejects(document: dict[str, Any], problem: str) -> None:
    assert any(problem in p for p in validate(document, SCHEMA))


LOADER_ACCEPTS = {
    "a number to look for": "rules:\n  - {name: r, if: {text: {contains: 42}}, then: {tags: [x]}}\n"
    "  - {name: s, if: {text: {starts_with: [7, abc]}}, then: {tags: [y]}}\n",
    "an empty day": "calendars:\n  o:\n    timezone: UTC\n    hours:\n      mon: [09:00-17:00]\n"
    "      sun:\n",
    "one fcr channel": "metrics: {fcr: {channels: chat}}\n",
    "no rules": "rules:\nescalations:\ncalendars:\nsla:\n",
}


@pytest.mark.parametrize("body", LOADER_ACCEPTS.values(), ids=LOADER_ACCEPTS.keys())
def test_the_schema_accepts_what_the_loader_accepts(body: str) -> None:
    text = "version: 1\nqueues: {general: {}}\ndefaults: {queue: general}\n" + body
    loads_ruleset(text)
    node, errors = parse_yaml(text, "doc.yaml")
    assert not errors
    assert validate(json.loads(json.dumps(to_plain(node), default=str)), SCHEMA) == []


def test_the_schema_lists_exactly_the_compilers_vocabulary() -> None:
    defs = SCHEMA["$defs"]
    assert tuple(SCHEMA["properties"]) == TOP_KEYS
    assert tuple(defs["test"]["oneOf"][1]["properties"]) == OPERATORS
    assert tuple(defs["actions"]["properties"]) == ACTIONS
    assert set(defs["ruleBase"]["properties"]) | {"on"} == set(RULE_KEYS)
    assert defs["rule"]["properties"]["on"]["oneOf"][0]["enum"] == list(RULE_TRIGGERS)
    assert defs["escalation"]["properties"]["on"]["oneOf"][0]["enum"] == list(ESCALATION_TRIGGERS)


def test_rules_package_imports_no_broker_or_store() -> None:
    """rules is pure: from the project it may use the kernel's errors, vocabulary, event
    models and deterministic ids (pure hashing: the tools name a new ticket as the router
    does) only, and no Kafka/Redis."""
    allowed_project = {"router.errors", "router.vocabulary", "router.events", "router.ids"}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"aiokafka", "faststream", "redis", "kafka"}, (path, name)
                if top in {"router", "channels", "consumers"}:
                    assert name in allowed_project, (path, name)
