"""A rules directory for notifier tests: a small rule file, the shipped templates, and a
notify target table pointing at the test's own addresses."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = ROOT / "rules" / "examples" / "templates"

RULES = """\
version: 1
queues:
  general: {}
sla:
  standard:
    first_response: 1d
    resolution: 3d
defaults: {queue: general, priority: normal, sla: standard}
rules:
  - name: after hours
    if: {channel: {in: [email, webform, sms, whatsapp]}}
    then: {tags: [after-hours], auto_reply: after-hours}
  - name: outage
    if: {text: {contains: [outage]}}
    then: {priority: urgent, notify: [oncall]}
"""

TARGETS = """\
version: 1
targets:
  oncall:
    email: [oncall@ops.example]
    sms: ["+15559990000"]
    whatsapp: ["+15558880000"]
    template: team-alert
"""


def rules_dir(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "rules.yaml").write_text(RULES)
    shutil.copytree(TEMPLATES, rules / "templates")
    (rules / "templates" / "notify_targets.yaml").write_text(TARGETS)
    return rules
