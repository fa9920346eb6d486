"""The README is the platform team's reference: every setting and command must be in it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from router.app.cli import app
from router.settings import ENV_PREFIX, Settings

pytestmark = pytest.mark.unit

README = (Path(__file__).resolve().parents[3] / "README.md").read_text()


def env_names(model: type[BaseModel], prefix: str) -> Iterator[str]:
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from env_names(annotation, f"{prefix}{name.upper()}_")
        else:
            yield f"{prefix}{name.upper()}"


def test_every_setting_is_documented_in_the_readme() -> None:
    names = list(env_names(Settings, ENV_PREFIX))
    assert len(names) > 30
    missing = [n for n in names if f"`{n}`" not in README]
    assert missing == []


def test_every_cli_command_is_documented_in_the_readme() -> None:
    commands = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    groups = [g.name for g in app.registered_groups]
    assert {"dev", "run", "tail", "bench"} <= set(commands)
    for name in commands + groups:
        assert f"switchboard {name}" in README, name
