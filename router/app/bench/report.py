"""The figures of one run, as lines for a person or as JSON (its keys are the contract)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from router.app.bench.ingress_load import CONCURRENCY, RATE_PER_S, HttpRate, IngressRates
from router.app.bench.latency import LoadLatency
from router.app.bench.pipeline import PipelineRun
from router.app.bench.scale import ScaleOut
from router.app.bench.soak import SoakSample, growth_after_warmup
from router.app.bench.solo import Solo
from router.app.bench.staffed import Staffed


@dataclass(frozen=True)
class Measured:
    events: int
    record_bytes: float
    raw_produce_s: float
    passthrough_s: float
    pipeline: PipelineRun
    alone: dict[str, Solo] = field(default_factory=dict)
    ingress: IngressRates | None = None
    passthrough_loads: list[LoadLatency] = field(default_factory=list)
    load_seconds: float = 0.0
    soak: list[SoakSample] | None = None
    faststream_s: float | None = None  # None: FastStream not installed
    redis_per_event: dict[str, float] | None = None  # the router alone; None on a cluster
    scale: ScaleOut | None = None
    staffed: Staffed | None = None


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
    alone = {role: round(solo.per_s) for role, solo in m.alone.items()}
    return {
        "events": n,
        "record_bytes": round(m.record_bytes),
        "raw_produce_per_s": round(n / m.raw_produce_s),
        "passthrough_per_s": ceiling,
        "faststream_passthrough_per_s": round(n / m.faststream_s) if m.faststream_s else None,
        "faststream_ratio": round(n / m.faststream_s / ceiling, 3) if m.faststream_s else None,
        "pipeline_per_s": pipeline,
        "pipeline_completed": len(latencies),
        "pipeline_vs_passthrough": round(pipeline / ceiling, 3),
        "pipeline_ratio": round(pipeline / ceiling, 3),
        "router_per_s": alone.get("router"),
        "router_ratio": _ratio(alone.get("router"), ceiling),
        "timers_per_s": alone.get("timers"),
        "timers_ratio": _ratio(alone.get("timers"), ceiling),
        "timers_staffed_per_s": round(m.staffed.solo.per_s) if m.staffed else None,
        "timers_staffed": _staffed(m.staffed),
        "metrics_per_s": alone.get("metrics"),
        "metrics_ratio": _ratio(alone.get("metrics"), ceiling),
        "redis_per_event": m.redis_per_event,
        "alone_records": {role: solo.total for role, solo in m.alone.items()},
        "alone_timed_from_spawn": sorted(r for r, solo in m.alone.items() if solo.from_spawn),
        "ingress": _ingress(m.ingress),
        "ingress_ratio": round(m.ingress.ratio("webform"), 3) if m.ingress else None,
        "latency": _latency(run.loads, m.passthrough_loads, m.load_seconds),
        "soak": _soak(m.soak),
        "scale_out": _scale(m.scale),
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


def _staffed(staffed: Staffed | None) -> dict[str, Any] | None:
    if staffed is None:
        return None
    return {
        "agents": staffed.agents,
        "records": staffed.solo.total,
        "assigned": staffed.assigned,
        "waiting": staffed.waiting,
        "timed_from_spawn": staffed.solo.from_spawn,
    }


def _ratio(value: float | None, ceiling: float) -> float | None:
    return None if value is None or not ceiling else round(value / ceiling, 3)


def _http(rate: HttpRate) -> dict[str, Any]:
    out = {
        "requests": rate.requests,
        "ok": rate.ok,
        "per_s": round(rate.per_s),
        "p50_ms": _ms(pct(rate.latencies_ms, 0.5)),
        "p99_ms": _ms(pct(rate.latencies_ms, 0.99)),
    }
    if (cpu := rate.cpu_us_per_request) is not None:  # the turns at concurrency 32 only
        out["cpu_us_per_request"] = round(cpu)
    return out


def _ingress(rates: IngressRates | None) -> dict[str, Any] | None:
    """Per channel, the ingress and the baseline app given the same requests."""
    if rates is None:
        return None
    out: dict[str, Any] = {"concurrency": CONCURRENCY, "rate_per_s": RATE_PER_S}
    for channel, rate in rates.ingress.items():
        out[channel] = _http(rate)
        out[f"{channel}_baseline"] = _http(rates.baseline[channel])
        out[f"{channel}_ratio"] = round(rates.ratio(channel), 3)
        if channel in rates.ingress_at_rate:
            out[f"{channel}_at_rate"] = _http(rates.ingress_at_rate[channel])
            out[f"{channel}_baseline_at_rate"] = _http(rates.baseline_at_rate[channel])
    return out


def _ms(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 1)


def _latency(
    pipeline: list[LoadLatency], passthrough: list[LoadLatency], seconds: float
) -> list[dict[str, Any]]:
    """One row per offered load: the pipeline's p50/p99 next to the passthrough's p99."""
    raw = {load.offered_per_s: load for load in passthrough}
    rows = []
    for load in pipeline:
        ceiling = raw.get(load.offered_per_s)
        p99 = pct(load.latencies_ms, 0.99)
        raw_p99 = pct(ceiling.latencies_ms, 0.99) if ceiling else float("nan")
        rows.append(
            {
                "offered_per_s": load.offered_per_s,
                "seconds": seconds,
                "sent": load.sent,
                "completed": len(load.latencies_ms),
                "p50_ms": _ms(pct(load.latencies_ms, 0.5)),
                "p99_ms": _ms(p99),
                "passthrough_p50_ms": _ms(pct(ceiling.latencies_ms, 0.5)) if ceiling else None,
                "passthrough_p99_ms": _ms(raw_p99),
                "passthrough_completed": len(ceiling.latencies_ms) if ceiling else 0,
                "p99_vs_passthrough": round(p99 / raw_p99, 2) if raw_p99 > 0 else None,
            }
        )
    return rows


def _scale(scale: ScaleOut | None) -> dict[str, Any] | None:
    """Events/s per process count ("1", "2": JSON keys are text), the speed-up, and the
    audit of the tickets topic after the two-process runs."""
    if scale is None:
        return None
    out: dict[str, Any] = {"partitions": scale.partitions}
    for role, runs in (("router", scale.router), ("timers", scale.timers)):
        rates = {str(k): round(solo.per_s) for k, solo in sorted(runs.items())}
        low, high = min(runs), max(runs)
        out[role] = rates
        out[f"{role}_speedup"] = (
            round(runs[high].per_s / runs[low].per_s, 2) if runs[low].per_s else None
        )
        out[f"{role}_timed_records"] = {str(k): solo.records for k, solo in sorted(runs.items())}
        out[f"{role}_timed_from_spawn"] = sorted(str(k) for k, s in runs.items() if s.from_spawn)
        out[f"{role}_before_all_joined"] = runs[high].before_all_joined
    a = scale.audit
    out |= {
        "duplicates": a.duplicates,
        "missing": a.missing,
        "records": a.records,
        "distinct_ids": a.distinct_ids,
        "inbound": a.inbound,
        "answered_twice": a.answered_twice,
        "timers_fired": a.timers_fired,
        "timers_fired_twice": a.timers_fired_twice,
    }
    return out


def _soak(samples: list[SoakSample] | None) -> dict[str, Any] | None:
    if samples is None:
        return None
    return {
        "events": samples[-1].events if samples else 0,
        "samples": [
            {"events": s.events, "seconds": round(s.seconds, 1), "rss_mb": s.rss_mb}
            for s in samples
        ],
        "growth_after_warmup": growth_after_warmup(samples),
    }


def _num(value: float | None, spec: str = ",.0f") -> str:
    return (
        "-"
        if value is None or (isinstance(value, float) and math.isnan(value))
        else (format(value, spec))
    )


def print_report(report: dict[str, Any], console: Console, *, as_json: bool) -> None:
    if as_json:
        console.print_json(orjson.dumps(report).decode())
        return
    console.print(report_table(report))


def report_table(report: dict[str, Any]) -> Table:
    """Every figure of the run in one table: rates, then latency per load, then memory."""
    table = Table(title=f"switchboard bench: {report['events']} events", title_justify="left")
    table.add_column("measure")
    table.add_column("per s", justify="right")
    table.add_column("ratio", justify="right")
    table.add_column("detail")
    ceiling = report["passthrough_per_s"]
    table.add_row("raw produce", _num(report["raw_produce_per_s"]), "", "msg/s, acks=all")
    table.add_row("raw passthrough", _num(ceiling), "1.00", "consume 1, produce 2, ack, commit")
    if report["faststream_passthrough_per_s"] is not None:
        table.add_row(
            "FastStream passthrough",
            _num(report["faststream_passthrough_per_s"]),
            _num(report["faststream_ratio"], ".2f"),
            "batch subscriber, manual ack: the same work",
        )
    for role, topic in (("router", "inbound"), ("timers", "tickets"), ("metrics", "tickets")):
        records = report["alone_records"].get(role)
        if records is not None:
            table.add_row(
                f"{role} alone",
                _num(report[f"{role}_per_s"]),
                _num(report[f"{role}_ratio"], ".2f"),
                f"{records} records pre-filled in {topic}, one process"
                + (
                    " (too few to time alone: includes start-up)"
                    if role in report["alone_timed_from_spawn"]
                    else ""
                ),
            )
    staffed = report["timers_staffed"]
    if staffed is not None:
        table.add_row(
            f"timers, {staffed['agents']:,} agents online",
            _num(report["timers_staffed_per_s"]),
            "",
            f"{staffed['records']} records of new tickets: {staffed['assigned']} assigned, "
            f"{staffed['waiting']} left waiting"
            + (" (includes start-up)" if staffed["timed_from_spawn"] else ""),
        )
    _scale_rows(table, report["scale_out"])
    redis = report["redis_per_event"]
    if redis is not None:
        table.add_row(
            "Redis per event",
            "",
            "",
            f"{_num(redis['commands'], '.1f')} commands, {_num(redis['bytes'])} bytes "
            "(router alone, server-side counts)",
        )
    lat = report["latency_ms"]
    table.add_row(
        "pipeline",
        _num(report["pipeline_per_s"]),
        _num(report["pipeline_ratio"], ".2f"),
        f"{report['pipeline_completed']}/{report['events']} done; bulk latency "
        f"p50 {_num(lat['p50'])} ms, p99 {_num(lat['p99'])} ms",
    )
    ingress = report["ingress"]
    if ingress is not None:
        table.add_section()
        c = ingress["concurrency"]
        for channel in ("webform", "email"):
            web, base = ingress[channel], ingress[f"{channel}_baseline"]
            table.add_row(
                f"{channel}, c={c}",
                _num(web["per_s"]),
                _num(ingress[f"{channel}_ratio"], ".2f"),
                f"req/s vs the baseline app ({_num(base['per_s'])}/s, p99 "
                f"{_num(base['p99_ms'], '.1f')} ms); {web['ok']}/{web['requests']} accepted, "
                f"p50 {_num(web['p50_ms'], '.1f')} ms, p99 {_num(web['p99_ms'], '.1f')} ms",
            )
            steady, base_steady = (
                ingress.get(f"{channel}_at_rate"),
                ingress.get(f"{channel}_baseline_at_rate"),
            )
            if steady and base_steady:
                table.add_row(
                    f"{channel} @ {ingress['rate_per_s']}/s",
                    "",
                    "",
                    f"p50 {_num(steady['p50_ms'], '.1f')} ms, p99 "
                    f"{_num(steady['p99_ms'], '.1f')} ms (baseline app p99 "
                    f"{_num(base_steady['p99_ms'], '.1f')} ms); "
                    f"{steady['ok']}/{steady['requests']} accepted",
                )
    if report["latency"]:
        table.add_section()
    for row in report["latency"]:
        table.add_row(
            f"latency @ {row['offered_per_s']}/s",
            "",
            _num(row["p99_vs_passthrough"], ".2f"),
            f"p50 {_num(row['p50_ms'])} ms, p99 {_num(row['p99_ms'])} ms "
            f"({row['completed']}/{row['sent']}); passthrough p99 "
            f"{_num(row['passthrough_p99_ms'])} ms, {row['seconds']:g} s each",
        )
    web = report["http_webform_ms"]
    table.add_row(
        "one webform, idle",
        "",
        "",
        f"202 in {_num(web['accepted_p50'], '.1f')} ms (p50); POST -> ticket.created "
        f"p50 {_num(web['e2e_p50'], '.1f')} ms, max {_num(web['e2e_max'], '.1f')} ms",
    )
    soak = report["soak"]
    if soak is not None:
        table.add_section()
        for sample in soak["samples"]:
            share = sample["events"] * 100 // soak["events"] if soak["events"] else 0
            rss = ", ".join(f"{role} {mb:.0f}" for role, mb in sample["rss_mb"].items())
            table.add_row(f"RSS @ {share} %", "", "", f"MB: {rss}")
        growth = ", ".join(f"{r} {g:+.0%}" for r, g in soak["growth_after_warmup"].items())
        table.add_row("RSS growth", "", "", f"from 20 % to the end: {growth or '-'}")
    return table


def _scale_rows(table: Table, scale: dict[str, Any] | None) -> None:
    """Two processes next to one, per role, then the audit; the ratio is the speed-up."""
    if scale is None:
        return
    for role, topic in (("router", "inbound"), ("timers", "tickets")):
        rates = scale[role]
        many = max(rates, key=int)
        late = " (includes start-up)" if many in scale[f"{role}_timed_from_spawn"] else ""
        table.add_row(
            f"{role}, {many} processes",
            _num(rates[many]),
            _num(scale[f"{role}_speedup"], ".2f"),
            f"speed-up over one process ({_num(rates['1'])}/s); {scale['partitions']} "
            f"partitions of {topic}; {scale[f'{role}_timed_records'][many]} records timed "
            "after all "
            f"joined; {scale[f'{role}_before_all_joined']} committed before all had "
            f"joined{late}",
        )
    verdict = "none processed twice" if not scale["duplicates"] else "DUPLICATES"
    table.add_row(
        "scale-out audit",
        "",
        "",
        f"{verdict}: {scale['duplicates']} duplicates, {scale['missing']} missing; "
        f"{scale['records']} records on tickets, {scale['distinct_ids']} distinct ids; "
        f"{scale['inbound'] - scale['missing']} inbound events answered, "
        f"{scale['answered_twice']} twice; {scale['timers_fired']} timers fired, "
        f"{scale['timers_fired_twice']} twice",
    )
