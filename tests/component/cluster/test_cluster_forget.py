"""Forgetting customers with open tickets (``tests/component/pipeline/
test_forget_open_ticket.py``) on the three-node cluster: the seat, the line's shards, the
backlog gauges and the timer shards live in different slots, each step keeps to one."""

from __future__ import annotations

import pytest

from tests.component.pipeline.test_forget_open_ticket import (
    test_forget_frees_the_seat_and_drops_the_tickets_from_line_backlog_and_timers,
)

pytestmark = pytest.mark.component

__all__ = ["test_forget_frees_the_seat_and_drops_the_tickets_from_line_backlog_and_timers"]
