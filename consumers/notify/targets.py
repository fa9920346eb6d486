"""The notify target table: who ``notify: [NAME]`` reaches, and with which template.

The rule language names targets but holds no addresses, so they are kept in
``templates/notify_targets.yaml`` beside the templates (a directory of rule files loads
every ``*.yaml`` directly in it, so the table cannot sit beside the rules)::

    version: 1
    targets:
      team-lead:
        email: [lead@acme.example]
        sms: ["+4930123456"]          # E.164
        whatsapp: []
        template: team-alert          # default: the target's own name

The file is read again when it changes. A target it does not name is an error of that
notification (dead-lettered, so an operator sees it), not of the process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from router.errors import InvalidEvent
from rules.analysis import TARGETS_FILE


class Target(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    email: list[str] = Field(default_factory=list)
    sms: list[str] = Field(default_factory=list)
    whatsapp: list[str] = Field(default_factory=list)
    template: str | None = None


class TargetFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = 1
    targets: dict[str, Target] = Field(default_factory=dict)


@dataclass
class NotifyTargets:
    """``notify_targets.yaml`` in ``directory``, re-read when its mtime changes."""

    directory: Path
    _mtime: float | None = None
    _targets: dict[str, Target] = field(default_factory=dict)
    _error: str | None = None

    @property
    def path(self) -> Path:
        return self.directory / TARGETS_FILE

    def get(self, name: str) -> Target:
        self._refresh()
        if self._error is not None:
            raise InvalidEvent(f"{self.path}: {self._error}")
        target = self._targets.get(name)
        if target is None:
            raise InvalidEvent(f"notify target {name!r} is not in {self.path}")
        return target

    def _refresh(self) -> None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            self._mtime, self._targets, self._error = None, {}, None
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        try:
            raw = YAML(typ="safe", pure=True).load(self.path.read_text())
            self._targets = TargetFile.model_validate(raw or {}).targets
            self._error = None
        except (YAMLError, ValidationError) as exc:
            self._targets, self._error = {}, " ".join(str(exc).split())[:500]
