"""Progress of a tool reading topics (``report``, ``export``, ``metrics verify``,
``deadletter replay``): a line per topic at most once a second, and none for a topic
read within the first second, which the tool's summary line says alone."""

from __future__ import annotations

import pytest

from router.app import console

pytestmark = pytest.mark.unit


def test_a_line_a_second_from_the_first_second_on(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(console.time, "monotonic", lambda: now[0])
    progress = console.reading_progress()
    with console.err.capture() as captured:
        for at, records in ((100.0, 0), (100.5, 500), (101.0, 1000), (101.5, 1500), (102.1, 2000)):
            now[0] = at
            progress("switchboard.tickets", records)
        now[0] = 102.2
        progress("switchboard.inbound", 7)  # another topic: its own first second
    assert captured.get().splitlines() == [
        "reading switchboard.tickets: 1,000 records",
        "reading switchboard.tickets: 2,000 records",
    ]
