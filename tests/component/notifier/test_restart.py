"""kill -9 of the notifier process while auto-replies flow, then a restart: every
auto-reply reaches the SMTP server once. Killed before the server had the message, the
resend is its only copy; killed after the server kept it but before its answer (inside
the send), the message arrives twice under one Message-ID, and never a third time."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import pytest

from router.app.embedded import free_port
from router.settings import Settings
from tests.component.notifier.servers import Gate, Mailbox, smtp_server
from tests.component.notifier.support import rules_dir
from tests.component.pipeline.conftest import run_switchboard
from tests.conftest import settings_env
from tests.faults.harness import RoleProcess, start_role

pytestmark = pytest.mark.component

CUSTOMERS = 30
FIRST_KILL_AT = 8  # the 8th SMTP transaction, before MAIL's answer: the server has nothing
POLL = 5  # SWITCHBOARD_KAFKA_MAX_POLL_RECORDS of the notifier processes below


def notifier(settings: Settings, rules: Path, smtp_url: str, logs: Path, n: int) -> RoleProcess:
    port = free_port()
    env = {
        **settings_env(settings),
        "SWITCHBOARD_RULES_PATH": str(rules),
        "SWITCHBOARD_HTTP_PORT": str(port),
        "SWITCHBOARD_SMTP_URL": smtp_url,
        "SWITCHBOARD_SMTP_FROM": "support@acme.test",
        "SWITCHBOARD_KAFKA_MAX_POLL_RECORDS": "5",
        "SWITCHBOARD_NOTIFY_BACKOFF_S": "0.05",
        "SWITCHBOARD_LOG_FORMAT": "json",
    }
    return start_role(["notifier"], env, port, logs / f"notifier-{n}.log")


async def reached(gate: Gate, proc: RoleProcess, timeout: float = 30.0) -> None:
    ok = await asyncio.to_thread(gate.reached.wait, timeout)
    assert ok, f"the gate at {gate.stage} #{gate.at} was never reached: {proc.describe()}"


def kill(proc: RoleProcess) -> None:
    os.kill(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait(10)


async def all_delivered(mailbox: Mailbox, wanted: int, procs: list[RoleProcess]) -> None:
    for _ in range(600):
        if len(set(mailbox.message_ids())) >= wanted:
            await asyncio.sleep(1.0)  # a duplicate would arrive now
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(set(mailbox.message_ids()))} of {wanted}: {procs[-1].describe()}")


async def kept(mailbox: Mailbox, count: int, proc: RoleProcess, timeout: float = 60.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if len(mailbox.messages) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{len(mailbox.messages)} of {count} kept: {proc.describe()}")


@pytest.mark.slow
async def test_kill_9_mid_stream_delivers_each_auto_reply_once(
    settings: Settings, tmp_path: Path
) -> None:
    rules = rules_dir(tmp_path)
    settings = settings.model_copy(update={"rules_path": rules})
    procs: list[RoleProcess] = []
    before_the_server_has_it = Gate("MAIL", FIRST_KILL_AT)
    with smtp_server() as (mailbox, smtp_url):
        mailbox.gates = [before_the_server_has_it]
        async with run_switchboard(settings, frozenset({"ingress", "router"})) as sb:
            try:
                procs.append(notifier(settings, rules, smtp_url, tmp_path, 1))
                for n in range(CUSTOMERS):
                    resp = await sb.http.post(
                        "/v1/channels/webform",
                        json={"email": f"c{n}@example.com", "message": f"question {n}"},
                    )
                    assert resp.status_code == 202, resp.text
                await reached(before_the_server_has_it, procs[-1])
                kill(procs[-1])
                before_the_server_has_it.opened.set()
                procs.append(notifier(settings, rules, smtp_url, tmp_path, 2))
                # The second kill must land inside the send of a message never tried
                # before, not inside the resend of the first one (a third send of that
                # one is refused by design): armed once the restarted notifier's first
                # poll, which holds the resend, is through.
                await kept(mailbox, FIRST_KILL_AT + POLL, procs[-1])
                inside_the_send = Gate("DATA", len(mailbox.messages) + 2)
                mailbox.gates.append(inside_the_send)
                await reached(inside_the_send, procs[-1])
                kill(procs[-1])
                inside_the_send.opened.set()
                procs.append(notifier(settings, rules, smtp_url, tmp_path, 3))
                await all_delivered(mailbox, CUSTOMERS, procs)
            finally:
                for proc in procs:
                    proc.terminate()

    ids = mailbox.message_ids()
    counts = Counter(ids)
    assert len(counts) == CUSTOMERS
    assert sorted({str(m["To"]) for m in mailbox.messages}) == sorted(
        f"c{n}@example.com" for n in range(CUSTOMERS)
    )
    in_the_send = ids[inside_the_send.at - 1]
    assert counts[in_the_send] == 2, counts  # sent again after the crash inside its send...
    assert {i: c for i, c in counts.items() if c != 1} == {in_the_send: 2}  # ...only that one
    assert len(ids) == CUSTOMERS + 1
    resent = [
        line["delivery"]
        for proc in procs[1:]
        for line in proc.log_lines()
        if line.get("event") == "notification_resent"
    ]
    assert len(resent) == 2, resent  # one after each kill, each sent at most twice
    for proc in procs:
        errors = [line for line in proc.log_lines() if line.get("level") in ("error", "critical")]
        assert not errors, proc.describe()
