"""The ingress step of ``switchboard bench`` alone: the ingress next to a minimal ASGI
app that reads the body and awaits one acked produce, on an embedded broker and valkey.

    .venv/bin/python -m bench.ingress [--requests 3000] [--profile /tmp/ingress.svg]

Both servers run as the bench runs them, each in a process of its own (the ingress as
``switchboard run --role ingress``: uvloop, httptools, the tuned collector), and take
turns with the same requests at concurrency 32, then at a steady 200 requests/s
(``router.app.bench.ingress_load``). It prints requests/s, the ratio and each server's
CPU per request per channel, and the p50/p99 at the steady load. ``--profile``
records the ingress process with py-spy while it runs (an SVG flame graph; speedscope
for ``.json``, collapsed stacks for ``.txt``): where an ingress request's CPU goes, in
the configuration measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
from pathlib import Path

from router.app.bench.ingress_load import CHANNELS, HttpRate, IngressRates, measure_ingress
from router.app.bench.processes import RoleProcesses
from router.app.console import loop_factory
from router.app.embedded import EmbeddedServices, on_embedded_broker
from router.settings import Settings
from router.topic_admin import ensure_topics

FORMATS = {".svg": "flamegraph", ".json": "speedscope", ".txt": "raw"}
PROFILE_WRITE_S = 30.0


async def run(requests: int, profile: Path | None) -> IngressRates:
    with EmbeddedServices() as services:
        settings = Settings(
            kafka=on_embedded_broker(Settings().kafka, services.bootstrap_servers),
            redis={"url": services.redis_url},
            topic_prefix="benchingress",
            consumer_group_prefix="benchingress",
        )
        await ensure_topics(settings)
        roles = RoleProcesses()
        recording = asyncio.Event()
        spy = asyncio.create_task(_record(roles, profile, recording)) if profile else None
        try:
            return await measure_ingress(settings, roles, requests, print)
        finally:
            roles.stop()
            if spy is not None:
                await _stopped(spy, recording)


async def _stopped(spy: asyncio.Task[None], recording: asyncio.Event) -> None:
    """py-spy ends with the ingress it records and writes its file; a recording that never
    began (the servers did not come up: ``_record`` still waits for their pids) would
    wait for ever, and is cancelled."""
    if recording.is_set():
        await asyncio.wait({spy}, timeout=PROFILE_WRITE_S)
    if spy.done():
        spy.result()  # py-spy's own failure (not installed), said
    else:
        spy.cancel()


async def _record(roles: RoleProcesses, out: Path, recording: asyncio.Event) -> None:
    """py-spy on the ingress process (spawned after the baseline app) until it ends."""
    while len(roles.pids) < 2:  # noqa: ASYNC110 - spawned inside measure_ingress
        await asyncio.sleep(0.05)
    fmt = FORMATS.get(out.suffix, "flamegraph")
    spy = await asyncio.create_subprocess_exec(
        os.path.join(os.path.dirname(sys.executable), "py-spy"),
        *("record", "--pid", str(roles.pids[1]), "-o", str(out), "--format", fmt),
        stdout=subprocess.DEVNULL,
    )
    recording.set()
    await spy.wait()


def report(rates: IngressRates) -> None:
    print(
        f"{'channel':<9} {'ingress/s':>10} {'app/s':>7} {'ratio':>6} "
        f"{'CPU µs/req':>14}   200/s: p50 / p99 ms"
    )
    for ch in CHANNELS:
        ingress, baseline = rates.ingress[ch.name], rates.baseline[ch.name]
        paced = rates.ingress_at_rate.get(ch.name)
        latency = f"{_pct(paced, 50):.1f} / {_pct(paced, 99):.1f}" if paced else "-"
        cpu = f"{_us(ingress)} / {_us(baseline)}"
        print(
            f"{ch.name:<9} {ingress.per_s:>10,.0f} {baseline.per_s:>7,.0f} "
            f"{rates.ratio(ch.name):>6.2f} {cpu:>14}   {latency}"
        )
    print("(app: the minimal ASGI app; CPU: the ingress's / the app's, per request answered)")


def _us(rate: HttpRate) -> str:
    cpu = rate.cpu_us_per_request
    return "-" if cpu is None else f"{cpu:,.0f}"


def _pct(rate: HttpRate, pct: int) -> float:
    ordered = sorted(rate.latencies_ms) or [0.0]
    return ordered[min(len(ordered) - 1, len(ordered) * pct // 100)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=3000, help="per server and channel")
    parser.add_argument("--profile", type=Path, help="py-spy output for the ingress process")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt), asyncio.Runner(loop_factory=loop_factory()) as r:
        report(r.run(run(args.requests, args.profile)))


if __name__ == "__main__":
    main()
