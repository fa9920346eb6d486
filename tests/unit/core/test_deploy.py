"""The deployment files name what the code has: every role, and an image that runs them."""

from __future__ import annotations

import subprocess
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


def healthcheck_asks(**env: str) -> str:
    """The command of the image's HEALTHCHECK, run by ``sh`` as Docker runs it, with
    ``python`` replaced by a function printing the code it was given."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    [line] = [line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK")]
    command = line.split(" CMD ", 1)[1]
    assert not command.startswith("["), "exec form: no shell expands the port"
    script = f'python() {{ printf "%s" "$2"; }}; {command}'
    return subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout


def test_image_health_check_asks_the_configured_port() -> None:
    assert "http://127.0.0.1:9090/readyz" in healthcheck_asks(SWITCHBOARD_HTTP_PORT="9090")
    assert "http://127.0.0.1:8080/readyz" in healthcheck_asks()


def test_compose_gives_actions_an_example_token_it_announces() -> None:
    """Without a token every /v1/actions call of the local stack would be 401."""
    text = (DEPLOY / "compose.yaml").read_text()
    env = YAML(typ="safe").load(text)["x-switchboard"]["environment"]
    assert env["SWITCHBOARD_API_TOKENS"] == "${SWITCHBOARD_API_TOKENS:-dev-token-change-me}"
    header = text.split("x-switchboard:")[0]
    assert "Bearer dev-token-change-me" in header
    assert "EXAMPLE" in header


def test_deploy_comments_say_what_the_notifier_does_without_providers() -> None:
    """``run --role notifier`` prints nothing without SMTP or Twilio: it logs
    ``notification_not_sent`` (see tests/component/notifier/test_delivery.py)."""
    for path in (DEPLOY / "compose.yaml", DEPLOY / "k8s/base/deployment-notifier.yaml"):
        text = path.read_text()
        assert "notification_not_sent" in text, path
        assert "prints notifications" not in text
        assert "it logs messages" not in text
