"""Hot reload: valid changes swap atomically, invalid ones keep the last good rules."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import httpx
import pytest
from structlog.testing import capture_logs

from router.app.reload import export_metrics, install_sighup, watch_files
from router.health import ops_app
from router.observability import Telemetry
from rules import RuleSetHolder, RuleSetInvalid

pytestmark = pytest.mark.unit

GOOD = "version: 1\nqueues: {general: {}, billing: {}}\ndefaults: {queue: general}\n"
BILLING = GOOD.replace("queue: general}", "queue: billing}")
BROKEN = GOOD.replace("queue: general}", "queue: nowhere}")
SIX_RULES = "".join(
    f"  - {{name: r{i}, if: {{text: {{contains: [w{i}]}}}}, then: {{queue: billing}}}}\n"
    for i in range(6)
)
FULL = GOOD + "rules:\n" + SIX_RULES
HALF = GOOD + "rules:\n" + "".join(SIX_RULES.splitlines(keepends=True)[:3])


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(GOOD, encoding="utf-8")
    return path


def test_first_load_must_succeed(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    with pytest.raises(RuleSetInvalid):
        RuleSetHolder(path)


def test_valid_reload_swaps_and_logs(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    before = holder.current
    rules_file.write_text(BILLING, encoding="utf-8")
    with capture_logs() as logs:
        assert holder.reload() == []
    assert holder.current is not before
    assert holder.current.defaults.queue == "billing"
    assert logs == [
        {
            "event": "rules.reloaded",
            "log_level": "info",
            "path": str(rules_file),
            "version": holder.current.version,
            "hash": holder.current.hash,
            "previous_version": before.version,
            "rules": 0,
            "escalations": 0,
        }
    ]


def test_invalid_reload_keeps_the_last_good_rules(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    good = holder.current
    rules_file.write_text(BROKEN, encoding="utf-8")
    with capture_logs() as logs:
        errors = holder.reload()
    assert [str(e) for e in errors] == [
        f"{rules_file}:3:19: unknown queue 'nowhere' (hint: define it under 'queues:')"
    ]
    assert holder.current is good
    assert logs[0]["event"] == "rules.reload_failed"
    assert logs[0]["log_level"] == "error"
    assert logs[0]["kept_version"] == good.version
    assert logs[0]["errors"] == [str(errors[0])]


def test_deleted_file_keeps_the_last_good_rules(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    good = holder.current
    rules_file.unlink()
    errors = holder.reload()
    assert len(errors) == 1
    assert "cannot read rule file" in str(errors[0])
    assert holder.current is good


def test_a_loader_defect_is_a_failed_reload_keeping_the_last_good_rules(
    rules_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the loader crashes on (a defect: it should have been a located error) is
    reported as a failed reload, so ``/readyz`` shows it; it had escaped ``reload``, and
    ``last_failure`` said nothing while the old rules served on."""
    holder = RuleSetHolder(rules_file)
    good = holder.current

    def crash(path: Path) -> None:
        raise IsADirectoryError(21, "Is a directory", "/usr/share/zoneinfo/Europe")

    monkeypatch.setattr("rules.holder.load_ruleset", crash)
    with capture_logs() as logs:
        errors = holder.reload()
    assert [str(e) for e in errors] == [
        f"{rules_file}:1:1: the rules could not be loaded: IsADirectoryError: [Errno 21] "
        "Is a directory: '/usr/share/zoneinfo/Europe' (hint: a defect in Switchboard, not "
        "a mistake in the file; the last good rules serve on: please report it with the "
        "rules.load_crashed log line)"
    ]
    assert holder.current is good
    assert holder.last_failure is not None
    assert holder.last_failure.errors == 1
    assert [e["event"] for e in logs] == ["rules.load_crashed", "rules.reload_failed"]
    assert logs[0]["exc_info"] is True  # the traceback, for the report


def test_unchanged_content_keeps_the_same_object(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    before = holder.current
    rules_file.write_text("# a comment only\n" + GOOD, encoding="utf-8")
    assert holder.reload() == []
    assert holder.current is before


async def test_sighup_reloads(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    loop = asyncio.get_running_loop()
    install_sighup(holder, loop)
    try:
        await asyncio.to_thread(rules_file.write_text, BILLING, "utf-8")
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(100):
            await asyncio.sleep(0.01)
            if holder.current.defaults.queue == "billing":
                break
        assert holder.current.defaults.queue == "billing"
    finally:
        loop.remove_signal_handler(signal.SIGHUP)


async def _wait_for(predicate: object, seconds: float = 10.0) -> bool:
    assert callable(predicate)
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_watch_reloads_on_change_and_survives_a_broken_save(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_files(holder, stop, settle_s=0.1, debounce=50, step=10))
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(rules_file.write_text, BILLING, "utf-8")
        assert await _wait_for(lambda: holder.current.defaults.queue == "billing")
        good = holder.current
        with capture_logs() as logs:
            await asyncio.to_thread(rules_file.write_text, BROKEN, "utf-8")
            assert await _wait_for(lambda: any(e["event"] == "rules.reload_failed" for e in logs))
        assert holder.current is good
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)


async def test_watch_a_directory(tmp_path: Path) -> None:
    (tmp_path / "10-base.yaml").write_text(GOOD, encoding="utf-8")
    holder = RuleSetHolder(tmp_path)
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_files(holder, stop, settle_s=0.1, debounce=50, step=10))
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(
            (tmp_path / "20-more.yaml").write_text,
            "version: 1\nrules:\n  - {name: r, then: {queue: billing}}\n",
            "utf-8",
        )
        assert await _wait_for(lambda: len(holder.current.rules) == 1)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)


