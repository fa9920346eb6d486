"""The Grafana dashboard: committed as its code builds it, shaped as Grafana loads it, and
asking only for metrics the code exports."""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from router.observability import Telemetry

pytestmark = pytest.mark.unit

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"

DATASOURCE_REF = {
    "type": "object",
    "required": ["type", "uid"],
    "properties": {"type": {"const": "prometheus"}, "uid": {"const": "${datasource}"}},
}
GRID_POS = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "minimum": 1},
        "w": {"type": "integer", "minimum": 1, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "maximum": 23},
        "y": {"type": "integer", "minimum": 0},
    },
}
TARGET = {
    "type": "object",
    "required": ["refId", "expr", "datasource"],
    "properties": {
        "refId": {"type": "string", "pattern": "^[A-Z]$"},
        "expr": {"type": "string", "minLength": 1},
        "datasource": DATASOURCE_REF,
        "legendFormat": {"type": "string"},
    },
}
QUERY_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "datasource", "targets", "fieldConfig"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"enum": ["timeseries", "stat", "gauge", "table", "bargauge", "heatmap"]},
        "title": {"type": "string", "minLength": 1},
        "gridPos": GRID_POS,
        "datasource": DATASOURCE_REF,
        "targets": {"type": "array", "minItems": 1, "items": TARGET},
        "fieldConfig": {
            "type": "object",
            "required": ["defaults", "overrides"],
            "properties": {"defaults": {"type": "object"}, "overrides": {"type": "array"}},
        },
        "options": {"type": "object"},
    },
}
ROW_PANEL = {
    "type": "object",
    "required": ["id", "type", "title", "gridPos", "collapsed", "panels"],
    "properties": {
        "id": {"type": "integer", "minimum": 1},
        "type": {"const": "row"},
        "gridPos": GRID_POS,
        "collapsed": {"type": "boolean"},
        "panels": {"type": "array"},
    },
}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "The part of Grafana's dashboard model (schemaVersion 36+) that import reads",
    "type": "object",
    "required": ["title", "uid", "panels", "schemaVersion", "templating", "time", "tags"],
    "properties": {
        "title": {"type": "string", "minLength": 1},
        "uid": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,40}$"},
        "schemaVersion": {"type": "integer", "minimum": 36},
        "tags": {"type": "array", "items": {"type": "string"}},
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "refresh": {"type": "string"},
        "panels": {
            "type": "array",
            "minItems": 1,
            "items": {
                "if": {"properties": {"type": {"const": "row"}}},
                "then": ROW_PANEL,
                "else": QUERY_PANEL,
            },
        },
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {
                "list": {
                    "type": "array",
                    "contains": {
                        "type": "object",
                        "required": ["name", "type", "query"],
                        "properties": {
                            "name": {"const": "datasource"},
                            "type": {"const": "datasource"},
                            "query": {"const": "prometheus"},
                        },
                    },
                    "items": {
                        "type": "object",
                        "required": ["name", "type"],
                        "properties": {
                            "name": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                            "type": {
                                "enum": ["datasource", "query", "custom", "interval", "constant"]
                            },
                        },
                    },
                }
            },
        },
    },
}

PROMQL_WORDS = {
    # functions and aggregations the dashboard may use
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "label_values",
    "clamp_min",
    "topk",
    # keywords and operators
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "or",
    "and",
    "unless",
    "offset",
    "bool",
}


def load_build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("switchboard_dashboard", GRAFANA / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def board() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((GRAFANA / "switchboard.json").read_text())
    return loaded


def query_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        if panel["type"] == "row":
            yield from panel["panels"]
        else:
            yield panel


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: what is left once strings, label
    matchers, ranges, grouping clauses, numbers, functions and keywords are removed."""
    bare = re.sub(r"label_values\(\s*([^,)]+)[^)]*\)", r"\1", expr)  # a variable's query
    bare = re.sub(r'"(?:\\.|[^"\\])*"', "", bare)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", bare)
    tokens = re.findall(r"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*", bare)
    return {t for t in tokens if t not in PROMQL_WORDS}


def exported_names(*, rules: bool = False) -> set[str]:
    """Every series name a fresh registry exposes, with the suffixes of its type;
    ``rules``: of a role that holds rules (the router's, the timers')."""
    telemetry = Telemetry()
    if rules:
        telemetry.rules_active("1", "sha256:0")
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("_count", "_sum", "_created", ""),
        "gauge": ("",),
    }
    return {
        family.name + suffix
        for family in telemetry.registry.collect()
        for suffix in suffixes[family.type]
    }


def test_committed_json_is_what_build_py_generates() -> None:
    build = load_build()
    assert (GRAFANA / "switchboard.json").read_text() == build.render(), (
        "run .venv/bin/python deploy/grafana/build.py and commit switchboard.json"
    )


def test_dashboard_has_the_shape_grafana_imports(board: dict[str, Any]) -> None:
    errors = sorted(
        Draft202012Validator(DASHBOARD_SCHEMA).iter_errors(board), key=lambda e: e.json_path
    )
    assert not errors, "\n".join(f"{e.json_path}: {e.message}" for e in errors)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in query_panels(board):
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), f"{panel['title']}: duplicate refId"


def test_panels_do_not_overlap(board: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_names_an_exported_metric(board: dict[str, Any]) -> None:
    exported = exported_names()
    queries = [(p["title"], t["expr"]) for p in query_panels(board) for t in p["targets"]]
    queries += [
        (f"variable {v['name']}", v["query"])
        for v in board["templating"]["list"]
        if v["type"] == "query"
    ]
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        unknown = names - exported
        assert not unknown, f"{where}: {sorted(unknown)} not exported by Telemetry"


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, route) (rate(a_bucket{x=~"[45].."}[5m]))) '
        "/ on (route) b_total or c * 0"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "c"}
    assert metric_names("label_values(d_open, queue)") == {"d_open"}


@pytest.mark.parametrize(
    ("title", "metric"),
    [
        ("Ingress requests by route", "switchboard_http_requests_total"),
        ("Ingress errors by route", "switchboard_http_requests_total"),
        ("Ingress latency p95 by route", "switchboard_http_request_seconds_bucket"),
        ("Batch time p95 per role", "switchboard_consumer_batch_seconds_bucket"),
        ("Records by outcome", "switchboard_consumer_records_total"),
        ("Dead-letters in range", "switchboard_consumer_records_total"),
        ("Retries per role", "switchboard_consumer_retries_total"),
        ("SLA compliance by queue", "switchboard_metric_total"),
        ("SLA breaches by queue", "switchboard_metric_total"),
        ("First contact resolution", "switchboard_metric_total"),
        ("CSAT by queue", "switchboard_metric_total"),
        ("Average handle time by queue", "switchboard_metric_total"),
        ("Average handle time by queue", "switchboard_handle_seconds_bucket"),
        ("Open and waiting tickets per queue", "switchboard_backlog_waiting"),
        ("Oldest waiting age per queue", "switchboard_backlog_oldest_waiting_seconds"),
    ],
)
def test_the_promised_panels_are_there(board: dict[str, Any], title: str, metric: str) -> None:
    panels = {p["title"]: p for p in query_panels(board)}
    assert title in panels
    assert any(metric in metric_names(t["expr"]) for t in panels[title]["targets"])


def test_dead_letters_and_sla_select_their_series(board: dict[str, Any]) -> None:
    exprs = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in query_panels(board)}
    assert 'outcome="deadlettered"' in exprs["Dead-letters in range"]
    assert 'metric="sla",counter="breached"' in exprs["SLA compliance by queue"]
    assert 'metric="sla",counter="met"' in exprs["SLA compliance by queue"]
