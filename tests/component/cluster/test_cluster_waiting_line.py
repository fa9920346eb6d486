"""The waiting line's suite (``tests/component/pipeline/test_waiting_line.py``) on the
three-node cluster: imported unchanged, its ``settings`` from this folder's conftest."""

from __future__ import annotations

from typing import Any

import pytest

from tests.component.pipeline import test_waiting_line

pytestmark = pytest.mark.component

_NODE_BOUND = {
    # counts commands with INFO commandstats of one server; on a cluster the line, the
    # agents and the threads are on different nodes, so one node's count says nothing
    "test_an_idle_sweep_costs_the_same_few_commands_however_long_the_line",
}


def _import(module: Any) -> None:
    for name in dir(module):
        item = getattr(module, name)
        fixture = type(item).__name__ == "FixtureFunctionDefinition"
        if (name.startswith("test_") and name not in _NODE_BOUND) or fixture:
            globals()[name] = item


_import(test_waiting_line)
