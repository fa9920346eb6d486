"""Dependencies point one way (CONVENTIONS): enforced here, not by good intentions.

``router/`` is the kernel and imports nothing of ours; ``router/app/`` is the composition
root and the operator tools, the one folder that may import every package and that
nothing imports back. ``consumers/domain/`` is pure: no network client, no clock reads
of its own, no asyncio.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ("router", "channels", "rules", "consumers")
COMPOSITION_ROOT = ROOT / "router" / "app"
ALLOWED = {
    "router": set(),
    "channels": {"router"},
    "rules": {"router"},
    "consumers": {"router", "rules"},
}
NETWORK_CLIENTS = {"aiokafka", "redis", "faststream", "valkey", "httpx", "fastapi", "uvicorn"}
IO_MODULES = NETWORK_CLIENTS | {"asyncio", "socket", "subprocess", "watchfiles", "signal", "time"}


def imports(path: Path) -> set[str]:
    """Top-level names of every absolute import in ``path``."""
    return {name.split(".")[0] for name in full_imports(path)}


def full_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def sources(package: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / package).rglob("*.py"))
        if not path.is_relative_to(COMPOSITION_ROOT)
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_what_they_may(package: str) -> None:
    offenders = []
    for path in sources(package):
        forbidden = (imports(path) & set(PACKAGES)) - ALLOWED[package] - {package}
        if forbidden:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(forbidden)}")
    assert offenders == []


def test_rules_touch_no_kafka_redis_or_files_watching() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "rules").rglob("*.py")
        if imports(path) & (NETWORK_CLIENTS | {"watchfiles", "signal"})
    ]
    assert offenders == []


def test_domain_is_pure() -> None:
    """The staffing simulation runs these in virtual time: no I/O may hide in them."""
    offenders = []
    for path in (ROOT / "consumers" / "domain").rglob("*.py"):
        bad = imports(path) & IO_MODULES
        bad |= {m for m in full_imports(path) if m.startswith(("consumers.state", "router.kafka"))}
        if bad:
            offenders.append(f"{path.relative_to(ROOT)} imports {sorted(bad)}")
    assert offenders == []


def test_nothing_imports_the_composition_root() -> None:
    offenders = [
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in sources(package)
        if any(m == "router.app" or m.startswith("router.app.") for m in full_imports(path))
    ]
    assert offenders == []


def test_the_kernel_holds_no_domain_store() -> None:
    """Stores live with the consumers that own them; the kernel only makes clients."""
    offenders = [
        path.relative_to(ROOT).as_posix()
        for path in sources("router")
        if "redis.call(" in path.read_text() or "self._r." in path.read_text()
    ]
    assert offenders == []
