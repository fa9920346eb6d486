"""The figures of one run, as lines for a person or as JSON (its keys are the contract)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from rich.console import Console

from router.app.bench.pipeline import PipelineRun


@dataclass(frozen=True)
class Measured:
    events: int
    record_bytes: float
    raw_produce_s: float
    passthrough_s: float
    pipeline: PipelineRun


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def build_report(m: Measured) -> dict[str, Any]:
    n, run = m.events, m.pipeline
    latencies = run.latencies_ms
    elapsed = (run.last_done_ms - run.first_sent_ms) / 1000 if latencies else float("inf")
    pipeline = round(len(latencies) / elapsed)
    ceiling = round(n / m.passthrough_s)
    http = run.http_ms
    return {
        "events": n,
        "record_bytes": round(m.record_bytes),
        "raw_produce_per_s": round(n / m.raw_produce_s),
        "passthrough_per_s": ceiling,
        "pipeline_per_s": pipeline,
        "pipeline_completed": len(latencies),
        "pipeline_vs_passthrough": round(pipeline / ceiling, 3),
        "latency_ms": {
            "p50": pct(latencies, 0.5),
            "p90": pct(latencies, 0.9),
            "p99": pct(latencies, 0.99),
            "max": max(latencies, default=float("nan")),
        },
        "http_webform_ms": {
            "samples": len(http["e2e"]),
            "accepted_p50": pct(http["accepted"], 0.5),
            "e2e_p50": pct(http["e2e"], 0.5),
            "e2e_p90": pct(http["e2e"], 0.9),
            "e2e_max": max(http["e2e"], default=float("nan")),
        },
    }


def print_report(report: dict[str, Any], console: Console, *, as_json: bool) -> None:
    if as_json:
        console.print_json(orjson.dumps(report).decode())
        return
    lat, web = report["latency_ms"], report["http_webform_ms"]
    console.print(f"  raw produce          {report['raw_produce_per_s']:>8} msg/s")
    console.print(f"  raw passthrough      {report['passthrough_per_s']:>8} msg/s   (the ceiling)")
    console.print(
        f"  pipeline             {report['pipeline_per_s']:>8} events/s "
        f"({report['pipeline_vs_passthrough']:.2f}x the ceiling, "
        f"{report['pipeline_completed']}/{report['events']} done)"
    )
    console.print(
        f"  end-to-end latency   p50 {lat['p50']:.0f} ms  p90 {lat['p90']:.0f} ms  "
        f"p99 {lat['p99']:.0f} ms  max {lat['max']:.0f} ms"
    )
    console.print(
        f"  one webform, idle    202 in {web['accepted_p50']:.1f} ms (p50); POST -> "
        f"ticket.created p50 {web['e2e_p50']:.1f} ms  p90 {web['e2e_p90']:.1f} ms  "
        f"max {web['e2e_max']:.1f} ms  ({web['samples']} sequential posts)"
    )
