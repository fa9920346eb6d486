"""A reply crafted against the reply header patterns ("On On On ..." on one line, no
"wrote:") made ``re`` backtrack for 29 s at 24 KB while holding the GIL: the whole
ingress, health checks included, stood still. The patterns now run with a time limit in
an engine that lets other threads run meanwhile; given up, the text stays whole."""

from __future__ import annotations

import asyncio
import threading

import pytest
from structlog.testing import capture_logs

from channels.regex_guard import TimeBounded
from channels.replies import LIBRARY_PATTERNS, split_reply

pytestmark = pytest.mark.unit

CRAFTED = "On " * 8000


def test_a_crafted_reply_is_kept_whole_and_the_give_up_is_logged() -> None:
    assert isinstance(LIBRARY_PATTERNS["_header_regex"], TimeBounded)
    with capture_logs() as logs:
        reply = split_reply(CRAFTED)
    assert (reply.text, reply.quoted) == (CRAFTED.strip(), None)
    assert [e["pattern"] for e in logs if e["event"] == "pattern_gave_up"] == ["reply headers"]


async def test_other_work_goes_on_while_a_crafted_reply_is_scanned() -> None:
    """The scan runs in a worker thread (as the email endpoint parses); the event loop
    keeps turning meanwhile, which ``re`` holding the GIL did not let it."""
    done = threading.Event()

    def scan() -> None:
        split_reply(CRAFTED)
        done.set()

    worker = threading.Thread(target=scan)
    worker.start()
    ticks = 0
    while not done.is_set() and ticks < 5:
        await asyncio.sleep(0.02)
        ticks += 1
    finished_first = done.is_set()
    worker.join()
    assert ticks == 5  # the loop turned five times
    assert not finished_first  # while the scan was still on
