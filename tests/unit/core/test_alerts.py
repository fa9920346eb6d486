"""deploy/prometheus/alerts.yaml: a Prometheus rules file whose every alert names only
metrics the roles export, says what it is about and what to do, and is in the README's
table of what to alert on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.unit.core.test_dashboard import exported_names, metric_names

pytestmark = pytest.mark.unit

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yaml"


def alerts() -> list[dict[str, Any]]:
    document = YAML(typ="safe").load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_alert_names_only_exported_metrics() -> None:
    exported = exported_names(rules=True)
    promql = {"absent_over_time"}
    for rule in alerts():
        unknown = metric_names(rule["expr"]) - exported - promql
        assert not unknown, f"{rule['alert']}: {sorted(unknown)}"


def test_every_alert_is_named_once_and_says_what_to_do() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    for rule in alerts():
        assert rule["annotations"]["summary"], rule["alert"]
        assert rule["annotations"]["runbook"], rule["alert"]
        assert rule["labels"]["severity"] in {"page", "warn"}, rule["alert"]


def test_the_hung_role_and_the_failed_reload_have_alerts() -> None:
    """The audit's blind spots: a hung consumer exports no lag, and a failed reload
    keeps /readyz at 200."""
    exprs = {rule["alert"]: rule["expr"] for rule in alerts()}
    assert "absent_over_time(switchboard_consumer_lag" in exprs["SwitchboardRoleNotScraped"]
    assert 'outcome="failed"' in exprs["SwitchboardRulesReloadFailed"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_checks_the_file() -> None:  # pragma: no cover - where promtool is
    done = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
