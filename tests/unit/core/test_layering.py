"""Dependencies point one way (CONVENTIONS): enforced here, not by good intentions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("router", "channels", "rules", "consumers")
COMPOSITION_ROOT = {"router/cli.py", "router/roles.py", "router/bench.py", "router/__main__.py"}
ALLOWED = {
    "router": set(),
    "channels": {"router"},
    "rules": {"router"},
    "consumers": {"router", "rules"},
}
NETWORK_CLIENTS = {"aiokafka", "redis", "faststream", "valkey"}


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_they_may(package: str) -> None:
    offenders = []
    for path in sorted((ROOT / package).rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in COMPOSITION_ROOT:
            continue
        forbidden = (imports(path) & set(PACKAGES)) - ALLOWED[package] - {package}
        if forbidden:
            offenders.append(f"{rel} imports {sorted(forbidden)}")
    assert offenders == []


def test_rules_touch_no_kafka_or_redis() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "rules").rglob("*.py")
        if imports(path) & NETWORK_CLIENTS
    ]
    assert offenders == []


def test_nothing_imports_the_composition_root() -> None:
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in COMPOSITION_ROOT:
                continue
            source = path.read_text()
            if "router.roles" in source or "router.cli" in source:
                offenders.append(rel)
    assert offenders == []
