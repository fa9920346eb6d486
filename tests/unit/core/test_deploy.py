"""The deployment files name what the code has: every role, and an image that runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from router.app.roles import ROLES

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def test_compose_runs_every_role_after_topics_exist() -> None:
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for role in ROLES:
        assert services[role]["command"] == ["run", "--role", role]
        assert services[role]["depends_on"]["topics"] == {
            "condition": "service_completed_successfully"
        }
    assert services["topics"]["command"] == ["topics", "ensure"]
    assert services["kafka"]["image"].startswith("apache/kafka")


def test_image_copies_every_package() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    for package in ("router", "channels", "rules", "consumers"):
        assert f"COPY {package} {package}" in dockerfile
