"""``test_scripts_reloaded.py`` on the real cluster: its ``redis`` fixture is the cluster
client here (``conftest.py``), so a SCRIPT FLUSH on every primary stands in for a failover
to replicas without the script cache."""

from __future__ import annotations

import pytest

from tests.component.state.test_scripts_reloaded import (
    test_a_script_flush_is_logged_as_a_reload_at_info,
)

pytestmark = pytest.mark.component

__all__ = ["test_a_script_flush_is_logged_as_a_reload_at_info"]