async def test_watch_a_kubernetes_configmap_volume(tmp_path: Path) -> None:
    """The kubelet updates a ConfigMap volume by renaming a new ``..data`` symlink over
    the old one; ``rules.yaml`` is a symlink through it and itself never changes."""
    first = tmp_path / "..2026_12_04_10_00_00.1"
    first.mkdir()
    (first / "rules.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "..data").symlink_to(first.name)
    (tmp_path / "rules.yaml").symlink_to("..data/rules.yaml")
    holder = RuleSetHolder(tmp_path)
    assert holder.current.defaults.queue != "billing"
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_files(holder, stop, settle_s=0.1, debounce=50, step=10))
    try:
        await asyncio.sleep(0.3)
        second = tmp_path / "..2026_12_04_10_05_00.2"
        second.mkdir()
        (second / "rules.yaml").write_text(BILLING, encoding="utf-8")
        (tmp_path / "..data_tmp").symlink_to(second.name)
        (tmp_path / "..data_tmp").rename(tmp_path / "..data")
        assert await _wait_for(lambda: holder.current.defaults.queue == "billing")
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)


async def test_a_file_written_in_two_steps_never_goes_live_half_written(
    rules_file: Path,
) -> None:
    """Contract section 9: the first half of a rewrite, cut between two rules, is valid
    YAML; the watcher waits until the file has settled and loads only the whole."""
    assert len(RuleSetHolder(rules_file).current.rules) == 0
    holder = RuleSetHolder(rules_file)
    seen: set[int] = set()
    stop = asyncio.Event()
    watcher = asyncio.create_task(watch_files(holder, stop, settle_s=0.6, debounce=50, step=10))
    try:
        await asyncio.sleep(0.3)
        await asyncio.to_thread(rules_file.write_text, HALF, "utf-8")
        for _ in range(40):  # the rest arrives 0.4 s later, within the settle period
            seen.add(len(holder.current.rules))
            await asyncio.sleep(0.01)
        await asyncio.to_thread(rules_file.write_text, FULL, "utf-8")

        def full() -> bool:
            seen.add(len(holder.current.rules))
            return len(holder.current.rules) == 6

        assert await _wait_for(full)
    finally:
        stop.set()
        await asyncio.wait_for(watcher, timeout=5)
    assert 3 not in seen, "the half-written file was the active ruleset"
    assert seen == {0, 6}


def test_a_reload_whose_files_moved_while_loading_swaps_nothing(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    before = holder.current
    stale = holder.fingerprint()
    rules_file.write_text(BILLING, encoding="utf-8")
    with capture_logs() as logs:
        assert holder.reload(expected=stale) == []
    assert holder.current is before
    assert [e["event"] for e in logs] == ["rules.reload_deferred"]
    assert holder.reload(expected=holder.fingerprint()) == []
    assert holder.current.defaults.queue == "billing"


def series(telemetry: Telemetry, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples of one metric on ``/metrics``: labels -> value."""
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for metric in telemetry.registry.collect()
        for sample in metric.samples
        if sample.name == name
    }


def rewrite(holder: RuleSetHolder, text: str) -> None:
    holder.path.write_text(text, encoding="utf-8")
    holder.reload()


async def test_a_failed_reload_shows_on_metrics_and_readyz(rules_file: Path) -> None:
    holder = RuleSetHolder(rules_file)
    telemetry = Telemetry()
    export_metrics(holder, telemetry)
    app = ops_app(telemetry, lambda: {"rules": holder.ready_note})
    transport = httpx.ASGITransport(app=app)
    rewrite(holder, BILLING)
    good = holder.current
    rewrite(holder, BROKEN)

    assert series(telemetry, "switchboard_rules_reloads_total") == {
        (("outcome", "ok"),): 1.0,
        (("outcome", "failed"),): 1.0,
    }
    assert series(telemetry, "switchboard_rules_info") == {
        (("hash", good.hash), ("version", good.version)): 1.0
    }
    async with httpx.AsyncClient(transport=transport, base_url="http://ops") as client:
        ready = await client.get("/readyz")
        text = (await client.get("/metrics")).text
    assert ready.status_code == 200, "the last good rules serve: still ready"
    assert ready.json()["checks"]["rules"].startswith("ok (last reload failed at ")
    assert ready.json()["checks"]["rules"].endswith(f": 1 error; serving version {good.version})")
    assert 'switchboard_rules_reloads_total{outcome="failed"} 1.0' in text

    rewrite(holder, GOOD)
    assert holder.ready_note() is None
    assert series(telemetry, "switchboard_rules_info") == {
        (("hash", holder.current.hash), ("version", holder.current.version)): 1.0
    }
