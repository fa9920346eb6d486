"""The merge's carry of a current ticket (``test_merge_current_ticket.py``), again on the
three-node cluster: the survivor's and the absorbed customer's keys are in two slots,
most often on two nodes. ``store`` comes from this folder's conftest."""

from __future__ import annotations

from typing import Any

import pytest

from consumers.state.threads import RedisThreadStore
from tests.component.state import test_merge_current_ticket

pytestmark = pytest.mark.component

for _name in dir(test_merge_current_ticket):
    if _name.startswith("test_"):
        globals()[_name] = getattr(test_merge_current_ticket, _name)


@pytest.fixture
def redis_threads(store: RedisThreadStore) -> Any:
    """The suite's Redis-only tests, on the cluster store."""
    return store
